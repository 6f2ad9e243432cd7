//! The crate's one error type.

/// Everything that can go wrong in the runtime, each with a message that names the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string was not a UPID (`id@ip:port`).
    #[error("invalid UPID {0}")]
    InvalidUpid(String),
    /// The target process does not exist (or has terminated).
    #[error("process '{0}' does not exist")]
    NoSuchProcess(String),
    /// A process with this id already exists in the runtime.
    #[error("a process with id '{0}' already exists")]
    DuplicateId(String),
    /// A dispatch was dropped because the process terminated (or a test filter dropped it).
    #[error("dispatch to '{0}' was dropped: the process terminated before running it")]
    Dropped(String),
    /// A message body could not be encoded or decoded by the codec.
    #[error("codec error for message '{name}': {source}")]
    Codec {
        /// The message name.
        name: String,
        /// What the codec said.
        source: crate::codec::CodecError,
    },
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Short for `Result<T, libprocess::Error>`.
pub type Result<T> = std::result::Result<T, Error>;
