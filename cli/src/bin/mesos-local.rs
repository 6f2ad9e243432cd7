//! `mesos-local`: a master and `--num_agents` agents in one process, on one port.

use mesos_cli::flags::{load_or_exit, Flag};
use mesos_cli::{
    agent_flags, bind, die, merge, start_agent, start_master, wait_for_signal, NetworkFlags,
    MASTER_PORT,
};
use mesos_master::MasterFlags;

const LOCAL_FLAGS: &[Flag] = &[
    Flag::value("num_agents", Some("1"), "Number of agents to run").alias(&["num_slaves"]),
    Flag::value(
        "work_dir",
        Some("/tmp/mesos"),
        "Where the agents' sandboxes live",
    ),
];

fn main() {
    mesos_agent::executor::run_if_requested();
    let agent_only: Vec<Flag> = mesos_agent::AgentFlags::table()
        .iter()
        .filter(|f| f.name != "master")
        .copied()
        .collect();
    let table = merge(&[
        LOCAL_FLAGS,
        NetworkFlags::FLAGS,
        MASTER_PORT,
        MasterFlags::FLAGS,
        &agent_only,
    ]);
    let f = load_or_exit("mesos-local", &table);
    let n: usize = f
        .number("num_agents")
        .unwrap_or_else(|e| die(e))
        .unwrap_or(1);
    if n == 0 {
        die("Flag '--num_agents' must be at least 1");
    }
    let mf = MasterFlags::from_flags(&f).unwrap_or_else(|e| die(e));
    let work_dir = f.get("work_dir").unwrap_or("/tmp/mesos").to_string();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| die(format!("cannot start: {e}")));
    rt.block_on(async {
        let r = bind(&f, None, Some(mf.total_ping_timeout()))
            .await
            .unwrap_or_else(|e| die(e));
        // With --zk the agents find the master through ZooKeeper, as on a real cluster.
        let zk = mf.zk.clone();
        let m = start_master(&r, mf).unwrap_or_else(|e| die(e));
        let master = zk.unwrap_or_else(|| m.upid().addr().to_string());
        let mut agents = Vec::new();
        for i in 0..n {
            // Each agent checkpoints on its own (as on its own machine).
            let dir = if n == 1 {
                work_dir.clone()
            } else {
                format!("{work_dir}/agents/{i}")
            };
            let af = agent_flags(&f, &master, &dir).unwrap_or_else(|e| die(e));
            agents.push(start_agent(&r, af).unwrap_or_else(|e| die(e)));
        }
        eprintln!(
            "mesos-local: master at {} with {n} agent(s); sandboxes under {work_dir}",
            m.upid()
        );
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = m.wait() => eprintln!("mesos-local: the master stopped"),
        }
        for a in &agents {
            a.terminate(true);
            a.wait().await;
        }
        r.shutdown().await;
    });
}
