//! Security with the real binaries: HTTP authentication of each endpoint group (realms, 401
//! with a Basic challenge, principals), and the flags that turn it on.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::LIMIT;
use libprocess::http_client::{request, stream, Response};
use serde_json::json;
use testkit::{free_port, Proc};

/// `Authorization` values: base64 of `ops:s3cret` (known), `ops:wrong` (a wrong secret).
const OPS: &str = "Basic b3BzOnMzY3JldA==";
const WRONG: &str = "Basic b3BzOndyb25n";

/// A temporary directory with a credentials file (Mesos's JSON) for `ops`.
struct Creds(PathBuf);

impl Creds {
    fn new() -> Creds {
        let dir = std::env::temp_dir().join(format!("mesos-sec-{}", mesos_api::ids::new_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = json!({"credentials": [{"principal": "ops", "secret": "s3cret"}]});
        std::fs::write(dir.join("credentials.json"), c.to_string()).unwrap();
        Creds(dir)
    }

    fn file(&self) -> String {
        self.0.join("credentials.json").display().to_string()
    }
}

impl Drop for Creds {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn call(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &str) -> Response {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        request(addr, method, path, &headers, body.as_bytes()),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// `path` answers 401 with a Basic challenge in `realm` without credentials and with a wrong
/// secret, and something else with the right ones (returned).
async fn guarded(addr: &str, method: &str, path: &str, body: &str, realm: &str) -> Response {
    for auth in [None, Some(WRONG)] {
        let r = call(addr, method, path, auth, body).await;
        assert_eq!(r.head.status, 401, "{method} {path} with {auth:?}");
        assert_eq!(
            r.head.header("WWW-Authenticate"),
            Some(format!("Basic realm=\"{realm}\"").as_str()),
            "{method} {path}"
        );
    }
    let r = call(addr, method, path, Some(OPS), body).await;
    assert_ne!(r.head.status, 401, "{method} {path} with good credentials");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_masters_endpoints_authenticate_in_their_realms() {
    let creds = Creds::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut m = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-master"))
            .arg(format!("--port={port}"))
            .arg(format!("--credentials=file://{}", creds.file()))
            .args([
                "--authenticate_http_readonly",
                "--authenticate_http_readwrite",
                "--authenticate_http_frameworks",
                "--http_framework_authenticators=basic",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    m.await_listening(&addr, LIMIT);
    let ro = "mesos-master-readonly";
    for path in [
        "/master/state",
        "/state",
        "/master/tasks",
        "/master/frameworks",
        "/master/flags",
        "/metrics/snapshot",
    ] {
        let r = guarded(&addr, "GET", path, "", ro).await;
        assert_eq!(r.head.status, 200, "{path}");
    }
    let rw = "mesos-master-readwrite";
    let r = guarded(&addr, "POST", "/api/v1", r#"{"type":"GET_HEALTH"}"#, rw).await;
    assert_eq!(r.head.status, 200);
    for path in ["/master/teardown", "/master/quota", "/master/weights"] {
        guarded(&addr, "POST", path, "", rw).await;
    }
    // Open whatever the flags say.
    for path in ["/health", "/version"] {
        assert_eq!(call(&addr, "GET", path, None, "").await.head.status, 200);
    }
    // An HTTP framework: authenticated in its own realm, as the principal it names.
    let subscribe = |principal: &str| {
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": "sec", "principal": principal}}})
        .to_string()
    };
    let sched = "mesos-master-scheduler";
    let r = call(&addr, "POST", "/api/v1/scheduler", None, &subscribe("ops")).await;
    assert_eq!(r.head.status, 401);
    assert_eq!(
        r.head.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{sched}\"").as_str())
    );
    let r = call(
        &addr,
        "POST",
        "/api/v1/scheduler",
        Some(OPS),
        &subscribe("eve"),
    )
    .await;
    assert_eq!(r.head.status, 400);
    let why = String::from_utf8_lossy(&r.body);
    assert!(
        why.contains("Authenticated principal 'ops' does not match principal 'eve'"),
        "{why}"
    );
    let (head, _events) = stream(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json"), ("Authorization", OPS)],
        subscribe("ops").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_endpoints_authenticate_in_their_realms() {
    let creds = Creds::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // No master: the agent keeps trying to register, and serves HTTP meanwhile.
    let mut a = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master=127.0.0.1:{}", free_port()))
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", creds.0.join("agent").display()))
            .arg(format!("--http_credentials={}", creds.file()))
            .args([
                "--authenticate_http_readonly",
                "--authenticate_http_readwrite",
                "--launcher=posix",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    a.await_listening(&addr, LIMIT);
    let ro = "mesos-agent-readonly";
    for path in [
        "/slave(1)/state",
        "/state",
        "/files/browse?path=/",
        "/monitor/statistics",
        "/metrics/snapshot",
    ] {
        guarded(&addr, "GET", path, "", ro).await;
    }
    let rw = "mesos-agent-readwrite";
    let r = guarded(&addr, "POST", "/api/v1", r#"{"type":"GET_HEALTH"}"#, rw).await;
    assert_eq!(r.head.status, 200);
    assert_eq!(
        call(&addr, "GET", "/health", None, "").await.head.status,
        200
    );
}

#[test]
fn authentication_flags_that_cannot_work_are_refused_by_name() {
    let creds = Creds::new();
    let cases: [(&str, &[String], &str); 5] = [
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--authenticate_http_readonly".into()],
            "--credentials",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--credentials=/nonexistent/creds".into()],
            "--credentials",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--http_authenticators=kerberos".into()],
            "--http_authenticators",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &[
                format!("--credentials={}", creds.file()),
                "--authenticate_http_frameworks".into(),
            ],
            "--http_framework_authenticators",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-agent"),
            &[
                "--master=127.0.0.1:1".into(),
                "--work_dir=/tmp/unused".into(),
                "--authenticate_http_readwrite".into(),
            ],
            "--http_credentials",
        ),
    ];
    for (bin, args, named) in cases {
        let out = Proc::run(
            testkit::command(bin)
                .args(args)
                .arg(format!("--port={}", free_port())),
            LIMIT,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
}
