//! Control groups, v1 and v2, detected at start: one cgroup per container under
//! `<hierarchy>/<controller>/<cgroups_root>/<container>` (v1) or
//! `<unified>/<cgroups_root>/<container>` (v2). Limits (cpu shares and CFS quota, memory,
//! pids), statistics, OOM kill counts, and destruction (freeze, kill every process, remove).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A cgroup controller (a v1 subsystem).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    /// cpu shares and CFS bandwidth.
    Cpu,
    /// cpu accounting (v1 only; v2's `cpu.stat` has it).
    Cpuacct,
    /// memory.
    Memory,
    /// process count.
    Pids,
    /// freezing for destruction (v1 only; v2 has `cgroup.freeze`).
    Freezer,
    /// the devices allow-list (v1 only).
    Devices,
}

impl Controller {
    /// The subsystem's name.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Devices => "devices",
        }
    }
}

/// Which cgroup version is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// The machine's cgroups, as found at start.
#[derive(Clone, Debug)]
pub struct Cgroups {
    version: Version,
    /// v1: the directory holding one mount per controller; v2: the unified mount.
    base: PathBuf,
    root: String,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn write(p: &Path, v: &str) -> Result<()> {
    std::fs::write(p, v).map_err(|e| Error::io("cannot write", p, e))
}

fn v2_controllers(dir: &Path) -> Vec<String> {
    read(&dir.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

impl Cgroups {
    /// Finds the cgroups under `hierarchy` (`/sys/fs/cgroup`): v2 when the unified hierarchy
    /// (there, or at `unified/`) has the memory controller, else v1 when the controllers are
    /// mounted one per directory. The error says why neither works.
    pub fn detect(hierarchy: &Path, root: &str) -> std::result::Result<Cgroups, String> {
        for dir in [hierarchy.to_path_buf(), hierarchy.join("unified")] {
            if v2_controllers(&dir).iter().any(|c| c == "memory") {
                return Ok(Cgroups {
                    version: Version::V2,
                    base: dir,
                    root: root.into(),
                });
            }
        }
        if hierarchy.join("memory").join("cgroup.procs").exists()
            && hierarchy.join("cpu").join("cgroup.procs").exists()
        {
            return Ok(Cgroups {
                version: Version::V1,
                base: hierarchy.into(),
                root: root.into(),
            });
        }
        Err(format!(
            "no usable cgroups under '{}': neither a cgroup v2 hierarchy with the memory controller nor v1 cpu and memory hierarchies",
            hierarchy.display()
        ))
    }

    /// Forces a version at a base directory (tests).
    pub fn at(version: Version, base: impl Into<PathBuf>, root: &str) -> Cgroups {
        Cgroups {
            version,
            base: base.into(),
            root: root.into(),
        }
    }

    /// The version in use.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether a controller can be used.
    pub fn has(&self, c: Controller) -> bool {
        match self.version {
            Version::V1 => self.base.join(c.name()).join("cgroup.procs").exists(),
            Version::V2 => match c {
                Controller::Cpuacct => v2_controllers(&self.base).iter().any(|x| x == "cpu"),
                Controller::Freezer => true,
                Controller::Devices => false,
                _ => v2_controllers(&self.base).iter().any(|x| x == c.name()),
            },
        }
    }

    fn dir(&self, c: Controller, name: &str) -> PathBuf {
        match self.version {
            Version::V1 => self.base.join(c.name()).join(&self.root).join(name),
            Version::V2 => self.base.join(&self.root).join(name),
        }
    }

    /// A handle on the cgroup `name` (under the root) for `controllers`, without creating it.
    pub fn open(&self, name: &str, controllers: &[Controller]) -> Cgroup {
        let mut dirs: Vec<(Controller, PathBuf)> = Vec::new();
        for &c in controllers {
            if self.version == Version::V2 && matches!(c, Controller::Devices) {
                continue;
            }
            dirs.push((c, self.dir(c, name)));
        }
        Cgroup {
            version: self.version,
            dirs,
        }
    }

    /// Creates the cgroup `name` (under the root) in each controller's hierarchy. On v2 the
    /// root's controllers are enabled for its children first.
    pub fn create(&self, name: &str, controllers: &[Controller]) -> Result<Cgroup> {
        if self.version == Version::V2 {
            self.enable_v2(name, controllers)?;
        }
        let cg = self.open(name, controllers);
        for d in cg.unique_dirs() {
            std::fs::create_dir_all(&d).map_err(|e| Error::io("cannot create cgroup", &d, e))?;
        }
        Ok(cg)
    }

    fn enable_v2(&self, name: &str, controllers: &[Controller]) -> Result<()> {
        let mut want = String::new();
        for c in controllers {
            match c {
                Controller::Cpu | Controller::Memory | Controller::Pids => {
                    want.push('+');
                    want.push_str(c.name());
                    want.push(' ');
                }
                _ => {}
            }
        }
        let want = want.trim_end();
        if want.is_empty() {
            return Ok(());
        }
        // Every ancestor of the new cgroup passes the controllers down.
        let mut dir = self.base.clone();
        let mut parts = vec![self.root.as_str()];
        let n: Vec<&str> = name.split('/').collect();
        parts.extend(&n[..n.len().saturating_sub(1)]);
        for p in parts {
            write(&dir.join("cgroup.subtree_control"), want)?;
            dir = dir.join(p);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io("cannot create cgroup", &dir, e))?;
        }
        write(&dir.join("cgroup.subtree_control"), want)
    }

    /// The cgroups of containers found under the root (recovery), as names.
    pub fn containers(&self) -> Vec<String> {
        let dir = match self.version {
            Version::V1 => self.base.join("memory").join(&self.root),
            Version::V2 => self.base.join(&self.root),
        };
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out
    }
}

/// Usage read from a container's cgroups; absent values were not available.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CgroupStats {
    /// CPU time in user mode, seconds.
    pub cpus_user_time_secs: Option<f64>,
    /// CPU time in kernel mode, seconds.
    pub cpus_system_time_secs: Option<f64>,
    /// CFS periods elapsed.
    pub cpus_nr_periods: Option<u64>,
    /// CFS periods throttled.
    pub cpus_nr_throttled: Option<u64>,
    /// Time throttled, seconds.
    pub cpus_throttled_time_secs: Option<f64>,
    /// Memory in use, bytes.
    pub mem_total_bytes: Option<u64>,
    /// Anonymous (RSS) memory, bytes.
    pub mem_rss_bytes: Option<u64>,
    /// Page cache, bytes.
    pub mem_cache_bytes: Option<u64>,
    /// The limit, bytes.
    pub mem_limit_bytes: Option<u64>,
    /// The highest use seen, bytes.
    pub mem_max_bytes: Option<u64>,
    /// Processes.
    pub processes: Option<u64>,
}

/// One container's cgroup, in each controller's hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroup {
    version: Version,
    dirs: Vec<(Controller, PathBuf)>,
}

fn kv(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

fn num(p: &Path) -> Option<u64> {
    read(p).and_then(|s| s.trim().parse().ok())
}

impl Cgroup {
    /// The directories (one per v1 hierarchy; one on v2).
    pub fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = Vec::new();
        for (_, d) in &self.dirs {
            if !v.contains(d) {
                v.push(d.clone());
            }
        }
        v
    }

    /// The `cgroup.procs` files a process writes `0` to in order to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.unique_dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    fn path(&self, c: Controller) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(x, _)| {
                *x == c
                    || (self.version == Version::V2
                        && matches!((x, c), (Controller::Cpu, Controller::Cpuacct)))
            })
            .map(|(_, d)| d.as_path())
    }

    /// Whether the cgroup covers `c`.
    pub fn has(&self, c: Controller) -> bool {
        self.path(c).is_some()
    }

    /// Moves `pid` in (`0`: the caller).
    pub fn add(&self, pid: i32) -> Result<()> {
        for f in self.procs_files() {
            write(&f, &pid.to_string())?;
        }
        Ok(())
    }

    /// CPU shares (1024 per cpu, at least 2) and, with `cfs`, a quota of `cpus` per 100 ms.
    pub fn set_cpus(&self, cpus: f64, cfs: bool) -> Result<()> {
        let Some(d) = self.path(Controller::Cpu) else {
            return Ok(());
        };
        let shares = ((cpus * 1024.0) as u64).max(2);
        let period = 100_000u64;
        let quota = ((cpus * period as f64) as u64).max(1000);
        match self.version {
            Version::V1 => {
                write(&d.join("cpu.shares"), &shares.to_string())?;
                if cfs {
                    write(&d.join("cpu.cfs_period_us"), &period.to_string())?;
                    write(&d.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
            Version::V2 => {
                // The kernel's mapping from v1 shares to v2 weights.
                let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                write(&d.join("cpu.weight"), &weight.to_string())?;
                if cfs {
                    write(&d.join("cpu.max"), &format!("{quota} {period}"))?;
                }
            }
        }
        Ok(())
    }

    /// The memory limit (and the v1 soft limit), bytes.
    pub fn set_memory(&self, bytes: u64) -> Result<()> {
        let Some(d) = self.path(Controller::Memory) else {
            return Ok(());
        };
        match self.version {
            Version::V1 => {
                write(&d.join("memory.soft_limit_in_bytes"), &bytes.to_string())?;
                write(&d.join("memory.limit_in_bytes"), &bytes.to_string())
            }
            Version::V2 => {
                // Keep the container out of swap so that the limit is the limit.
                let _ = write(&d.join("memory.swap.max"), "0");
                write(&d.join("memory.max"), &bytes.to_string())
            }
        }
    }

    /// The devices it may use (v1 devices controller): none, then each rule (`c 1:3 rwm`).
    pub fn allow_only_devices(&self, rules: &[String]) -> Result<()> {
        let Some(d) = self.path(Controller::Devices) else {
            return Ok(());
        };
        write(&d.join("devices.deny"), "a")?;
        for r in rules {
            write(&d.join("devices.allow"), r)?;
        }
        Ok(())
    }

    /// The process limit.
    pub fn set_pids_max(&self, n: u64) -> Result<()> {
        match self.path(Controller::Pids) {
            Some(d) => write(&d.join("pids.max"), &n.to_string()),
            None => Ok(()),
        }
    }

    /// How many processes the kernel's OOM killer killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(d) = self.path(Controller::Memory) else {
            return 0;
        };
        match self.version {
            Version::V1 => read(&d.join("memory.oom_control"))
                .and_then(|s| kv(&s, "oom_kill"))
                .unwrap_or(0),
            Version::V2 => read(&d.join("memory.events"))
                .and_then(|s| kv(&s, "oom_kill"))
                .unwrap_or(0),
        }
    }

    /// Usage figures.
    pub fn stats(&self) -> CgroupStats {
        let mut s = CgroupStats::default();
        match self.version {
            Version::V1 => {
                if let Some(d) = self.path(Controller::Cpuacct) {
                    if let Some(t) = read(&d.join("cpuacct.stat")) {
                        let hz = 100.0;
                        s.cpus_user_time_secs = kv(&t, "user").map(|v| v as f64 / hz);
                        s.cpus_system_time_secs = kv(&t, "system").map(|v| v as f64 / hz);
                    }
                }
                if let Some(d) = self.path(Controller::Cpu) {
                    if let Some(t) = read(&d.join("cpu.stat")) {
                        s.cpus_nr_periods = kv(&t, "nr_periods");
                        s.cpus_nr_throttled = kv(&t, "nr_throttled");
                        s.cpus_throttled_time_secs =
                            kv(&t, "throttled_time").map(|v| v as f64 / 1e9);
                    }
                }
                if let Some(d) = self.path(Controller::Memory) {
                    s.mem_total_bytes = num(&d.join("memory.usage_in_bytes"));
                    s.mem_limit_bytes = num(&d.join("memory.limit_in_bytes"));
                    s.mem_max_bytes = num(&d.join("memory.max_usage_in_bytes"));
                    if let Some(t) = read(&d.join("memory.stat")) {
                        s.mem_rss_bytes = kv(&t, "total_rss");
                        s.mem_cache_bytes = kv(&t, "total_cache");
                    }
                }
            }
            Version::V2 => {
                if let Some(d) = self.path(Controller::Cpu) {
                    if let Some(t) = read(&d.join("cpu.stat")) {
                        s.cpus_user_time_secs = kv(&t, "user_usec").map(|v| v as f64 / 1e6);
                        s.cpus_system_time_secs = kv(&t, "system_usec").map(|v| v as f64 / 1e6);
                        s.cpus_nr_periods = kv(&t, "nr_periods");
                        s.cpus_nr_throttled = kv(&t, "nr_throttled");
                        s.cpus_throttled_time_secs =
                            kv(&t, "throttled_usec").map(|v| v as f64 / 1e6);
                    }
                }
                if let Some(d) = self.path(Controller::Memory) {
                    s.mem_total_bytes = num(&d.join("memory.current"));
                    s.mem_limit_bytes = num(&d.join("memory.max"));
                    s.mem_max_bytes = num(&d.join("memory.peak"));
                    if let Some(t) = read(&d.join("memory.stat")) {
                        s.mem_rss_bytes = kv(&t, "anon");
                        s.mem_cache_bytes = kv(&t, "file");
                    }
                }
            }
        }
        if let Some(d) = self.path(Controller::Pids) {
            s.processes = num(&d.join("pids.current"));
        }
        s
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = Vec::new();
        for f in self.procs_files() {
            if let Some(t) = read(&f) {
                for p in t.lines().filter_map(|l| l.trim().parse().ok()) {
                    if !v.contains(&p) {
                        v.push(p);
                    }
                }
            }
        }
        v
    }

    fn freeze(&self, frozen: bool) {
        match self.version {
            Version::V1 => {
                if let Some(d) = self.path(Controller::Freezer) {
                    let _ = write(
                        &d.join("freezer.state"),
                        if frozen { "FROZEN" } else { "THAWED" },
                    );
                }
            }
            Version::V2 => {
                if let Some(d) = self.dirs.first().map(|(_, d)| d) {
                    let _ = write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" });
                }
            }
        }
    }

    /// Kills every process in the cgroup (frozen first, so none can fork away) and removes the
    /// cgroup's directories. Blocking; gives up after `limit`.
    pub fn destroy(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let kill_file = (self.version == Version::V2)
            .then(|| self.dirs.first().map(|(_, d)| d.join("cgroup.kill")))
            .flatten()
            .filter(|f| f.exists());
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            if let Some(k) = &kill_file {
                let _ = write(k, "1");
            } else {
                self.freeze(true);
                for p in &pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(*p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                self.freeze(false);
            }
            if Instant::now() > deadline {
                return Err(Error::Launch(format!(
                    "processes {pids:?} survived SIGKILL in '{}'",
                    self.dirs[0].1.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut dirs = self.unique_dirs();
        // Children (nested containers) before parents.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            remove_tree(&d, deadline)?;
        }
        Ok(())
    }
}

/// Removes a cgroup directory and any cgroups below it, deepest first.
fn remove_tree(d: &Path, deadline: Instant) -> Result<()> {
    if !d.exists() {
        return Ok(());
    }
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path(), deadline)?;
            }
        }
    }
    loop {
        match std::fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                // EBUSY while the last exiting processes leave.
                tracing::trace!("rmdir {}: {e}", d.display());
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::io("cannot remove cgroup", d, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parse_v1_and_v2_files() {
        let base = std::env::temp_dir().join(format!("cg-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // v2: a fake unified hierarchy.
        let v2 = Cgroups::at(Version::V2, &base, "mesos");
        let cg = v2.open(
            "c1",
            &[Controller::Cpu, Controller::Memory, Controller::Pids],
        );
        let d = base.join("mesos/c1");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("cpu.stat"),
            "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 500000\n",
        )
        .unwrap();
        std::fs::write(d.join("memory.current"), "4096\n").unwrap();
        std::fs::write(
            d.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(d.join("pids.current"), "7\n").unwrap();
        let s = cg.stats();
        assert_eq!(s.cpus_user_time_secs, Some(2.0));
        assert_eq!(s.cpus_nr_throttled, Some(4));
        assert_eq!(s.cpus_throttled_time_secs, Some(0.5));
        assert_eq!(s.mem_total_bytes, Some(4096));
        assert_eq!(s.processes, Some(7));
        assert_eq!(cg.oom_kills(), 1);
        // v1: one directory per controller.
        let v1 = Cgroups::at(Version::V1, &base, "mesos");
        let cg = v1.open("c2", &[Controller::Cpu, Controller::Memory]);
        let m = base.join("memory/mesos/c2");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 2);
        assert_eq!(cg.procs_files().len(), 2);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn detect_prefers_a_unified_hierarchy_with_memory_and_explains_failure() {
        let base = std::env::temp_dir().join(format!("cg-detect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("unified")).unwrap();
        std::fs::write(base.join("unified/cgroup.controllers"), "cpu memory pids\n").unwrap();
        let c = Cgroups::detect(&base, "mesos").unwrap();
        assert_eq!(c.version(), Version::V2);
        std::fs::write(base.join("unified/cgroup.controllers"), "\n").unwrap();
        let e = Cgroups::detect(&base, "mesos").unwrap_err();
        assert!(e.contains("no usable cgroups"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
