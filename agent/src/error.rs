//! The agent crate's error type.

/// What can go wrong starting an agent or one of its executors; each names its cause.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `--master` does not name a master this agent can reach.
    #[error("--master={flag}: {why}")]
    Master {
        /// The flag's value.
        flag: String,
        /// Why it does not do.
        why: String,
    },
    /// The containerizer could not start.
    #[error("cannot start the containerizer: {0}")]
    Containerizer(#[from] mesos_containerizer::Error),
    /// An executor was asked for before the master registered this agent.
    #[error("agent is not registered")]
    NotRegistered,
    /// A helper program (an executor, the container init) is not to be found.
    #[error("{0}")]
    Program(String),
    /// An executor's container could not be made or started.
    #[error("{0}")]
    Launch(String),
    /// The checkpointed agent info differs from this start's in what may not change.
    #[error("Incompatible agent info detected: {0}")]
    Incompatible(String),
}

/// Short for `Result<T, AgentError>`.
pub type Result<T> = std::result::Result<T, AgentError>;
