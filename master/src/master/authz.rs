//! Authorization: before acting for a principal the master asks its [`Authorizer`] (Mesos's
//! local authorizer over `--acls`; without `--acls` everything is allowed), and what a principal
//! may not view (`view_frameworks`, `view_tasks`, `view_executors`, `view_roles`, `get_quotas`)
//! is left out of the state it reads.
//!
//! The principal of an operator request is the one HTTP authentication proved (none when its
//! realm does not authenticate: the subject ANY). A framework's is its `FrameworkInfo.principal`
//! (for an HTTP framework that authenticated, the one it proved), as Mesos uses it.

use mesos_api::acls::Authorizer;
use mesos_api::http::Rejection;
use mesos_api::messages::Task;

use super::Master;
use crate::state::FrameworkRec;

/// What one requester may see of frameworks and tasks, asked per framework and task as the
/// state is written.
#[derive(Clone, Copy)]
pub(crate) struct Viewer<'a> {
    authorizer: Option<&'a dyn Authorizer>,
    principal: Option<&'a str>,
}

impl Viewer<'_> {
    /// `view_frameworks`, the object being the framework's user.
    pub(crate) fn framework(&self, f: &FrameworkRec) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized("view_frameworks", self.principal, Some(&f.info.user)))
    }

    /// `view_flags`.
    pub(crate) fn flags(&self) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized("view_flags", self.principal, None))
    }

    /// `view_roles`, the object being the role.
    pub(crate) fn role(&self, role: &str) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized("view_roles", self.principal, Some(role)))
    }

    /// `get_quotas`, the object being the role.
    pub(crate) fn quota(&self, role: &str) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized("get_quotas", self.principal, Some(role)))
    }

    /// `view_executors`, the object being the framework's user (the master knows executors by
    /// their ids only).
    pub(crate) fn executor(&self, f: &FrameworkRec) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorized("view_executors", self.principal, Some(&f.info.user)))
    }

    /// `view_tasks`, the object being the task's user (its command's, else its framework's).
    pub(crate) fn task(&self, t: &Task, f: &FrameworkRec) -> bool {
        self.authorizer.is_none_or(|a| {
            let user = t.user.as_deref().unwrap_or(&f.info.user);
            a.authorized("view_tasks", self.principal, Some(user))
        })
    }
}

impl Master {
    /// What `principal` may view.
    pub(crate) fn viewer<'a>(&'a self, principal: Option<&'a str>) -> Viewer<'a> {
        Viewer {
            authorizer: self.authorizer.as_deref(),
            principal,
        }
    }

    /// Whether `principal` may do `action` to `object`.
    pub(crate) fn authorized(
        &self,
        action: &str,
        principal: Option<&str>,
        object: Option<&str>,
    ) -> bool {
        self.authorizer
            .as_deref()
            .is_none_or(|a| a.authorized(action, principal, object))
    }

    /// [`Master::authorized`] as a request's answer: a 403 saying who may not do `what`.
    pub(crate) fn authorize(
        &self,
        action: &str,
        principal: Option<&str>,
        object: Option<&str>,
        what: &str,
    ) -> Result<(), Rejection> {
        let a = self.authorizer.as_deref();
        mesos_api::acls::authorize(a, action, principal, object, what)
    }
}
