//! What the security tests share: credentials, a master on a free port, authenticated calls
//! and frameworks with a principal.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use libprocess::http_client::{request, Response};
use serde_json::json;
use testkit::{free_port, Proc};

use super::LIMIT;

/// `Authorization` values: base64 of `ops:s3cret` (known), `ops:wrong` (a wrong secret).
pub const OPS: &str = "Basic b3BzOnMzY3JldA==";
pub const WRONG: &str = "Basic b3BzOndyb25n";

/// A temporary directory with a credentials file (Mesos's JSON) for `ops`.
pub struct Creds(pub PathBuf);

impl Creds {
    pub fn new() -> Creds {
        let dir = std::env::temp_dir().join(format!("mesos-sec-{}", mesos_api::ids::new_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = json!({"credentials": [{"principal": "ops", "secret": "s3cret"}]});
        std::fs::write(dir.join("credentials.json"), c.to_string()).unwrap();
        Creds(dir)
    }

    pub fn file(&self) -> String {
        self.0.join("credentials.json").display().to_string()
    }
}

impl Drop for Creds {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A master started with `args` on a free port, once it listens: (its process, `ip:port`).
pub fn master(args: &[String]) -> (Proc, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut m = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-master"))
            .arg(format!("--port={port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    m.await_listening(&addr, LIMIT);
    (m, addr)
}

pub async fn call(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Response {
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

/// `dev:d3v`.
pub const DEV: &str = "Basic ZGV2OmQzdg==";

/// A framework of `user` with `principal` against `master`.
pub async fn framework_of(
    master: &str,
    name: &str,
    user: &str,
    principal: &str,
) -> super::Framework {
    let mut info = mesos_api::protocol::framework::FrameworkInfo::new(name, user);
    info.principal = Some(principal.to_string());
    super::framework_with(std::net::IpAddr::from([127, 0, 0, 1]), master, info).await
}
