//! A real Mesos client library against us: pymesos 0.3.15's scheduler and executor drive a
//! `mesos-local` (`tests/pymesos/scenario.py`: 20 tasks run and acknowledged, a kill,
//! reconciliation, a custom pymesos executor), in clear and over mutual TLS (`tls_patch.py`
//! swaps pymesos's plain connections for TLS ones with the `LIBPROCESS_SSL_*` certificates).
//! It needs the Python venv `.ci/pymesos-venv.sh` makes; `.ci/run` passes its interpreter in
//! `MESOS_RS_PYTHON`. Without it the tests say why they did nothing.

use std::process::{Command, Stdio};
use std::time::Duration;

use libprocess::tls::test_certs::TestCerts;
use testkit::{free_port, Proc};

/// A `mesos-local` with one agent and this environment, up (its port takes connections): the
/// process, its port and its work dir.
fn mesos_local(env: &[(String, String)]) -> (Proc, u16, std::path::PathBuf) {
    let port = free_port();
    let work = std::env::temp_dir().join(format!("mesos-pymesos-{}", mesos_api::ids::new_uuid()));
    let mut local = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-local"))
            .envs(env.iter().cloned())
            .args([
                format!("--port={port}"),
                "--num_agents=1".into(),
                format!("--work_dir={}", work.display()),
                "--resources=cpus:4;mem:2048;disk:1024;ports:[31000-31100]".into(),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    local.await_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(30));
    (local, port, work)
}

/// Runs `script` (in `tests/pymesos`) with the venv's python against a `mesos-local` with this
/// environment (also the script's), passing the master's address and then `args`; it must
/// exit 0 and print `passed`. Returns its stdout; None (saying why) without the venv.
fn run_script(
    env: &[(String, String)],
    script: &str,
    args: &[&str],
    passed: &str,
) -> Option<String> {
    let Ok(python) = std::env::var("MESOS_RS_PYTHON") else {
        eprintln!(
            "SKIPPED: MESOS_RS_PYTHON is not set (run .ci/pymesos-venv.sh <dir> and set it to \
             <dir>/bin/python; .ci/run does)"
        );
        return None;
    };
    let (local, port, work) = mesos_local(env);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymesos");
    let out = Command::new(&python)
        .envs(env.iter().cloned())
        .arg(format!("{dir}/{script}"))
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .env("PYMESOS_SCENARIO_TIMEOUT", "90")
        .env("PROTOBUF_FRAMEWORK_TIMEOUT", "60")
        .output()
        .expect("cannot run the venv's python");
    drop(local);
    let _ = std::fs::remove_dir_all(&work);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(passed),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    Some(stdout)
}

/// Runs the pymesos scenario against a `mesos-local` with this environment.
fn scenario(env: &[(String, String)]) {
    let executor = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymesos/executor.py");
    let Some(stdout) = run_script(env, "scenario.py", &[executor], "pymesos scenario PASSED")
    else {
        return;
    };
    if !env.is_empty() {
        assert!(stdout.contains("pymesos talks TLS"), "{stdout}");
    }
}

/// A framework written only against Mesos's v1 protos, speaking protobuf, with Python's own
/// protobuf package (`tests/pymesos/protobuf_framework.py`): subscribes, launches, acknowledges,
/// asks the master's and the agent's operator APIs, kills and tears down.
#[test]
fn a_protobuf_framework_from_the_v1_protos_runs_a_task() {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/proto/mesos-v1.pb");
    run_script(
        &[],
        "protobuf_framework.py",
        &[schema],
        "protobuf framework PASSED",
    );
}

#[test]
fn pymesos_scheduler_and_executor_run_against_mesos_local() {
    scenario(&[]);
}

#[test]
fn pymesos_runs_over_mutual_tls() {
    let dir = std::env::temp_dir().join(format!("mesos-pymesos-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certs = TestCerts::create(&dir);
    // No downgrade: every connection, the scheduler's, the executor's and the master's and
    // agent's own, is TLS with a certificate the CA signed.
    scenario(&certs.env(false));
    let _ = std::fs::remove_dir_all(&dir);
}
