//! TLS with the real binaries (`LIBPROCESS_SSL_*`): a master and an agent on mutual TLS with
//! framework authentication, the whole offer cycle through `mesos-execute` (scheduler, agent
//! and the command executor's HTTP API all over TLS), HTTPS for the operator endpoints, and
//! plain clients refused without downgrade and served with it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use libprocess::http_client::{request, request_tls};
use libprocess::tls::test_certs::TestCerts;
use libprocess::tls::Tls;
use serde_json::{json, Value};
use testkit::{free_port, Proc};

const LIMIT: Duration = Duration::from_secs(60);

/// A temporary directory with certificates and a credentials file.
struct Dir(PathBuf);

impl Dir {
    fn new() -> (Dir, TestCerts) {
        let dir = std::env::temp_dir().join(format!("mesos-tls-{}", mesos_api::ids::new_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = json!({"credentials": [{"principal": "ops", "secret": "s3cret"}]});
        std::fs::write(dir.join("credentials.json"), c.to_string()).unwrap();
        let certs = TestCerts::create(&dir);
        (Dir(dir), certs)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn master(dir: &Dir, env: &[(String, String)]) -> (Proc, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut m = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-master"))
            .envs(env.iter().cloned())
            .arg(format!("--port={port}"))
            .arg(format!(
                "--credentials={}",
                dir.0.join("credentials.json").display()
            ))
            .args(["--authenticate_frameworks", "--allocation_interval=50ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    m.await_listening(&addr, LIMIT);
    (m, addr)
}

fn agent(dir: &Dir, env: &[(String, String)], master: &str) -> Proc {
    Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .envs(env.iter().cloned())
            .arg(format!("--master={master}"))
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", dir.0.join("agent").display()))
            .args([
                "--resources=cpus:2;mem:256",
                "--launcher=posix",
                "--registration_backoff_factor=100ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

async fn state_over_tls(tls: &Tls, master: &str) -> Value {
    let r = request_tls(tls, master, "GET", "/master/state", &[], b"")
        .await
        .unwrap_or_else(|e| panic!("GET https://{master}/master/state: {e}"));
    assert_eq!(r.head.status, 200);
    serde_json::from_slice(&r.body).unwrap()
}

fn execute(env: &[(String, String)], master: &str) -> std::process::Output {
    execute_with(env, master, &[])
}

/// [`execute`] with `extra` flags.
fn execute_with(env: &[(String, String)], master: &str, extra: &[&str]) -> std::process::Output {
    Proc::run(
        testkit::command(env!("CARGO_BIN_EXE_mesos-execute"))
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .arg(format!("--master={master}"))
            .args([
                "--name=over-tls",
                "--command=echo secret-hello",
                "--resources=cpus:0.5;mem:32",
                "--principal=ops",
                "--secret=s3cret",
            ]),
        LIMIT,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_cycle_runs_over_mutual_tls() {
    let (dir, certs) = Dir::new();
    let env = certs.env(false);
    let (_m, master) = master(&dir, &env);
    let _a = agent(&dir, &env, &master);
    let tls = Tls::new(&certs.settings()).unwrap();
    testkit::Eventually::new(LIMIT, "the agent to register over TLS")
        .until_async(|| async {
            let v = state_over_tls(&tls, &master).await;
            match v["slaves"].as_array().map_or(0, Vec::len) {
                1 => Ok(()),
                n => Err(format!("{n} agents")),
            }
        })
        .await;

    // In clear, and over TLS without a client certificate, the master answers nothing.
    let plain = request(&master, "GET", "/master/state", &[], b"").await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    let anonymous = request(
        &format!("https://{master}"),
        "GET",
        "/master/state",
        &[],
        b"",
    )
    .await;
    assert!(
        anonymous.is_err(),
        "no client certificate, answered: {anonymous:?}"
    );

    // The binary transport, and the v1 HTTP scheduler API over https with the same set-up.
    for (n, extra) in [(1, &[][..]), (2, &["--content_type=json"])] {
        let out = execute_with(&env, &master, extra);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("TASK_FINISHED"),
            "{extra:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = state_over_tls(&tls, &master).await;
        let done = v["completed_frameworks"].as_array().unwrap();
        assert_eq!(done.len(), n, "{v}");
        for f in done {
            assert_eq!(f["principal"], "ops", "{v}");
            assert_eq!(f["completed_tasks"][0]["state"], "TASK_FINISHED", "{f}");
        }
    }

    let metrics = request_tls(&tls, &master, "GET", "/metrics/snapshot", &[], b"")
        .await
        .unwrap();
    let m: Value = serde_json::from_slice(&metrics.body).unwrap();
    assert!(
        m["libprocess/transport/plain_connections_refused"]
            .as_f64()
            .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
    assert!(
        m["libprocess/transport/tls_handshakes_failed"]
            .as_f64()
            .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_downgrade_plain_frameworks_and_clients_are_served_too() {
    let (dir, certs) = Dir::new();
    let (_m, master) = master(&dir, &certs.env(true));
    let _a = agent(&dir, &certs.env(false), &master);
    // A plain HTTP client.
    testkit::Eventually::new(LIMIT, "the agent to register")
        .until_async(|| async {
            let v = testkit::http::json(&master, "/master/state").await?;
            match v["slaves"].as_array().map_or(0, Vec::len) {
                1 => Ok(()),
                n => Err(format!("{n} agents")),
            }
        })
        .await;
    // A plain framework: it connects in clear, and the master, whose TLS handshake to it
    // fails, falls back to clear as well.
    let out = execute(&[], &master);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("TASK_FINISHED"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_settings_that_cannot_work_stop_the_binaries_naming_them() {
    let (_dir, certs) = Dir::new();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("LIBPROCESS_SSL_ENABLED", "true".into())],
            "LIBPROCESS_SSL_CERT_FILE",
        ),
        (
            vec![
                ("LIBPROCESS_SSL_ENABLED", "true".into()),
                ("LIBPROCESS_SSL_CERT_FILE", "/nonexistent.pem".into()),
                ("LIBPROCESS_SSL_KEY_FILE", certs.key.display().to_string()),
            ],
            "/nonexistent.pem",
        ),
        (
            vec![
                ("LIBPROCESS_SSL_ENABLED", "true".into()),
                ("LIBPROCESS_SSL_CERT_FILE", certs.cert.display().to_string()),
                ("LIBPROCESS_SSL_KEY_FILE", certs.key.display().to_string()),
                ("LIBPROCESS_SSL_CIPHERS", "AES128-SHA".into()),
            ],
            "LIBPROCESS_SSL_CIPHERS",
        ),
        (
            vec![("LIBPROCESS_SSL_ENABLED", "maybe".into())],
            "LIBPROCESS_SSL_ENABLED",
        ),
    ];
    for (env, says) in cases {
        for bin in [
            env!("CARGO_BIN_EXE_mesos-master"),
            env!("CARGO_BIN_EXE_mesos-execute"),
        ] {
            let mut c = testkit::command(bin);
            c.envs(env.iter().map(|(k, v)| (k, v)));
            if bin.ends_with("mesos-execute") {
                c.args(["--master=127.0.0.1:1", "--name=x", "--command=true"]);
            } else {
                c.arg(format!("--port={}", free_port()));
            }
            let out = Proc::run(&mut c, LIMIT);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{bin} {env:?}: {err}");
            assert!(err.contains(says), "{bin} {env:?}: {err}");
        }
    }
}
