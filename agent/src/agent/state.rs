//! What the agent keeps of each framework, executor and nested container: the records its
//! topic files (registration, executors, status updates, the executor API, the operator API,
//! recovery) share.

use libprocess::util::HashMap;
use std::collections::VecDeque;
use std::path::PathBuf;

use mesos_api::messages::Task;
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::task::{ExecutorInfo, TaskGroupInfo, TaskInfo};
use mesos_api::{ContainerID, ExecutorID, TaskID};
use mesos_containerizer::{Container, Limits};
use tokio::sync::oneshot;

/// Which executor runs a container's tasks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum ExecKind {
    Command,
    Default,
    Custom,
    /// The docker executor: a command task whose container is of type DOCKER.
    Docker,
}

impl ExecKind {
    /// The built-in executor's program and multi-call mode.
    pub(super) fn program_name(self) -> (&'static str, &'static str) {
        match self {
            ExecKind::Command => ("mesos-executor", "command"),
            ExecKind::Docker => ("mesos-docker-executor", "docker"),
            _ => ("mesos-default-executor", "default"),
        }
    }
}

/// Work for an executor that has not subscribed yet.
pub(super) enum Queued {
    Task(Box<TaskInfo>),
    Group(TaskGroupInfo),
}

/// An executor and its container.
pub(super) struct Executor {
    pub(super) info: ExecutorInfo,
    pub(super) kind: ExecKind,
    pub(super) container_id: ContainerID,
    pub(super) directory: PathBuf,
    /// The OS pid of the container's first process, once launched.
    pub(super) os_pid: Option<i32>,
    /// The container's actor.
    pub(super) container: Option<Container>,
    /// The container's limits (the executor's resources and its tasks').
    pub(super) limits: Limits,
    /// The executor's event stream, once subscribed.
    pub(super) stream: Option<super::executor_api::ExecutorStream>,
    /// Launches waiting for the executor to subscribe.
    pub(super) queued: Vec<Queued>,
    /// Every task not yet terminal-and-acknowledged, with its latest state.
    pub(super) tasks: HashMap<TaskID, Task>,
    /// Set on shutdown: remaining tasks end KILLED rather than FAILED.
    pub(super) shutting_down: bool,
    /// Why the container could not be launched, once known.
    pub(super) launch_failure: Option<String>,
    /// The user it runs as, when known (not after a recovery).
    pub(super) user: Option<String>,
    /// A terminal container's switchboard (tty_info), to attach to.
    pub(super) io: Option<super::io::Switchboard>,
    /// Its tasks that ended and were acknowledged, newest last (at most
    /// [`MAX_COMPLETED_TASKS_PER_EXECUTOR`]).
    pub(super) completed_tasks: VecDeque<Task>,
}

/// Completed tasks an executor keeps for `/state` (Mesos's `max_completed_tasks_per_executor`).
pub(super) const MAX_COMPLETED_TASKS_PER_EXECUTOR: usize = 200;
/// Completed executors a framework keeps (Mesos's `--max_completed_executors_per_framework`
/// default).
pub(super) const MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK: usize = 150;
/// Frameworks with no executor left that the agent keeps (Mesos's `MAX_COMPLETED_FRAMEWORKS`).
pub(super) const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// Keeps `item` at the back of `q`, dropping the oldest beyond `max`.
pub(super) fn push_bounded<T>(q: &mut VecDeque<T>, item: T, max: usize) {
    q.push_back(item);
    while q.len() > max {
        q.pop_front();
    }
}

/// An executor that ended, as `/state` shows it under `completed_executors` (its sandbox stays
/// browsable until garbage-collected).
pub(super) struct CompletedExecutor {
    pub(super) info: ExecutorInfo,
    pub(super) container_id: ContainerID,
    pub(super) directory: PathBuf,
    /// Its tasks that had not been acknowledged yet when it ended.
    pub(super) tasks: Vec<Task>,
    pub(super) completed_tasks: VecDeque<Task>,
}

/// A framework with executors on this agent.
pub(super) struct Framework {
    pub(super) info: FrameworkInfo,
    pub(super) executors: HashMap<ExecutorID, Executor>,
    /// Executors that ended, newest last.
    pub(super) completed_executors: VecDeque<CompletedExecutor>,
}

impl Framework {
    pub(super) fn new(info: FrameworkInfo) -> Framework {
        Framework {
            info,
            executors: HashMap::default(),
            completed_executors: VecDeque::new(),
        }
    }
}

/// A nested container (LAUNCH_NESTED_CONTAINER), run by the containerizer in its top-level
/// container's cgroups.
pub(super) struct Nested {
    /// The OS pid of its first process, once launched.
    pub(super) os_pid: Option<i32>,
    pub(super) container: Option<Container>,
    /// Exit status once it ended (a wait status, as Mesos reports it).
    pub(super) exit: Option<i32>,
    pub(super) waiters: Vec<oneshot::Sender<Option<i32>>>,
    /// LAUNCH_NESTED_CONTAINER calls answered once it has launched (or failed to).
    pub(super) launch_waiters: Vec<oneshot::Sender<Result<(), String>>>,
    /// The user it runs as (its command's, else its framework's), when known: the object of
    /// the ACLs on it.
    pub(super) user: Option<String>,
    /// A standalone container's sandbox (`<work_dir>/sandboxes/<id>`); nested ones live in
    /// their top-level container's.
    pub(super) sandbox: Option<PathBuf>,
    /// An attachable container's standard streams (a session's).
    pub(super) io: Option<super::io::Switchboard>,
    /// The session's own output stream, attached before its launch, until the session's
    /// response takes it.
    pub(super) session_output: Option<tokio::sync::mpsc::Receiver<super::io::Output>>,
}

/// Nested and standalone containers by their id chain joined with '/'.
pub(super) type NestedContainers = HashMap<String, Nested>;
