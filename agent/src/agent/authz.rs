//! Authorization on the agent (`--acls`, Mesos's local authorizer): the agent's state endpoints
//! leave out what a principal may not view (`view_frameworks`, `view_executors`, `view_tasks`,
//! `view_flags`, `view_containers`), and the container calls and `/files` ask before acting
//! (`launch_nested_container(s|_session)s_as_user`, `kill_nested_containers`,
//! `wait_nested_containers`, `access_sandboxes`). Each object is a user: the task's (its
//! command's, else its framework's), the executor's, or the container's.

use std::path::Path;

use mesos_api::acls::Authorizer;
use mesos_api::http::Rejection;

use super::state::Framework;
use super::Agent;
use mesos_api::protocol::task::ExecutorInfo;

/// What one requester may see, asked per framework, executor and task as the state is written.
#[derive(Clone, Copy)]
pub(super) struct Viewer<'a> {
    authorizer: Option<&'a dyn Authorizer>,
    principal: Option<&'a str>,
}

impl Viewer<'_> {
    fn may(&self, action: &str, object: Option<&str>) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized(action, self.principal, object))
    }

    /// `view_frameworks`: the framework's user.
    pub(super) fn framework(&self, f: &Framework) -> bool {
        self.may("view_frameworks", Some(&f.info.user))
    }

    /// `view_executors`: the executor's user (its command's, else its framework's).
    pub(super) fn executor(&self, e: &ExecutorInfo, f: &Framework) -> bool {
        self.may("view_executors", Some(&executor_user(e, f)))
    }

    /// `view_tasks`: the task's user (its command's, else its framework's).
    pub(super) fn task(&self, user: Option<&str>, f: &Framework) -> bool {
        let user = user.filter(|u| !u.is_empty()).unwrap_or(&f.info.user);
        self.may("view_tasks", Some(user))
    }

    /// `view_flags`.
    pub(super) fn flags(&self) -> bool {
        self.may("view_flags", None)
    }

    /// `view_containers`: the container's user (`None` when unknown).
    pub(super) fn container(&self, user: Option<&str>) -> bool {
        self.may("view_containers", user)
    }
}

/// An executor's user: its command's, else its framework's.
pub(super) fn executor_user(e: &ExecutorInfo, f: &Framework) -> String {
    e.command
        .as_ref()
        .and_then(|c| c.user.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| f.info.user.clone())
}

impl Agent {
    /// What `principal` may view.
    pub(super) fn viewer<'a>(&'a self, principal: Option<&'a str>) -> Viewer<'a> {
        Viewer {
            authorizer: self.flags.authorizer.as_deref(),
            principal,
        }
    }

    /// `action` on `object` for `principal`, as a request's answer: a 403 saying who may not
    /// do `what`.
    pub(super) fn authorize(
        &self,
        action: &str,
        principal: Option<&str>,
        object: Option<&str>,
        what: &str,
    ) -> Result<(), Rejection> {
        let a = self.flags.authorizer.as_deref();
        mesos_api::acls::authorize(a, action, principal, object, what)
    }

    /// The user whose sandbox `path` (resolved, under the work directory) is in: the user of
    /// the framework its `frameworks/<id>` component names, if that framework is known.
    pub(super) fn sandbox_user(&self, path: &Path) -> Option<String> {
        let mut parts = path.components().map(|c| c.as_os_str().to_string_lossy());
        parts.find(|c| c == "frameworks")?;
        let fid = parts.next()?;
        self.frameworks
            .values()
            .chain(self.completed_frameworks.iter())
            .find(|f| f.info.id.as_ref().is_some_and(|id| id.value == fid))
            .map(|f| f.info.user.clone())
    }
}
