//! `mesos-agent`: an agent of `--master`, sandboxes under `--work_dir`.

use mesos_agent::AgentFlags;
use mesos_cli::flags::load_or_exit;
use mesos_cli::{bind, die, merge, start_agent_watched, wait_for_signal, NetworkFlags, AGENT_PORT};

fn main() {
    mesos_agent::executor::run_if_requested();
    let table = merge(&[NetworkFlags::FLAGS, AGENT_PORT, &AgentFlags::table()]);
    let f = load_or_exit("mesos-agent", &table);
    let af = AgentFlags::from_flags(&f).unwrap_or_else(|e| die(e));
    if af.master.is_empty() {
        die("Flag '--master' is required");
    }
    let master = af.master.clone();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| die(format!("cannot start: {e}")));
    rt.block_on(async {
        let r = bind(&f, None, None).await.unwrap_or_else(|e| die(e));
        // Why it stops on its own is taken before it runs: it may stop before it could be asked.
        let (a, stopped) = start_agent_watched(&r, af).unwrap_or_else(|e| die(e));
        eprintln!("Agent started at {}; registering with {master}", a.upid());
        let refused = tokio::select! {
            _ = wait_for_signal() => {
                a.terminate(true);
                a.wait().await;
                None
            }
            _ = a.wait() => match stopped.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Some(mesos_agent::Stopped::Refused(why)) => Some(why),
                Some(mesos_agent::Stopped::ShutDown(why)) => {
                    eprintln!("The agent was shut down by the master ({why}); exiting");
                    None
                }
                None => None,
            },
        };
        r.shutdown().await;
        if let Some(why) = refused {
            die(why);
        }
    });
}
