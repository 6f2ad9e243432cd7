//! The helper programs the agent starts (the executors and nested containers' init), found in
//! the launcher dir, or this very binary when it is a multi-call binary.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable that makes a multi-call binary run as an executor
/// (`command` or `default`) or as nested containers' init.
pub const MODE_ENV: &str = mesos_containerizer::init::MULTICALL_ENV;

static MULTICALL: AtomicBool = AtomicBool::new(false);

/// Says that this binary can run as each helper when [`MODE_ENV`] names it (see
/// `executor::run_if_requested`).
pub fn set_multicall() {
    MULTICALL.store(true, Ordering::Relaxed);
}

/// Whether this binary can run as a helper.
pub fn multicall() -> bool {
    MULTICALL.load(Ordering::Relaxed)
}

/// A helper program: `name` in the launcher dir (`--launcher_dir`, else this binary's
/// directory), else this binary when it can run as that helper (the multi-call mode to set).
pub fn helper_program(
    launcher_dir: Option<&Path>,
    (name, mode): (&str, &'static str),
) -> Result<(PathBuf, Option<&'static str>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let dir = match launcher_dir {
        Some(d) => d.to_path_buf(),
        None => exe.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let p = dir.join(name);
    if p.is_file() {
        return Ok((p, None));
    }
    if multicall() {
        return Ok((exe, Some(mode)));
    }
    Err(format!(
        "no '{name}' in the launcher dir '{}' (set --launcher_dir)",
        dir.display()
    ))
}
