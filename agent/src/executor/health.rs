//! Task health checks, as the command and default executors run them: a [`Checker`] is a tokio
//! task that waits `delay_seconds`, then every `interval_seconds` runs one check (COMMAND in the
//! task's sandbox, HTTP GET or TCP connect on 127.0.0.1) limited to `timeout_seconds`, and
//! reports through a channel when the task's health is first known or changes, and when enough
//! checks failed in a row that the task must be killed.
//!
//! The counting rules are Mesos's and live in [`HealthState`], free of clocks and sockets:
//! failures within `grace_period_seconds` of the start are ignored until a check has passed,
//! and `consecutive_failures` failures in a row give the kill verdict.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos_api::protocol::container::{HealthCheck, HealthCheckType, HttpCheckInfo, TcpCheckInfo};
use mesos_api::protocol::task::CommandInfo;
use mesos_api::TaskID;
use tokio::sync::mpsc;

use crate::httpc;

/// The shortest time between two checks, whatever `interval_seconds` says.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Seconds as a duration: zero for negative or NaN, the longest duration past its range.
fn secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
    }
}

/// What one check's result means for the task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The health to report: the first counted result, or a change healthy <-> unhealthy.
    pub changed: Option<bool>,
    /// Enough checks failed in a row: the task must be killed.
    pub kill: bool,
    /// A failure ignored because it fell in the grace period before any check passed.
    pub ignored: bool,
}

/// Mesos's counting rules for one task's health check: the grace period, consecutive
/// failures and change detection. Time is passed in as the time since the task started.
#[derive(Clone, Debug)]
pub struct HealthState {
    grace: Duration,
    max_failures: u32,
    failures: u32,
    passed_once: bool,
    reported: Option<bool>,
}

impl HealthState {
    /// The state before any check of `check` ran.
    pub fn new(check: &HealthCheck) -> HealthState {
        HealthState {
            grace: secs(check.grace_period_seconds),
            max_failures: check.consecutive_failures.max(1),
            failures: 0,
            passed_once: false,
            reported: None,
        }
    }

    /// Counts one check's result, `since_start` after the task started.
    pub fn record(&mut self, healthy: bool, since_start: Duration) -> Verdict {
        let mut v = Verdict::default();
        if healthy {
            self.passed_once = true;
            self.failures = 0;
        } else {
            if !self.passed_once && since_start < self.grace {
                v.ignored = true;
                return v;
            }
            self.failures = self.failures.saturating_add(1);
            v.kill = self.failures >= self.max_failures;
        }
        if self.reported != Some(healthy) {
            self.reported = Some(healthy);
            v.changed = Some(healthy);
        }
        v
    }

    /// Counted failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// The health last reported, if any was.
    pub fn reported(&self) -> Option<bool> {
        self.reported
    }
}

/// The kind of a check: its `type`, else the one of COMMAND, HTTP or TCP it carries.
fn kind_of(check: &HealthCheck) -> HealthCheckType {
    match check.kind {
        Some(k) if k != HealthCheckType::Unknown => k,
        _ if check.command.is_some() => HealthCheckType::Command,
        _ if check.http.is_some() => HealthCheckType::Http,
        _ if check.tcp.is_some() => HealthCheckType::Tcp,
        _ => HealthCheckType::Unknown,
    }
}

fn port_of(port: u32) -> Result<u16, String> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("health check port {port} is not a TCP port"))
}

/// Whether a health check can run: a known kind with its part set, a command to run,
/// a valid port, and non-negative times.
pub fn validate(check: &HealthCheck) -> Result<(), String> {
    for (name, v) in [
        ("delay_seconds", check.delay_seconds),
        ("interval_seconds", check.interval_seconds),
        ("timeout_seconds", check.timeout_seconds),
        ("grace_period_seconds", check.grace_period_seconds),
    ] {
        if v.is_nan() || v < 0.0 {
            return Err(format!("health check {name} must be non-negative, not {v}"));
        }
    }
    match kind_of(check) {
        HealthCheckType::Command => match &check.command {
            Some(c) if c.value.as_deref().is_some_and(|v| !v.is_empty()) => Ok(()),
            _ => Err("COMMAND health check has no command to run".into()),
        },
        HealthCheckType::Http => match &check.http {
            Some(h) => port_of(h.port).map(|_| ()),
            None => Err("HTTP health check has no 'http'".into()),
        },
        HealthCheckType::Tcp => match &check.tcp {
            Some(t) => port_of(t.port).map(|_| ()),
            None => Err("TCP health check has no 'tcp'".into()),
        },
        HealthCheckType::Unknown => Err("health check has no COMMAND, HTTP or TCP part".into()),
    }
}

/// Runs one check once within its `timeout_seconds` (none when zero), in `dir` for a COMMAND
/// check: `Ok` when healthy, else why not.
pub async fn check_once(check: &HealthCheck, dir: &Path) -> Result<(), String> {
    let kind = kind_of(check);
    let limit = secs(check.timeout_seconds);
    let run = async {
        match kind {
            HealthCheckType::Command => match &check.command {
                Some(c) => command_check(c, dir).await,
                None => Err("COMMAND health check has no command to run".into()),
            },
            HealthCheckType::Http => match &check.http {
                Some(h) => http_check(h).await,
                None => Err("HTTP health check has no 'http'".into()),
            },
            HealthCheckType::Tcp => match &check.tcp {
                Some(t) => tcp_check(t).await,
                None => Err("TCP health check has no 'tcp'".into()),
            },
            HealthCheckType::Unknown => Err("health check has no COMMAND, HTTP or TCP part".into()),
        }
    };
    if limit.is_zero() {
        return run.await;
    }
    match tokio::time::timeout(limit, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{} health check timed out after {}s",
            kind.as_str(),
            limit.as_secs_f64()
        )),
    }
}

/// SIGKILLs a check command's process group when the check ends or is abandoned.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.filter(|p| *p > 0) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

async fn command_check(cmd: &CommandInfo, dir: &Path) -> Result<(), String> {
    let value = cmd.value.clone().unwrap_or_default();
    let mut c = crate::os::command(cmd);
    // The check's own environment wins over the sandbox variable.
    if !cmd.env_pairs().iter().any(|(k, _)| k == "MESOS_SANDBOX") {
        c.env("MESOS_SANDBOX", dir);
    }
    c.current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run the health check command '{value}': {e}"))?;
    let _group = GroupGuard(child.id().map(|p| p as i32));
    let st = child
        .wait()
        .await
        .map_err(|e| format!("cannot wait for the health check command: {e}"))?;
    if st.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    Err(match (st.code(), st.signal()) {
        (Some(c), _) => format!("health check command exited with status {c}"),
        (None, Some(s)) => format!("health check command terminated with signal {s}"),
        _ => "health check command failed".into(),
    })
}

async fn http_check(h: &HttpCheckInfo) -> Result<(), String> {
    let scheme = h.scheme.as_deref().unwrap_or("http");
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "HTTP health check scheme '{scheme}' is not supported"
        ));
    }
    let addr = format!("127.0.0.1:{}", port_of(h.port)?);
    let path = match h.path.as_deref() {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
    };
    let headers = [
        ("User-Agent", "mesos-rs-health-check"),
        ("Connection", "close"),
    ];
    // Only the status matters: the body is left unread.
    let (head, _body) = httpc::stream(&addr, "GET", &path, &headers, b"")
        .await
        .map_err(|e| format!("HTTP health check GET http://{addr}{path} failed: {e}"))?;
    let status = u32::from(head.status);
    let healthy = if h.statuses.is_empty() {
        (200..=399).contains(&status)
    } else {
        h.statuses.contains(&status)
    };
    if healthy {
        Ok(())
    } else {
        Err(format!(
            "HTTP health check GET http://{addr}{path} returned status {status}"
        ))
    }
}

async fn tcp_check(t: &TcpCheckInfo) -> Result<(), String> {
    let port = port_of(t.port)?;
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map(drop)
        .map_err(|e| format!("TCP health check cannot connect to 127.0.0.1:{port}: {e}"))
}

/// What a health checker tells its executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthReport {
    /// The task's health is first known or changed: send TASK_RUNNING with `healthy`.
    Changed {
        /// The task.
        task_id: TaskID,
        /// Whether it is healthy.
        healthy: bool,
    },
    /// Enough checks failed in a row: kill the task. The checker has stopped.
    Kill {
        /// The task.
        task_id: TaskID,
        /// Why, with the last check's failure.
        message: String,
    },
}

/// A running health checker; dropping it (or [`Checker::stop`]) stops it, along with a check
/// command it is running.
pub struct Checker {
    handle: tokio::task::JoinHandle<()>,
}

impl Checker {
    /// Validates `check` and starts checking `task_id` now (its start time for the grace
    /// period), running COMMAND checks in `dir`; reports go to `reports`.
    pub fn spawn(
        task_id: TaskID,
        check: HealthCheck,
        dir: PathBuf,
        reports: mpsc::UnboundedSender<HealthReport>,
    ) -> Result<Checker, String> {
        validate(&check)?;
        let handle = tokio::spawn(run(task_id, check, dir, reports));
        Ok(Checker { handle })
    }

    /// Stops checking.
    pub fn stop(self) {}
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn run(
    task_id: TaskID,
    check: HealthCheck,
    dir: PathBuf,
    reports: mpsc::UnboundedSender<HealthReport>,
) {
    let start = tokio::time::Instant::now();
    let mut state = HealthState::new(&check);
    let interval = secs(check.interval_seconds).max(MIN_INTERVAL);
    tokio::time::sleep(secs(check.delay_seconds)).await;
    loop {
        let result = check_once(&check, &dir).await;
        let v = state.record(result.is_ok(), start.elapsed());
        if let Some(healthy) = v.changed {
            let r = HealthReport::Changed {
                task_id: task_id.clone(),
                healthy,
            };
            if reports.send(r).is_err() {
                return;
            }
        }
        if v.kill {
            let why = result.err().unwrap_or_default();
            let _ = reports.send(HealthReport::Kill {
                task_id,
                message: format!(
                    "Task killed: its health check failed {} times in a row ({why})",
                    state.consecutive_failures()
                ),
            });
            return;
        }
        if let (Err(why), true) = (&result, v.ignored) {
            eprintln!(
                "executor: ignoring a failed health check of task {} in its grace period: {why}",
                task_id.value
            );
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::protocol::task::{Environment, Variable, VariableType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn check(kind: HealthCheckType, grace: f64, failures: u32) -> HealthCheck {
        let mut c = HealthCheck::new(kind);
        c.grace_period_seconds = grace;
        c.consecutive_failures = failures;
        c
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_first_success_is_reported_healthy_and_repeats_are_not() {
        let mut h = HealthState::new(&check(HealthCheckType::Tcp, 10.0, 3));
        assert_eq!(
            h.record(true, S(0)),
            Verdict {
                changed: Some(true),
                ..Verdict::default()
            }
        );
        assert_eq!(h.record(true, S(1)), Verdict::default());
        assert_eq!(h.reported(), Some(true));
    }

    #[test]
    fn failures_in_the_grace_period_are_ignored_until_a_check_passes() {
        let mut h = HealthState::new(&check(HealthCheckType::Tcp, 10.0, 1));
        for t in 0..10 {
            let v = h.record(false, S(t));
            assert!(v.ignored && !v.kill && v.changed.is_none(), "{t}: {v:?}");
        }
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(h.reported(), None);
        // Past the grace period the first failure counts, is reported, and kills (1 allowed).
        assert_eq!(
            h.record(false, S(10)),
            Verdict {
                changed: Some(false),
                kill: true,
                ignored: false
            }
        );
    }

    #[test]
    fn after_a_success_failures_in_the_grace_period_count() {
        let mut h = HealthState::new(&check(HealthCheckType::Tcp, 10.0, 2));
        h.record(true, S(1));
        let v = h.record(false, S(2));
        assert_eq!(v.changed, Some(false));
        assert!(!v.ignored && !v.kill);
        assert!(h.record(false, S(3)).kill);
    }

    #[test]
    fn consecutive_failures_give_the_kill_verdict_and_a_success_resets_them() {
        let mut h = HealthState::new(&check(HealthCheckType::Tcp, 0.0, 3));
        assert_eq!(h.record(false, S(0)).changed, Some(false));
        assert!(!h.record(false, S(1)).kill);
        assert_eq!(h.consecutive_failures(), 2);
        // A pass in between starts the count again and is reported as a change.
        assert_eq!(h.record(true, S(2)).changed, Some(true));
        assert_eq!(h.consecutive_failures(), 0);
        let v = h.record(false, S(3));
        assert_eq!((v.changed, v.kill), (Some(false), false));
        assert!(!h.record(false, S(4)).kill);
        let v = h.record(false, S(5));
        assert_eq!((v.changed, v.kill), (None, true));
        assert_eq!(h.consecutive_failures(), 3);
    }

    #[test]
    fn zero_consecutive_failures_kills_on_the_first_counted_failure() {
        let mut h = HealthState::new(&check(HealthCheckType::Tcp, 0.0, 0));
        assert!(h.record(false, S(0)).kill);
    }

    #[test]
    fn validation_rejects_a_check_without_its_part_or_with_a_bad_port_or_time() {
        assert!(validate(&HealthCheck::new(HealthCheckType::Tcp)).is_err());
        assert!(validate(&HealthCheck::new(HealthCheckType::Command)).is_err());
        let mut c = HealthCheck::new(HealthCheckType::Tcp);
        c.tcp = Some(TcpCheckInfo { port: 70000 });
        assert!(validate(&c).is_err());
        c.tcp = Some(TcpCheckInfo { port: 8080 });
        assert_eq!(validate(&c), Ok(()));
        c.interval_seconds = -1.0;
        assert!(validate(&c).is_err());
        // The kind may be left out when exactly one part says it.
        let mut c = HealthCheck::new(HealthCheckType::Unknown);
        c.command = Some(CommandInfo::shell("true"));
        assert_eq!(validate(&c), Ok(()));
    }

    fn tcp(port: u16) -> HealthCheck {
        let mut c = HealthCheck::new(HealthCheckType::Tcp);
        c.tcp = Some(TcpCheckInfo { port: port.into() });
        c.timeout_seconds = 5.0;
        c
    }

    async fn closed_port() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn tcp_check_is_healthy_on_a_listener_and_unhealthy_on_a_closed_port() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(check_once(&tcp(port), Path::new("/")).await, Ok(()));
        let port = closed_port().await;
        let e = check_once(&tcp(port), Path::new("/")).await.unwrap_err();
        assert!(e.contains("cannot connect"), "{e}");
    }

    /// Serves every connection with `status`, returning the requests' first lines.
    async fn http_server(status: u16) -> (u16, mpsc::UnboundedReceiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = vec![0; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&got)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let _ = tx.send(line);
                let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        (port, rx)
    }

    fn http(port: u16, path: Option<&str>, statuses: Vec<u32>) -> HealthCheck {
        let mut c = HealthCheck::new(HealthCheckType::Http);
        c.http = Some(HttpCheckInfo {
            scheme: None,
            port: port.into(),
            path: path.map(str::to_string),
            statuses,
        });
        c.timeout_seconds = 5.0;
        c
    }

    #[tokio::test]
    async fn http_check_is_healthy_on_200_and_unhealthy_on_500() {
        let (ok, mut reqs) = http_server(200).await;
        assert_eq!(
            check_once(&http(ok, Some("/health"), vec![]), Path::new("/")).await,
            Ok(())
        );
        assert_eq!(reqs.recv().await.unwrap(), "GET /health HTTP/1.1");
        let (bad, _) = http_server(500).await;
        let e = check_once(&http(bad, None, vec![]), Path::new("/"))
            .await
            .unwrap_err();
        assert!(e.contains("status 500"), "{e}");
    }

    #[tokio::test]
    async fn http_check_counts_only_the_listed_statuses_as_healthy() {
        let (p500, _) = http_server(500).await;
        assert_eq!(
            check_once(&http(p500, None, vec![500]), Path::new("/")).await,
            Ok(())
        );
        let (p200, _) = http_server(200).await;
        assert!(check_once(&http(p200, None, vec![204]), Path::new("/"))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn http_check_with_another_scheme_is_unhealthy() {
        let (port, _) = http_server(200).await;
        let mut c = http(port, None, vec![]);
        c.http.as_mut().unwrap().scheme = Some("https".into());
        let e = check_once(&c, Path::new("/")).await.unwrap_err();
        assert!(e.contains("'https' is not supported"), "{e}");
    }

    fn command(cmd: CommandInfo, timeout: f64) -> HealthCheck {
        let mut c = HealthCheck::new(HealthCheckType::Command);
        c.command = Some(cmd);
        c.timeout_seconds = timeout;
        c
    }

    #[tokio::test]
    async fn command_check_is_healthy_on_exit_0_and_unhealthy_on_exit_1() {
        let dir = std::env::temp_dir();
        let ok = command(CommandInfo::shell("exit 0"), 5.0);
        assert_eq!(check_once(&ok, &dir).await, Ok(()));
        let bad = command(CommandInfo::shell("exit 1"), 5.0);
        let e = check_once(&bad, &dir).await.unwrap_err();
        assert!(e.contains("status 1"), "{e}");
    }

    fn want(value: &str) -> Variable {
        Variable {
            name: "WANT".into(),
            kind: VariableType::Value,
            value: Some(value.into()),
        }
    }

    #[tokio::test]
    async fn command_check_runs_in_the_sandbox_with_its_environment() {
        let dir = std::env::temp_dir().join(format!("mesos-health-{}", mesos_api::ids::new_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let mut cmd =
            CommandInfo::shell(r#"test "$(pwd -P)" = "$WANT" && test "$MESOS_SANDBOX" = "$WANT""#);
        cmd.environment = Some(Environment {
            variables: vec![want(dir.to_str().unwrap())],
        });
        assert_eq!(check_once(&command(cmd, 5.0), &dir).await, Ok(()));
        // Elsewhere the same check fails.
        let mut cmd = CommandInfo::shell(r#"test "$(pwd -P)" = "$WANT""#);
        cmd.environment = Some(Environment {
            variables: vec![want("/nonexistent")],
        });
        assert!(check_once(&command(cmd, 5.0), &dir).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn command_check_past_its_timeout_is_unhealthy() {
        let started = std::time::Instant::now();
        let slow = command(CommandInfo::shell("sleep 10"), 0.2);
        let e = check_once(&slow, &std::env::temp_dir()).await.unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn checker_reports_unhealthy_then_the_kill_verdict_and_stops() {
        let mut c = tcp(closed_port().await);
        c.delay_seconds = 0.0;
        c.interval_seconds = 0.01;
        c.grace_period_seconds = 0.0;
        c.consecutive_failures = 3;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let t = TaskID::new("t");
        let _checker = Checker::spawn(t.clone(), c, std::env::temp_dir(), tx).unwrap();
        assert_eq!(
            rx.recv().await,
            Some(HealthReport::Changed {
                task_id: t.clone(),
                healthy: false
            })
        );
        match rx.recv().await {
            Some(HealthReport::Kill { task_id, message }) => {
                assert_eq!(task_id, t);
                assert!(message.contains("failed 3 times"), "{message}");
            }
            other => panic!("expected the kill verdict, got {other:?}"),
        }
        // It stopped: the channel closes.
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn checker_reports_healthy_and_stops_when_dropped() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = tcp(l.local_addr().unwrap().port());
        c.delay_seconds = 0.0;
        c.interval_seconds = 0.01;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let t = TaskID::new("t");
        let checker = Checker::spawn(t.clone(), c, std::env::temp_dir(), tx).unwrap();
        assert_eq!(
            rx.recv().await,
            Some(HealthReport::Changed {
                task_id: t,
                healthy: true
            })
        );
        checker.stop();
        let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(end, Ok(None));
    }
}
