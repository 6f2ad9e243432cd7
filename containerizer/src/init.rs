//! The status-keeping init of nested containers. A container's first process is a child of the
//! agent that started it, so an agent that restarts (and adopts the container) cannot learn how
//! it ended. Mesos's `mesos-containerizer launch` keeps the status in the container's runtime
//! directory for that reason; this init does the same: it runs the command as its child (in the
//! same session and process group, so a kill of the container reaches both), waits, writes the
//! raw wait status to `--status_path`, and ends the same way the command did.
//!
//! It ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT itself (the command, which gets them too,
//! decides); a SIGKILL of the group ends both before anything is written, which a recovering
//! agent reads as a SIGKILL, as Mesos does.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;

/// The environment variable that makes a multi-call binary run as something else (an executor,
/// or this init); the init removes it from the command's environment.
pub const MULTICALL_ENV: &str = "MESOS_RS_EXECUTOR";

/// The [`MULTICALL_ENV`] value that selects this init.
pub const MULTICALL_MODE: &str = "init";

/// The name of the status file in a container's checkpoint directory.
pub const STATUS_FILE: &str = "status";

/// How the containerizer starts the init: its program, and the environment it needs to run as
/// the init (a multi-call binary's [`MULTICALL_ENV`]).
#[derive(Clone, Debug)]
pub struct InitProgram {
    /// The program.
    pub program: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

const SHIELDED: [nix::libc::c_int; 4] = [
    nix::libc::SIGTERM,
    nix::libc::SIGINT,
    nix::libc::SIGHUP,
    nix::libc::SIGQUIT,
];

/// The arguments after the init's program for running `program args...`.
pub fn args(
    status_path: &std::path::Path,
    program: &std::path::Path,
    args: &[String],
) -> Vec<String> {
    let mut out = vec![
        format!("--status_path={}", status_path.display()),
        "--".to_string(),
        program.display().to_string(),
    ];
    out.extend(args.iter().cloned());
    out
}

/// Runs the init with `argv` (without the program name); returns the exit code when the
/// command could not be run or exited, and does not return when it was killed by a signal
/// (the init ends by the same signal).
pub fn main(argv: Vec<OsString>) -> i32 {
    let mut it = argv.into_iter();
    let mut status_path = None;
    for a in it.by_ref() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        match s.strip_prefix("--status_path=") {
            Some(p) => status_path = Some(PathBuf::from(p)),
            None => {
                eprintln!("mesos-containerizer: unknown flag '{s}'");
                return 1;
            }
        }
    }
    let Some(status_path) = status_path else {
        eprintln!("mesos-containerizer: expecting '--status_path'");
        return 1;
    };
    let Some(program) = it.next() else {
        eprintln!("mesos-containerizer: expecting a command after '--'");
        return 1;
    };
    let mut cmd = std::process::Command::new(&program);
    cmd.args(it).env_remove(MULTICALL_ENV);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for s in SHIELDED {
                nix::libc::signal(s, nix::libc::SIG_DFL);
            }
            Ok(())
        });
    }
    for s in SHIELDED {
        // SAFETY: ignoring a signal installs no handler.
        unsafe { nix::libc::signal(s, nix::libc::SIG_IGN) };
    }
    let status = match cmd.spawn().and_then(|mut c| c.wait()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "mesos-containerizer: cannot run '{}': {e}",
                program.to_string_lossy()
            );
            std::process::ExitStatus::from_raw(127 << 8)
        }
    };
    let tmp = status_path.with_extension("tmp");
    let written = std::fs::write(&tmp, status.into_raw().to_string())
        .and_then(|_| std::fs::rename(&tmp, &status_path));
    if let Err(e) = written {
        eprintln!(
            "mesos-containerizer: cannot write the status to '{}': {e}",
            status_path.display()
        );
    }
    if let Some(sig) = status.signal() {
        // SAFETY: default disposition, then the same signal to ourselves.
        unsafe {
            nix::libc::signal(sig, nix::libc::SIG_DFL);
            nix::libc::kill(nix::libc::getpid(), sig);
        }
        return 128 + sig;
    }
    status.code().unwrap_or(1)
}

/// The status an init wrote for a container, if any.
pub fn read_status(checkpoint: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(checkpoint.join(STATUS_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}
