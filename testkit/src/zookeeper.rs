//! A real ZooKeeper for tests: Debian's `zookeeper` package run as a standalone server on a free
//! loopback port with its own data directory, stopped (and the directory removed) when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{command, free_port, Proc};

/// Where Debian's `zookeeper` package puts its jar.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// A standalone ZooKeeper server (its log goes to the file `MESOS_RS_ZOOKEEPER_LOG` names, if
/// set).
#[derive(Debug)]
pub struct ZooKeeper {
    proc: Option<Proc>,
    port: u16,
    dir: PathBuf,
}

impl ZooKeeper {
    /// Whether ZooKeeper is installed. When it is not, tests that need it say so and return,
    /// unless `MESOS_RS_REQUIRE_ZOOKEEPER=1` (set by `.ci/test`, which installs it): then they
    /// fail, saying why.
    pub fn available(test: &str) -> bool {
        if std::path::Path::new(ZOOKEEPER_JAR).exists() {
            return true;
        }
        if std::env::var("MESOS_RS_REQUIRE_ZOOKEEPER").as_deref() == Ok("1") {
            panic!("{test}: ZooKeeper is required but {ZOOKEEPER_JAR} is missing (apt-get install zookeeper)");
        }
        println!(
            "{test}: skipped: ZooKeeper is not installed ({ZOOKEEPER_JAR}); .ci/test installs it"
        );
        false
    }

    /// Starts a server and waits until it accepts connections. Panics, saying why, when
    /// ZooKeeper is not installed or does not come up (check [`ZooKeeper::available`] first).
    pub fn start() -> ZooKeeper {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("testkit-zk-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut zk = ZooKeeper {
            proc: None,
            port,
            dir,
        };
        zk.restart();
        zk
    }

    fn server(&self) -> Command {
        if !std::path::Path::new(ZOOKEEPER_JAR).exists() {
            panic!(
                "ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): \
                 run `apt-get install zookeeper` (.ci/run does)"
            );
        }
        let mut c = command("java");
        c.args([
            "-cp",
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/*",
            "-Dzookeeper.admin.enableServer=false",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Xmx1g",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
        ])
        .arg(self.port.to_string())
        .arg(&self.dir);
        // The server's log goes where MESOS_RS_ZOOKEEPER_LOG says (appended), else nowhere.
        let log = std::env::var_os("MESOS_RS_ZOOKEEPER_LOG").and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        match log.and_then(|f| Some((f.try_clone().ok()?, f))) {
            Some((out, err)) => c.stdout(out).stderr(err),
            None => c.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        c
    }

    /// `host:port` of the server.
    pub fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `zk://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.servers())
    }

    /// Kills the server (`SIGKILL`), as when ZooKeeper is lost; its data stays.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Starts the server again on the same port and data (after [`ZooKeeper::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        let proc = Proc::spawn(&mut self.server());
        self.proc = Some(proc);
        let limit = Duration::from_secs(30);
        let started = Instant::now();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(p) = self.proc.as_mut() {
                if let Ok(Some(status)) = p.try_wait() {
                    panic!("ZooKeeper exited at start ({status}); port {}", self.port);
                }
            }
            if started.elapsed() > limit {
                panic!(
                    "ZooKeeper did not accept connections on port {} within {limit:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
