//! The workspace's binaries as child processes of a test, which die with it.

use std::ffi::OsStr;
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A command for the binary at `path` (in cli's tests, `env!("CARGO_BIN_EXE_mesos-agent")`):
///
/// - without the test's `MESOS_*` environment variables, which the binaries would read as
///   flags (set the ones a test wants with [`Command::env`]);
/// - with stdin from `/dev/null`; stdout and stderr inherited unless set;
/// - with `SIGKILL` as its parent-death signal (`PR_SET_PDEATHSIG`): it is killed when the
///   thread that spawned it ends, that is when the test that started it ends, however it
///   ends (even with the test binary killed). So spawn it from the test's own thread (the body
///   of a `#[test]` or `#[tokio::test]`), not from a short-lived thread such as
///   `spawn_blocking`'s. The setting is not inherited: what the binary starts in turn (an
///   agent's executors) is left alone.
///
/// Spawn it with [`Proc::spawn`], which also kills it when dropped.
pub fn command(path: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(path);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MESOS_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    // SAFETY: the closure only makes the prctl(2) system call, which is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    c
}

/// A spawned child process, killed (`SIGKILL`) and reaped when dropped, so that a test that
/// fails or returns early leaves nothing running. It dereferences to its [`Child`]:
/// `p.kill()` and `p.wait()` are the child's own (a `SIGKILL` now, as when an operator kills a
/// binary; dropping it afterwards does no harm).
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    name: String,
}

impl Proc {
    /// Spawns `c` (usually made by [`command`]). Panics, naming the program, if it cannot.
    pub fn spawn(c: &mut Command) -> Proc {
        let name = c.get_program().to_string_lossy().into_owned();
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child: Some(child),
            name,
        }
    }

    /// Waits at most `limit` for the process to take TCP connections on `addr` (a binary is up
    /// once its port listens). Panics, naming the program, if it exits first or the time runs
    /// out.
    pub fn await_listening(&mut self, addr: &str, limit: Duration) {
        let name = self.name.clone();
        crate::eventually(
            limit,
            format!("{name} to take connections on {addr}"),
            || {
                if let Ok(Some(status)) = self.try_wait() {
                    panic!("{name} exited ({status}) before taking connections on {addr}");
                }
                std::net::TcpStream::connect(addr).map(drop)
            },
        );
    }

    /// Spawns `c` with its stdout and stderr piped and waits at most `limit` for it to exit,
    /// handing back its status and everything it wrote. Panics, naming the program, if it runs
    /// longer (and kills it).
    pub fn run(c: &mut Command, limit: Duration) -> Output {
        Proc::spawn(c.stdout(Stdio::piped()).stderr(Stdio::piped())).output_within(limit)
    }

    /// Waits at most `limit` for the process to exit while reading its piped stdout and stderr
    /// (as [`Child::wait_with_output`], so a chatty process does not block on a full pipe);
    /// panics, naming the program, if it runs longer (and kills it).
    pub fn output_within(mut self, limit: Duration) -> Output {
        let child = self.child.take().expect("a child");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(out) => out.unwrap_or_else(|e| panic!("cannot wait for {}: {e}", self.name)),
            Err(_) => {
                // Not reaped yet (the reader has not returned), so the pid is still its own.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = reader.join();
                panic!(
                    "timed out after {limit:?} waiting for {} to exit",
                    self.name
                )
            }
        }
    }
}

impl Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("a child")
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("a child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_proc_is_killed_and_reaped() {
        let p = Proc::spawn(command("sleep").arg("60"));
        let pid = nix::unistd::Pid::from_raw(p.id() as i32);
        drop(p);
        // Reaped: no such process (not even a zombie).
        assert!(nix::sys::signal::kill(pid, None).is_err());
    }

    #[test]
    fn a_proc_dies_with_the_thread_that_spawned_it() {
        let pid = std::thread::spawn(|| {
            let p = Proc::spawn(command("sleep").arg("60"));
            let pid = p.id();
            // Not dropped: only the thread's end kills it.
            std::mem::forget(p);
            pid
        })
        .join()
        .unwrap();
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        crate::eventually(Duration::from_secs(10), "the orphan to be killed", || {
            // Dead, though a zombie until reaped.
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            nix::sys::signal::kill(pid, None).is_err()
        });
    }

    #[test]
    fn mesos_variables_are_not_passed_on() {
        std::env::set_var("MESOS_TESTKIT_PROBE", "1");
        let out = Proc::run(
            command("sh").args(["-c", "echo ${MESOS_TESTKIT_PROBE:-unset}"]),
            Duration::from_secs(10),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "unset\n");
    }

    #[test]
    #[should_panic(expected = "timed out after 100ms waiting for sleep to exit")]
    fn run_kills_what_outlives_its_limit() {
        Proc::run(command("sleep").arg("60"), Duration::from_millis(100));
    }
}
