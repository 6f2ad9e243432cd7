//! The nested containers' init binary: it runs the command, keeps its raw wait status in the
//! status file and ends the way the command did.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

fn run(status: &std::path::Path, script: &str) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_mesos-container-init"))
        .arg(format!("--status_path={}", status.display()))
        .args(["--", "/bin/sh", "-c", script])
        // Its own group, as in a container (a group kill must not reach this test).
        .process_group(0)
        .status()
        .unwrap()
}

fn kept(status: &std::path::Path) -> i32 {
    std::fs::read_to_string(status)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_init_keeps_an_exit_code_and_exits_with_it() {
    let dir = std::env::temp_dir().join(format!("init-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = dir.join("status");
    let st = run(&status, "exit 5");
    assert_eq!(st.code(), Some(5));
    assert_eq!(kept(&status), 5 << 8);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_init_keeps_a_signal_and_dies_by_it_while_ignoring_it_itself() {
    let dir = std::env::temp_dir().join(format!("init-test-sig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = dir.join("status");
    // The command (not the init) gets SIGTERM from its group, as from a kill of the container.
    let st = run(&status, "kill -TERM 0; sleep 5");
    assert_eq!(st.signal(), Some(15), "{st:?}");
    assert_eq!(kept(&status), 15);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_init_refuses_bad_flags_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-container-init"))
        .args(["--bogus=1", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag '--bogus=1'"));
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-container-init"))
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expecting '--status_path'"));
}
