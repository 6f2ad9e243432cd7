//! The docker executor's way (Mesos's `mesos-docker-executor`): the one task of a LAUNCH runs
//! in a docker container, `docker run` attached as this process's child, so the container's
//! output is the sandbox's stdout and stderr. TASK_RUNNING waits for `docker inspect` to see
//! the container started and carries its output (in `data`) and its addresses; a kill is
//! `docker stop` with the kill policy's grace period, then `docker kill`.
//!
//! The agent starts it with Mesos's flags: `--docker`, `--docker_socket`, `--container` (the
//! docker container's name), `--sandbox_directory`, `--mapped_directory`, `--stop_timeout` and
//! `--cgroups_enable_cfs`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_api::protocol::container::IpAddress;
use mesos_api::protocol::task::{CommandInfo, ContainerStatus, TaskInfo, TaskState};
use mesos_api::TaskID;
use mesos_containerizer::docker::{self, Docker, Inspected};
use tokio::io::AsyncBufReadExt;

use super::conn::parse_secs;
use super::{Ended, Engine, Input, Place, Running};
use crate::os::kill_group;

/// The docker executor's settings, from its command line.
#[derive(Clone, Debug)]
pub(super) struct DockerRun {
    pub(super) docker: Docker,
    /// The docker container's name (`mesos-<container id>`).
    pub(super) name: String,
    /// The host sandbox, mounted at [`docker::MAPPED_SANDBOX`].
    pub(super) sandbox: PathBuf,
    /// The grace period of a kill when the task has no kill policy.
    pub(super) stop_timeout: Option<Duration>,
    /// `--cpu-quota` besides `--cpu-shares`.
    pub(super) cfs: bool,
    /// Set once the task is killed: no pull or `docker run` starts after it.
    pub(super) killed: Arc<std::sync::atomic::AtomicBool>,
}

impl DockerRun {
    /// Reads `--name=value` flags; unknown ones are refused.
    pub(super) fn from_args(
        args: impl IntoIterator<Item = String>,
        sandbox: PathBuf,
    ) -> Result<DockerRun, String> {
        let mut d = DockerRun {
            docker: Docker::new("docker", "/var/run/docker.sock"),
            name: String::new(),
            sandbox,
            stop_timeout: None,
            cfs: false,
            killed: Arc::default(),
        };
        for a in args {
            let Some((k, v)) = a.strip_prefix("--").and_then(|a| a.split_once('=')) else {
                return Err(format!(
                    "unexpected argument '{a}' (flags are --name=value)"
                ));
            };
            match k {
                "docker" => d.docker.path = v.into(),
                "docker_socket" => d.docker.socket = v.into(),
                "container" => d.name = v.into(),
                "sandbox_directory" => d.sandbox = v.into(),
                "mapped_directory" => {
                    if v != docker::MAPPED_SANDBOX {
                        return Err(format!(
                            "--mapped_directory: the sandbox is mounted at {} only",
                            docker::MAPPED_SANDBOX
                        ));
                    }
                }
                "stop_timeout" => {
                    d.stop_timeout = Some(
                        parse_secs(v)
                            .ok_or_else(|| format!("--stop_timeout: bad duration '{v}'"))?,
                    )
                }
                "cgroups_enable_cfs" => d.cfs = v == "true",
                other => return Err(format!("unknown flag '--{other}'")),
            }
        }
        if d.name.is_empty() {
            return Err("--container (the docker container's name) is required".into());
        }
        Ok(d)
    }
}

/// The last lines `docker run` wrote on stderr, for the message of a run that failed.
type StderrTail = Arc<Mutex<Vec<String>>>;

impl Engine {
    /// The docker executor's way: `docker run` for the task, attached.
    pub(super) fn launch_docker(
        &mut self,
        task: TaskInfo,
        group: Option<usize>,
        cmd: &CommandInfo,
    ) {
        let tid = task.task_id.clone();
        let Some(run) = self.docker.clone() else {
            return;
        };
        if self
            .tasks
            .values()
            .any(|r| matches!(r.place, Place::Docker(_)))
        {
            self.status(
                &tid,
                TaskState::Failed,
                Some("Attempted to run multiple tasks using a \"docker\" executor".into()),
            );
            return;
        }
        let Some(container) = task.container.as_ref() else {
            self.status(
                &tid,
                TaskState::Failed,
                Some("The task has no container".into()),
            );
            return;
        };
        let args = match docker::run_args(
            container,
            cmd,
            &run.name,
            &run.sandbox,
            &task.resources,
            run.cfs,
        ) {
            Ok(a) => a,
            Err(e) => {
                self.status(
                    &tid,
                    TaskState::Failed,
                    Some(format!("Failed to create docker run options: {e}")),
                );
                return;
            }
        };
        let force_pull = container
            .docker
            .as_ref()
            .and_then(|d| d.force_pull_image)
            .unwrap_or(false);
        let image = container
            .docker
            .as_ref()
            .map(|d| d.image.clone())
            .unwrap_or_default();
        self.tasks
            .insert(tid.clone(), Running::new(Place::Docker(None), group));
        self.infos.insert(tid.clone(), task);
        let tx = self.input.clone();
        tokio::spawn(async move {
            let ended = run_container(&run, &tid, args, force_pull, &image, &tx).await;
            let _ = tx.send(Input::Exited(tid, ended));
        });
    }

    /// The container started: TASK_RUNNING with `docker inspect`'s output and its addresses.
    pub(super) fn docker_started(&mut self, tid: TaskID, pid: Option<i32>, seen: Inspected) {
        let Some(r) = self.tasks.get_mut(&tid) else {
            return;
        };
        r.place = Place::Docker(pid);
        let killing = r.killing;
        if killing {
            // Killed before it started: it goes now.
            self.docker_kill(pid);
            return;
        }
        let mut s = mesos_api::protocol::task::TaskStatus::new(tid.clone(), TaskState::Running);
        s.data = Some(seen.output.into_bytes());
        let ips: Vec<IpAddress> = seen
            .ip
            .map(|ip| (None, ip))
            .into_iter()
            .chain(seen.ip6.map(|ip| (Some("IPv6".to_string()), ip)))
            .map(|(protocol, ip)| IpAddress {
                protocol,
                ip_address: Some(ip),
            })
            .collect();
        if !ips.is_empty() {
            // The task's one network (Mesos copies it), with the container's addresses.
            let mut net = self
                .infos
                .get(&tid)
                .and_then(|t| t.container.as_ref())
                .and_then(|c| c.network_infos.first().cloned())
                .unwrap_or_default();
            net.ip_addresses = ips;
            let status = ContainerStatus {
                container_id: None,
                network_infos: vec![net],
                executor_pid: None,
            };
            self.networks.insert(tid.clone(), status);
        }
        // A kill that came first stands: no RUNNING after KILLING.
        if !killing {
            self.send(s);
            self.watch(&tid);
        }
    }

    /// `docker stop` with the grace period; the escalation after it is `docker kill`.
    pub(super) fn docker_stop(&self, grace: Duration) {
        let Some(run) = self.docker.clone() else {
            return;
        };
        run.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            // Whole seconds, rounded up: never less than the task was promised.
            let secs = Duration::from_secs(grace.as_secs() + u64::from(grace.subsec_nanos() > 0));
            if let Err(e) = run.docker.stop(&run.name, secs).await {
                eprintln!("executor: docker stop of '{}': {e}", run.name);
            }
        });
    }

    /// SIGKILL for a docker task: `docker kill`, then the CLI's process group.
    pub(super) fn docker_kill(&self, pid: Option<i32>) {
        let Some(run) = self.docker.clone() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = run.docker.kill(&run.name).await {
                if !e.contains("is not running") {
                    eprintln!("executor: docker kill of '{}': {e}", run.name);
                }
            }
            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
        });
    }

    /// The docker container goes at once (the executor is ending without the agent).
    pub(super) fn docker_kill_now(&self) {
        if let Some(run) = &self.docker {
            let _ = run
                .docker
                .std_command()
                .args(["kill", &run.name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Pulls if asked, runs the container attached and waits for it; tells the engine when it has
/// started. How it ended: the CLI's exit status is the container's.
async fn run_container(
    run: &DockerRun,
    tid: &TaskID,
    args: Vec<String>,
    force_pull: bool,
    image: &str,
    tx: &tokio::sync::mpsc::UnboundedSender<Input>,
) -> Ended {
    let killed = || run.killed.load(std::sync::atomic::Ordering::SeqCst);
    if force_pull && !killed() {
        if let Err(e) = run.docker.pull(image).await {
            return Ended::Error(format!("Failed to pull image '{image}': {e}"));
        }
    }
    if killed() {
        return Ended::Error("Killed before the container started".into());
    }
    let mut c = run.docker.command();
    c.arg("run")
        .args(&args)
        .process_group(0)
        .current_dir(&run.sandbox)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(false);
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ended::Error(format!(
                "Failed to run docker container: cannot run '{}': {e}",
                run.docker.path
            ))
        }
    };
    let pid = child.id().map(|p| p as i32);
    // Known from now on, so that a kill reaches the `docker run` too.
    let _ = tx.send(Input::DockerSpawned(tid.clone(), pid));
    // docker's stderr goes on to the sandbox's, its last lines kept.
    let tail: StderrTail = Arc::default();
    let copier = child.stderr.take().map(|err| {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                eprintln!("{l}");
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.push(l);
                if t.len() > 3 {
                    t.remove(0);
                }
            }
        })
    });
    // Until docker says it started (or the CLI ended first).
    let mut started = false;
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = tokio::time::sleep(Duration::from_millis(100)), if !started => {
                if let Ok(Some(i)) = run.docker.inspect(&run.name).await {
                    if i.running || i.pid.is_some() {
                        started = true;
                        let _ = tx.send(Input::DockerStarted(tid.clone(), pid, Box::new(i)));
                    }
                }
            }
        }
    };
    if let Some(c) = copier {
        let _ = c.await;
    }
    let status = match status {
        Ok(s) => s,
        Err(e) => return Ended::Error(format!("Failed to wait for docker run: {e}")),
    };
    if !started {
        // It ran and ended between two looks; docker still has it if it ran at all.
        match run.docker.inspect(&run.name).await {
            Ok(Some(i)) if ran(&i.output) => {
                let _ = tx.send(Input::DockerStarted(tid.clone(), pid, Box::new(i)));
            }
            _ => {
                let why = tail.lock().map(|t| t.join("; ")).unwrap_or_default();
                return Ended::Error(format!("Failed to run docker container: {why}"));
            }
        }
    }
    Ended::Status(status)
}

/// Whether an inspected container ever started (`State.StartedAt` is set).
fn ran(output: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(output)
        .ok()
        .and_then(|v| v[0]["State"]["StartedAt"].as_str().map(String::from))
        .is_some_and(|t| !t.starts_with("0001-01-01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_mesos_and_unknown_ones_are_refused() {
        let d = DockerRun::from_args(
            [
                "--docker=/usr/bin/docker",
                "--docker_socket=/tmp/d.sock",
                "--container=mesos-1",
                "--mapped_directory=/mnt/mesos/sandbox",
                "--stop_timeout=2secs",
                "--cgroups_enable_cfs=true",
            ]
            .map(String::from),
            "/sb".into(),
        )
        .unwrap();
        assert_eq!(d.docker.path, "/usr/bin/docker");
        assert_eq!(d.docker.socket, "/tmp/d.sock");
        assert_eq!(d.name, "mesos-1");
        assert_eq!(d.stop_timeout, Some(Duration::from_secs(2)));
        assert!(d.cfs);
        for bad in ["--bogus=1", "plain", "--mapped_directory=/elsewhere"] {
            let args = ["--container=x".to_string(), bad.to_string()];
            assert!(DockerRun::from_args(args, "/sb".into()).is_err(), "{bad}");
        }
        assert!(DockerRun::from_args(Vec::new(), "/sb".into()).is_err());
    }

    #[test]
    fn a_container_ran_when_it_has_a_start_time() {
        assert!(ran(r#"[{"State":{"StartedAt":"2026-12-01T10:00:00Z"}}]"#));
        assert!(!ran(r#"[{"State":{"StartedAt":"0001-01-01T00:00:00Z"}}]"#));
        assert!(!ran("nonsense"));
    }
}
