//! A master and agents in this process, on one loopback runtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libprocess::{Runtime, PID};
use mesos_agent::{Agent, AgentFlags};
use mesos_api::Attributes;
use mesos_master::{Master, MasterFlags};

/// How long [`cluster_tweaked`] waits for its agents to register (30 s).
const REGISTRATION: Duration = Duration::from_secs(30);

/// A master and its registered agents on one runtime (the test's schedulers can join it with
/// `mesos_scheduler::start(&c.rt, c.master.upid().clone(), ...)`).
///
/// Dropping it terminates the agents, removes the work directory and removes the empty
/// `mesos-agent-test-*` cgroups roots under `/sys/fs/cgroup/<hierarchy>/` (those an isolating
/// test's agents made; a root still in use is another test's, and stays).
pub struct Cluster {
    /// The runtime everything runs on (its address is the master's and the agents').
    pub rt: Runtime,
    /// The master.
    pub master: PID<Master>,
    /// The agents, in the order they were made (`work/a0`, `work/a1`, ...).
    pub agents: Vec<PID<Agent>>,
    /// The agents' work directories' parent, `$TMPDIR/mesos-agent-test-<uuid>`: agent `i`
    /// works in `work/a<i>`.
    pub work: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for a in &self.agents {
            a.terminate(true);
        }
        let _ = std::fs::remove_dir_all(&self.work);
        // Empty cgroup roots of isolation tests (a busy one is another test's, and stays).
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for r in std::fs::read_dir(h.path()).into_iter().flatten().flatten() {
                if r.file_name()
                    .to_string_lossy()
                    .starts_with("mesos-agent-test-")
                {
                    let _ = std::fs::remove_dir(r.path());
                }
            }
        }
    }
}

/// A master that allocates every 50 ms and `agents` agents offering `resources` each (as in
/// `--resources`, e.g. `cpus:2;mem:512`), all registered. `launcher_dir` holds the executor
/// binaries (`mesos-executor`, `mesos-default-executor`, `mesos-container-init`; in cli's
/// tests, the directory of `env!("CARGO_BIN_EXE_mesos-executor")`).
pub async fn cluster(launcher_dir: &Path, agents: usize, resources: &str) -> Cluster {
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        ..MasterFlags::default()
    };
    cluster_with(launcher_dir, agents, resources, flags).await
}

/// As [`cluster`], with the master's `flags`.
pub async fn cluster_with(
    launcher_dir: &Path,
    agents: usize,
    resources: &str,
    flags: MasterFlags,
) -> Cluster {
    cluster_tweaked(launcher_dir, agents, resources, flags, |_| {}).await
}

/// As [`cluster_with`], with each agent's flags changed by `tweak` (isolation, for instance)
/// after the defaults: the work directory, `resources`, `launcher_dir` and a 100 ms
/// registration backoff. Panics if an agent does not start, or if they are not all registered
/// within 30 s.
pub async fn cluster_tweaked(
    launcher_dir: &Path,
    agents: usize,
    resources: &str,
    flags: MasterFlags,
    tweak: impl Fn(&mut AgentFlags),
) -> Cluster {
    let rt = Runtime::local().await.expect("a loopback runtime");
    let master = rt.spawn("master", Master::new(flags)).expect("the master");
    let work =
        std::env::temp_dir().join(format!("mesos-agent-test-{}", mesos_api::ids::new_uuid()));
    let mut pids = Vec::new();
    for i in 0..agents {
        let mut f = AgentFlags::new(rt.address().to_string(), work.join(format!("a{i}")));
        f.resources = Some(resources.into());
        f.launcher_dir = Some(launcher_dir.to_path_buf());
        f.registration_backoff_factor = Duration::from_millis(100);
        tweak(&mut f);
        let r = mesos_agent::resources::agent_resources(f.resources.as_deref(), "*", &f.work_dir)
            .unwrap_or_else(|e| panic!("agent {i}'s resources: {e}"));
        let agent =
            Agent::new(f, r, Attributes::default()).unwrap_or_else(|e| panic!("agent {i}: {e}"));
        let id = rt.unique_id("slave");
        pids.push(rt.spawn(&id, agent).expect("an agent"));
    }
    // Made before the wait, so that a failed wait still cleans up.
    let c = Cluster {
        rt,
        master,
        agents: pids,
        work,
    };
    let what = format!("{agents} agents to register");
    crate::eventually_async(REGISTRATION, what, || {
        let n = c.master.dispatch(|m: &mut Master, _| m.agent_count());
        async move {
            let n = n.await.expect("the master");
            if n == agents {
                Ok(())
            } else {
                Err(format!("{n} registered"))
            }
        }
    })
    .await;
    c
}
