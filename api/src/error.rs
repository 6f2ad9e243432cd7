//! The crate's one error type.

/// What can be wrong with input given to the API types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A `--resources` / `--attributes` text did not parse; names the token and its byte offset.
    #[error("cannot parse {what} at position {pos}: '{token}': {why}")]
    Parse {
        /// What was being parsed (`resources`, `attributes`).
        what: &'static str,
        /// Byte offset of the token in the input.
        pos: usize,
        /// The offending token.
        token: String,
        /// Why it was rejected.
        why: String,
    },
    /// A JSON document did not have the expected shape.
    #[error("invalid JSON for {what}: {why}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// Why it was rejected.
        why: String,
    },
    /// A role name broke Mesos's rules.
    #[error("invalid role '{role}': {why}")]
    InvalidRole {
        /// The role.
        role: String,
        /// Which rule it broke.
        why: &'static str,
    },
    /// A `file://` path could not be read.
    #[error("cannot read '{path}': {why}")]
    File {
        /// The path.
        path: String,
        /// The I/O error.
        why: String,
    },
}

/// Short for `Result<T, ApiError>`.
pub type Result<T> = std::result::Result<T, ApiError>;
