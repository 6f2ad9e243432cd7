//! The executors' error type: why an executor process gives up.

use std::time::Duration;

/// Why an executor ends with a failure; each names its cause.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The agent did not set a variable the executor needs.
    #[error("expecting '{0}' in the environment")]
    Environment(String),
    /// A flag on the executor's command line is wrong.
    #[error("{0}")]
    Flags(String),
    /// Subscribing to the agent failed.
    #[error("{0}")]
    Subscribe(String),
    /// The agent went away (a non-checkpointing framework's executor does not wait).
    #[error("lost the agent: {0}")]
    LostAgent(String),
    /// The agent did not come back within the recovery timeout.
    #[error("the agent did not come back within the recovery timeout ({0:?})")]
    RecoveryTimeout(Duration),
}
