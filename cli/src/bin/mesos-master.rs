//! `mesos-master`: the master on `--ip`:`--port` (default 127.0.0.1:5050).

use mesos_cli::flags::load_or_exit;
use mesos_cli::{bind, die, merge, start_master, wait_for_signal, NetworkFlags, MASTER_PORT};
use mesos_master::MasterFlags;

fn main() {
    let table = merge(&[NetworkFlags::FLAGS, MASTER_PORT, MasterFlags::FLAGS]);
    let f = load_or_exit("mesos-master", &table);
    let mf = MasterFlags::from_flags(&f).unwrap_or_else(|e| die(e));
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| die(format!("cannot start: {e}")));
    rt.block_on(async {
        let r = bind(&f, None, Some(mf.total_ping_timeout()))
            .await
            .unwrap_or_else(|e| die(e));
        let m = start_master(&r, mf).unwrap_or_else(|e| die(e));
        let id = m
            .dispatch(|m: &mut mesos_master::Master, _| m.id().to_string())
            .await
            .unwrap_or_default();
        eprintln!("Master {id} started at {}", m.upid());
        let lost = tokio::select! {
            _ = wait_for_signal() => false,
            _ = m.wait() => true,
        };
        r.shutdown().await;
        if lost {
            // It lost its leadership (or could not lead): exit so a supervisor restarts it.
            die("the master stopped: it lost its leadership; exiting");
        }
    });
}
