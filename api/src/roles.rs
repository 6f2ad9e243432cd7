//! Role names: Mesos's validity rules and the hierarchy (`eng/backend` is a child of `eng`).

use crate::error::{ApiError, Result};

/// The default role, `*`.
pub const DEFAULT_ROLE: &str = "*";

/// Checks a role name: not empty; `*` alone is fine; no leading or trailing `/`, no `//`; no
/// component `.` or `..`; no component `*`; no component starting with `-`; no whitespace,
/// control characters, or backslash.
pub fn validate(role: &str) -> Result<()> {
    let bad = |why| {
        Err(ApiError::InvalidRole {
            role: role.to_string(),
            why,
        })
    };
    if role == DEFAULT_ROLE {
        return Ok(());
    }
    if role.is_empty() {
        return bad("empty role name");
    }
    if role.starts_with('/') {
        return bad("starts with '/'");
    }
    if role.ends_with('/') {
        return bad("ends with '/'");
    }
    if role
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return bad("contains whitespace, a control character or a backslash");
    }
    for part in role.split('/') {
        match part {
            "" => return bad("contains '//'"),
            "." => return bad("has a component '.'"),
            ".." => return bad("has a component '..'"),
            "*" => return bad("has a component '*'"),
            p if p.starts_with('-') => return bad("has a component starting with '-'"),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `role` is `ancestor` or below it (`eng/backend` is in the subtree of `eng`).
pub fn is_in_subtree(role: &str, ancestor: &str) -> bool {
    role == ancestor
        || (role.len() > ancestor.len()
            && role.starts_with(ancestor)
            && role.as_bytes()[ancestor.len()] == b'/')
}

/// The strict ancestors of a role, nearest first (`a/b/c` -> `a/b`, `a`).
pub fn ancestors(role: &str) -> impl Iterator<Item = &str> {
    let mut cur = role;
    std::iter::from_fn(move || {
        let i = cur.rfind('/')?;
        cur = &cur[..i];
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_roles() {
        for ok in ["*", "eng", "eng/backend", "a.b", "a-b", "a/b-c/d"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/eng", "eng/", "a//b", ".", "..", "a/./b", "a/../b", "a/*", "-a", "a/-b", "a b",
            "a\tb", "a\\b",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subtree_and_ancestors() {
        assert!(is_in_subtree("eng/backend", "eng"));
        assert!(is_in_subtree("eng", "eng"));
        assert!(!is_in_subtree("engineering", "eng"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a/b", "a"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
