//! OS process helpers that the agent and the executors both use.

use mesos_api::protocol::task::CommandInfo;
use nix::sys::signal::Signal;

/// Signals the process group led by `os_pid` (an executor, a task or a check, and everything
/// it started). Nothing happens without a positive pid.
pub fn kill_group(os_pid: Option<i32>, sig: Signal) {
    if let Some(p) = os_pid.filter(|p| *p > 0) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), sig);
    }
}

/// A process for `cmd`: its argv and its environment.
pub fn command(cmd: &CommandInfo) -> tokio::process::Command {
    let (program, args) = cmd.argv();
    let mut c = tokio::process::Command::new(program);
    c.args(args).envs(cmd.env_pairs());
    c
}
