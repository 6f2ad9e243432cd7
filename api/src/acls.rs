//! Authorization with Mesos's ACLs (`--acls`, the schema of `acls.proto`) and the local
//! authorizer's rules: the [`Authorizer`] trait (Mesos's `Authorizer` module interface) and
//! [`LocalAuthorizer`], its implementation over an [`Acls`] document.
//!
//! Each action has a list of ACLs, each a subject (`principals`) and an object (a field named
//! per action: `roles`, `users`, `framework_principals`, ...), each an entity: some `values`,
//! `{"type": "ANY"}` or `{"type": "NONE"}`. A request (a principal, or none; an object, or
//! none) is checked against the action's ACLs in order: the first ACL whose subject and object
//! both *match* decides, allowing the request only if both also *allow* it (NONE matches
//! anything but allows nothing); with no matching ACL, `permissive` (default true) decides. A
//! request without a principal is the subject ANY, matched only by ACLs for ANY (or NONE).

use std::collections::BTreeMap;

use serde_json::Value;

/// The actions this implementation enforces: (name in the ACLs document, its object field).
/// One ACLs document serves the master and the agents (as in Mesos); each enforces its share
/// (see [`MASTER_ONLY`] and [`AGENT_ONLY`]; the rest both do). Mesos's other actions are
/// refused when they appear in `--acls` (accepting and ignoring them would leave the operator
/// thinking something is protected).
pub const ENFORCED: &[(&str, &str)] = &[
    ("register_frameworks", "roles"),
    ("run_tasks", "users"),
    ("teardown_frameworks", "framework_principals"),
    ("update_weights", "roles"),
    ("update_quotas", "roles"),
    ("get_quotas", "roles"),
    ("view_roles", "roles"),
    ("reserve_resources", "roles"),
    ("unreserve_resources", "reserver_principals"),
    ("view_frameworks", "users"),
    ("view_tasks", "users"),
    ("view_executors", "users"),
    ("view_flags", "flags"),
    ("mark_agents_gone", "agents"),
    ("register_agents", "agents"),
    ("deactivate_agents", "agents"),
    ("reactivate_agents", "agents"),
    ("drain_agents", "agents"),
    ("update_maintenance_schedules", "machines"),
    ("get_maintenance_schedules", "machines"),
    ("start_maintenances", "machines"),
    ("stop_maintenances", "machines"),
    ("get_maintenance_statuses", "machines"),
    ("create_volumes", "roles"),
    ("destroy_volumes", "creator_principals"),
    ("resize_volumes", "roles"),
    ("launch_nested_containers_as_user", "users"),
    ("launch_nested_container_sessions_as_user", "users"),
    ("kill_nested_containers", "users"),
    ("wait_nested_containers", "users"),
    ("view_containers", "users"),
    ("access_sandboxes", "users"),
    ("launch_standalone_containers", "users"),
    ("kill_standalone_containers", "users"),
    ("wait_standalone_containers", "users"),
    ("remove_standalone_containers", "users"),
    ("attach_containers_input", "users"),
    ("attach_containers_output", "users"),
    ("prune_images", "images"),
];

/// Actions only the master checks (the rest of [`ENFORCED`] that are not [`AGENT_ONLY`], the
/// `view_*` ones, both check on their own endpoints).
pub const MASTER_ONLY: &[&str] = &[
    "register_frameworks",
    "run_tasks",
    "teardown_frameworks",
    "update_weights",
    "update_quotas",
    "get_quotas",
    "view_roles",
    "reserve_resources",
    "unreserve_resources",
    "mark_agents_gone",
    "register_agents",
    "deactivate_agents",
    "reactivate_agents",
    "drain_agents",
    "update_maintenance_schedules",
    "get_maintenance_schedules",
    "start_maintenances",
    "stop_maintenances",
    "get_maintenance_statuses",
    "create_volumes",
    "destroy_volumes",
    "resize_volumes",
];

/// Actions only agents check.
pub const AGENT_ONLY: &[&str] = &[
    "launch_nested_containers_as_user",
    "launch_nested_container_sessions_as_user",
    "kill_nested_containers",
    "wait_nested_containers",
    "view_containers",
    "access_sandboxes",
    "launch_standalone_containers",
    "kill_standalone_containers",
    "wait_standalone_containers",
    "remove_standalone_containers",
    "attach_containers_input",
    "attach_containers_output",
    "prune_images",
];

/// Actions of Mesos's `acls.proto` not enforced here yet.
const NOT_ENFORCED: &[&str] = &[
    "get_endpoints",
    "access_mesos_logs",
    "launch_nested_containers_under_parent_with_user",
    "launch_nested_container_sessions_under_parent_with_user",
    "set_log_level",
    "remove_nested_containers",
    "view_standalone_containers",
    "modify_resource_provider_configs",
    "mark_resource_providers_gone",
    "view_resource_providers",
    "create_block_disks",
    "destroy_block_disks",
    "create_mount_disks",
    "destroy_mount_disks",
    "destroy_raw_disks",
];

/// An ACL entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// These values (a request's values must all be among them).
    Some(Vec<String>),
    /// Anything.
    Any,
    /// Nothing.
    None,
}

impl Entity {
    fn parse(v: &Value, at: &str) -> Result<Entity, String> {
        let Some(o) = v.as_object() else {
            return Err(format!("{at}: expected an object with 'type' or 'values'"));
        };
        if let Some(k) = o.keys().find(|k| *k != "type" && *k != "values") {
            return Err(format!("{at}: unknown field '{k}'"));
        }
        let values = match o.get("values") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{at}.values: expected strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("{at}.values: expected an array of strings")),
        };
        match o.get("type").map(|t| t.as_str()) {
            None | Some(Some("SOME")) => Ok(Entity::Some(values)),
            Some(Some("ANY")) => Ok(Entity::Any),
            Some(Some("NONE")) => Ok(Entity::None),
            Some(other) => Err(format!(
                "{at}.type: expected SOME, ANY or NONE, not {}",
                other.map_or("a non-string".to_string(), |s| format!("'{s}'"))
            )),
        }
    }

    /// Mesos's `matches`: whether this ACL entity is about `request` at all.
    fn matches(&self, request: Option<&str>) -> bool {
        match (request, self) {
            (_, Entity::Any | Entity::None) => true,
            (None, Entity::Some(_)) => false,
            (Some(r), Entity::Some(vs)) => vs.iter().any(|v| v == r),
        }
    }

    /// Mesos's `allows`: whether this ACL entity lets `request` through.
    fn allows(&self, request: Option<&str>) -> bool {
        match (request, self) {
            (_, Entity::None) => false,
            (_, Entity::Any) => true,
            (None, Entity::Some(_)) => false,
            (Some(r), Entity::Some(vs)) => vs.iter().any(|v| v == r),
        }
    }
}

/// One ACL: who (`principals`) may do the action to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// The subject: principals.
    pub principals: Entity,
    /// The object (its field name depends on the action).
    pub object: Entity,
}

/// An ACLs document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acls {
    /// What is decided when no ACL matches (Mesos's default: true).
    pub permissive: bool,
    /// Per action, its ACLs in order.
    pub rules: BTreeMap<String, Vec<Acl>>,
}

impl Default for Acls {
    fn default() -> Acls {
        Acls {
            permissive: true,
            rules: BTreeMap::new(),
        }
    }
}

impl Acls {
    /// Parses Mesos's JSON ACLs; the error names the action or field that is wrong.
    pub fn parse(text: &str) -> Result<Acls, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let Some(o) = v.as_object() else {
            return Err("expected a JSON object".into());
        };
        let mut acls = Acls::default();
        for (k, v) in o {
            if k == "permissive" {
                acls.permissive = v.as_bool().ok_or("'permissive' must be true or false")?;
                continue;
            }
            let Some((_, field)) = ENFORCED.iter().find(|(a, _)| a == k) else {
                return Err(if NOT_ENFORCED.contains(&k.as_str()) {
                    format!("ACLs for '{k}' are not enforced by this implementation yet (refused rather than ignored)")
                } else {
                    format!("unknown action '{k}'")
                });
            };
            let Some(list) = v.as_array() else {
                return Err(format!("'{k}': expected an array of ACLs"));
            };
            let mut rules = Vec::new();
            for (i, acl) in list.iter().enumerate() {
                let at = format!("{k}[{i}]");
                let Some(o) = acl.as_object() else {
                    return Err(format!("{at}: expected an object"));
                };
                if let Some(f) = o.keys().find(|f| *f != "principals" && *f != field) {
                    return Err(format!(
                        "{at}: unknown field '{f}' (expected 'principals' and '{field}')"
                    ));
                }
                let get = |f: &str| {
                    o.get(f)
                        .ok_or_else(|| format!("{at}: missing '{f}'"))
                        .and_then(|e| Entity::parse(e, &format!("{at}.{f}")))
                };
                rules.push(Acl {
                    principals: get("principals")?,
                    object: get(field)?,
                });
            }
            acls.rules.insert(k.clone(), rules);
        }
        Ok(acls)
    }

    /// Reads `--acls`: JSON text, or a path to a file of it (with or without `file://`).
    pub fn from_flag(flag: &str) -> Result<Acls, String> {
        let t = flag.trim_start();
        if t.starts_with('{') {
            return Acls::parse(t);
        }
        let path = t.strip_prefix("file://").unwrap_or(t);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read ACLs file '{path}': {e}"))?;
        Acls::parse(&text).map_err(|e| format!("ACLs file '{path}': {e}"))
    }
}

/// Decides whether a principal may perform an action on an object (Mesos's `Authorizer`).
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Whether `principal` (`None`: unauthenticated) may perform `action` (one of
    /// [`ENFORCED`]) on `object` (`None`: no particular one).
    fn authorized(&self, action: &str, principal: Option<&str>, object: Option<&str>) -> bool;
}

/// Asks `authorizer` (none: everything is allowed) whether `principal` may do `action` to
/// `object`, as a request's answer: a 403 saying who may not do `what`.
pub fn authorize(
    authorizer: Option<&dyn Authorizer>,
    action: &str,
    principal: Option<&str>,
    object: Option<&str>,
    what: &str,
) -> Result<(), crate::http::Rejection> {
    if authorizer.is_none_or(|a| a.authorized(action, principal, object)) {
        return Ok(());
    }
    let who = principal.map_or("An unauthenticated request".to_string(), |p| {
        format!("Principal '{p}'")
    });
    Err(crate::http::Rejection::forbidden(format!(
        "{who} is not authorized to {what}"
    )))
}

/// Mesos's local authorizer: the ACLs of `--acls`, checked in order.
#[derive(Debug, Clone, Default)]
pub struct LocalAuthorizer {
    acls: Acls,
}

impl LocalAuthorizer {
    /// The authorizer of these ACLs.
    pub fn new(acls: Acls) -> LocalAuthorizer {
        LocalAuthorizer { acls }
    }
}

impl Authorizer for LocalAuthorizer {
    fn authorized(&self, action: &str, principal: Option<&str>, object: Option<&str>) -> bool {
        debug_assert!(ENFORCED.iter().any(|(a, _)| *a == action), "{action}");
        for acl in self.acls.rules.get(action).into_iter().flatten() {
            if acl.principals.matches(principal) && acl.object.matches(object) {
                return acl.principals.allows(principal) && acl.object.allows(object);
            }
        }
        self.acls.permissive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(json: &str) -> LocalAuthorizer {
        LocalAuthorizer::new(Acls::parse(json).unwrap())
    }

    #[test]
    fn the_first_matching_acl_decides_and_permissive_covers_the_rest() {
        let a = auth(
            r#"{"permissive": false, "teardown_frameworks": [
                {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
                {"principals": {"values": ["dev"]}, "framework_principals": {"values": ["dev"]}},
                {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}}
            ]}"#,
        );
        let t = "teardown_frameworks";
        assert!(a.authorized(t, Some("ops"), Some("anyone")));
        assert!(a.authorized(t, Some("ops"), None));
        assert!(a.authorized(t, Some("dev"), Some("dev")));
        assert!(!a.authorized(t, Some("dev"), Some("ops")));
        assert!(!a.authorized(t, Some("eve"), Some("eve")));
        assert!(!a.authorized(t, None, Some("dev")));
        // No ACL for the action: permissive (false here) decides.
        assert!(!a.authorized("update_weights", Some("ops"), Some("r")));
        assert!(auth("{}").authorized("update_weights", None, None));
    }

    #[test]
    fn a_request_without_a_principal_matches_only_acls_for_any_or_none() {
        let a = auth(
            r#"{"run_tasks": [
                {"principals": {"values": ["ops"]}, "users": {"values": ["root"]}},
                {"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}},
                {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}
            ]}"#,
        );
        assert!(a.authorized("run_tasks", Some("ops"), Some("root")));
        assert!(!a.authorized("run_tasks", None, Some("root")));
        assert!(a.authorized("run_tasks", None, Some("nobody")));
        assert!(a.authorized("run_tasks", Some("eve"), Some("nobody")));
        assert!(!a.authorized("run_tasks", Some("eve"), Some("root")));
    }

    #[test]
    fn each_enforced_action_has_its_enforcers() {
        for a in MASTER_ONLY.iter().chain(AGENT_ONLY) {
            assert!(ENFORCED.iter().any(|(e, _)| e == a), "{a}");
            assert!(!NOT_ENFORCED.contains(a), "{a}");
        }
        assert!(!MASTER_ONLY.iter().any(|a| AGENT_ONLY.contains(a)));
        for (a, _) in ENFORCED {
            assert!(!NOT_ENFORCED.contains(a), "{a}");
        }
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        for (doc, says) in [
            ("[]", "expected a JSON object"),
            (r#"{"permissive": "yes"}"#, "permissive"),
            (r#"{"fly": []}"#, "unknown action 'fly'"),
            (r#"{"get_endpoints": []}"#, "not enforced"),
            (
                r#"{"run_tasks": [{"principals": {"type": "ANY"}}]}"#,
                "missing 'users'",
            ),
            (
                r#"{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}"#,
                "unknown field 'roles'",
            ),
            (
                r#"{"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]}"#,
                "SOME, ANY or NONE",
            ),
            (
                r#"{"run_tasks": [{"principals": {"values": [1]}, "users": {"type": "ANY"}}]}"#,
                "strings",
            ),
        ] {
            let e = Acls::parse(doc).unwrap_err();
            assert!(e.contains(says), "{doc}: {e}");
        }
    }
}
