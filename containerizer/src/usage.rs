//! Usage collection: a container's [`ResourceStatistics`] from its isolators (cgroups, disk/du)
//! and, for posix/cpu and posix/mem (or without cgroups), from the processes of its session.

use crate::config::{Limits, ResourceStatistics};
use crate::isolators::{Isolator, IsolatorState};

/// CPU time, memory and process count of a session's processes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionUsage {
    /// User CPU seconds.
    pub user_secs: f64,
    /// System CPU seconds.
    pub system_secs: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Processes.
    pub processes: u64,
}

/// Usage of a container: its limits, what each isolator reports and, when `posix` (posix/cpu
/// or posix/mem is on) or no cgroup reports, what its session's processes use.
pub(crate) fn usage_of(
    isolators: &[Box<dyn Isolator>],
    posix: bool,
    state: &IsolatorState,
    os_pid: Option<i32>,
    limits: &Limits,
) -> ResourceStatistics {
    let mut s = ResourceStatistics {
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        cpus_limit: limits.cpus,
        mem_limit_bytes: limits.mem_bytes,
        disk_limit_bytes: limits.disk_bytes,
        ..Default::default()
    };
    for i in isolators {
        i.usage(state, &mut s);
    }
    if let (Some(os_pid), true) = (os_pid, posix || state.cgroup.is_none()) {
        let u = session_usage(os_pid);
        if s.cpus_user_time_secs.is_none() {
            s.cpus_user_time_secs = Some(u.user_secs);
            s.cpus_system_time_secs = Some(u.system_secs);
        }
        if s.mem_rss_bytes.is_none() {
            s.mem_rss_bytes = Some(u.rss_bytes);
            s.mem_total_bytes = Some(u.rss_bytes);
        }
        if s.processes.is_none() {
            s.processes = Some(u.processes);
        }
    }
    s
}

/// CPU seconds, RSS and process count of the session `sid` (a container's processes when it
/// has no cgroups of its own: its first process leads its session).
pub fn session_usage(sid: i32) -> SessionUsage {
    let tick = 100.0;
    let page = 4096u64;
    let mut u = SessionUsage::default();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return u;
    };
    for e in rd.flatten() {
        let Some(os_pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{os_pid}/stat")) else {
            continue;
        };
        // Fields after the command, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // f[0] = state (field 3), session = field 6, utime = 14, stime = 15, rss = 24.
        if f.len() < 22 || f[3].parse::<i32>().ok() != Some(sid) {
            continue;
        }
        u.processes += 1;
        u.user_secs += f[11].parse::<f64>().unwrap_or(0.0) / tick;
        u.system_secs += f[12].parse::<f64>().unwrap_or(0.0) / tick;
        u.rss_bytes += f[21].parse::<u64>().unwrap_or(0) * page;
    }
    u
}
