//! The containerizer's errors.

use std::path::PathBuf;

/// Why a containerizer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem or process operation on `path` failed.
    #[error("{what} '{path}': {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A flag or a request names something this containerizer cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A request is malformed (a bad volume, an unknown image, a bad URI).
    #[error("{0}")]
    Invalid(String),
    /// The fetcher could not fetch a URI.
    #[error("failed to fetch '{uri}': {why}")]
    Fetch {
        /// The URI.
        uri: String,
        /// Why.
        why: String,
    },
    /// The provisioner could not make the image's rootfs.
    #[error("failed to provision image '{image}': {why}")]
    Provision {
        /// The image name.
        image: String,
        /// Why.
        why: String,
    },
    /// Starting the container's process failed.
    #[error("failed to launch container: {0}")]
    Launch(String),
    /// The container is not known.
    #[error("unknown container '{0}'")]
    UnknownContainer(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// The containerizer's result.
pub type Result<T> = std::result::Result<T, Error>;
