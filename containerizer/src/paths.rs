//! Where the containerizer checkpoints a container: `<work_dir>/containers/<id>/`, holding the
//! OS pid of its first process (`pid`) and, for a nested container under the status-keeping
//! init, its wait status (`status`, see [`crate::init`]).

use std::path::{Path, PathBuf};

/// The name of the OS pid file in a container's checkpoint directory.
pub const PID_FILE: &str = "pid";

/// Where every container's checkpoint lives.
pub fn containers_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("containers")
}

/// Where a container's checkpoint lives.
pub fn checkpoint_dir(work_dir: &Path, id: &str) -> PathBuf {
    containers_dir(work_dir).join(id)
}

/// Checkpoints the OS pid of a container's first process (best effort).
pub fn write_os_pid(work_dir: &Path, id: &str, os_pid: i32) -> std::io::Result<()> {
    let dir = checkpoint_dir(work_dir, id);
    std::fs::create_dir_all(&dir)?;
    // Through a rename: a full disk leaves no torn pid behind.
    let tmp = dir.join(format!("{PID_FILE}.tmp"));
    std::fs::write(&tmp, os_pid.to_string())
        .and_then(|_| std::fs::rename(&tmp, dir.join(PID_FILE)))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// The checkpointed OS pid in a container's checkpoint directory, if any.
pub fn read_os_pid(checkpoint: &Path) -> Option<i32> {
    std::fs::read_to_string(checkpoint.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The file the status-keeping init writes a nested container's wait status to.
pub fn status_file(work_dir: &Path, id: &str) -> PathBuf {
    checkpoint_dir(work_dir, id).join(crate::init::STATUS_FILE)
}
