//! The web UI in a real browser: Chromium, driven through chromedriver by Selenium
//! (`tests/webui/browser.py`, in the Python venv `.ci/pymesos-venv.sh` makes), against a
//! `mesos-local`. Every page loads without a console error; a task launched by `mesos-execute`
//! appears on the open tasks page and reaches FINISHED there; the sandbox browser shows its
//! stdout; screenshots of the overview and of the agent page are written as PNG.
//!
//! It needs the venv (`MESOS_RS_PYTHON`) and Debian's `chromium` and `chromium-driver`; without
//! them it says why it did nothing, unless `MESOS_RS_REQUIRE_BROWSER=1` (set by `.ci/test`,
//! which installs them): then it fails.

use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{free_port, Proc};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The venv's python, or None (saying why) when the browser test cannot run here.
fn python() -> Option<String> {
    let required = std::env::var("MESOS_RS_REQUIRE_BROWSER").as_deref() == Ok("1");
    let why = match std::env::var("MESOS_RS_PYTHON") {
        Err(_) => "MESOS_RS_PYTHON is not set (.ci/pymesos-venv.sh makes the venv)".to_string(),
        Ok(_) if !std::path::Path::new(CHROMEDRIVER).exists() => {
            format!("{CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)")
        }
        Ok(p) => return Some(p),
    };
    assert!(!required, "the browser test is required, but {why}");
    eprintln!("SKIPPED: {why}");
    None
}

#[test]
fn every_page_loads_and_follows_a_task_live_in_a_real_browser() {
    let Some(python) = python() else {
        return;
    };
    let port = free_port();
    let work = std::env::temp_dir().join(format!("mesos-webui-{}", mesos_api::ids::new_uuid()));
    let mut local = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-local"))
            .args([
                format!("--port={port}"),
                "--num_agents=1".into(),
                format!("--work_dir={}", work.display()),
                "--resources=cpus:2;mem:1024;disk:1024".into(),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    local.await_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(30));
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webui/browser.py");
    let out = Command::new(&python)
        .arg(script)
        .args(["--master", &format!("127.0.0.1:{port}")])
        .args(["--execute", env!("CARGO_BIN_EXE_mesos-execute")])
        .args(["--shots", &shots.display().to_string()])
        .output()
        .expect("run the browser test");
    drop(local);
    let _ = std::fs::remove_dir_all(&work);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser.py failed:\n{text}");
    for name in ["overview.png", "agent.png"] {
        let png = std::fs::read(shots.join(name)).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name} is not a screenshot ({} bytes)",
            png.len()
        );
    }
    println!("{text}screenshots: {}", shots.display());
}
