//! What the agent offers: detected cpus, mem, disk, ports and GPUs, overridden by `--resources`.

use std::path::Path;

use mesos_api::{Resource, Resources};

/// Mesos's default port range.
pub const DEFAULT_PORTS: (u64, u64) = (31000, 32000);

/// Memory in MB left to the operating system: 1 GB, or half of a smaller machine.
fn usable_mb(total_mb: f64, keep_mb: f64) -> f64 {
    if total_mb >= 2.0 * keep_mb {
        total_mb - keep_mb
    } else {
        total_mb / 2.0
    }
}

fn total_memory_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn disk_mb(dir: &Path) -> Option<f64> {
    let mut p = dir;
    // The work dir may not exist yet: measure its nearest existing ancestor.
    while !p.exists() {
        p = p.parent()?;
    }
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    Some(st.blocks() as f64 * st.fragment_size() as f64 / (1024.0 * 1024.0))
}

/// GPUs: one per `/dev/nvidia<N>`.
fn gpus() -> usize {
    std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.strip_prefix("nvidia").is_some_and(|rest| {
                        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

/// The detected resources, before `--resources`.
pub fn detect(work_dir: &Path) -> Resources {
    let mut r = Resources::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    r.add(&Resource::scalar("cpus", cpus as f64));
    if let Some(mb) = total_memory_mb() {
        r.add(&Resource::scalar("mem", usable_mb(mb, 1024.0).floor()));
    }
    if let Some(mb) = disk_mb(work_dir) {
        r.add(&Resource::scalar("disk", usable_mb(mb, 5120.0).floor()));
    }
    r.add(&Resource::ranges("ports", [DEFAULT_PORTS]));
    let g = gpus();
    if g > 0 {
        r.add(&Resource::scalar("gpus", g as f64));
    }
    r
}

/// The agent's resources: `--resources` where it names a resource, detection for the rest of
/// cpus, mem, disk, ports (and gpus when present).
pub fn agent_resources(
    flag: Option<&str>,
    default_role: &str,
    work_dir: &Path,
) -> mesos_api::Result<Resources> {
    let given = match flag {
        Some(text) => Resources::parse_flag(text, default_role)?,
        None => Resources::new(),
    };
    let mut out = given.clone();
    for d in detect(work_dir).iter() {
        if !given.iter().any(|g| g.name == d.name) {
            out.add(d);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_overrides_by_name_and_detection_fills_the_rest() {
        let dir = std::env::temp_dir();
        let r = agent_resources(Some("cpus:3;mem:100"), "*", &dir).unwrap();
        assert_eq!(r.cpus(), 3.0);
        assert_eq!(r.mem(), 100.0);
        assert_eq!(r.ranges("ports").count(), 1001);
        assert!(r.scalar("disk").as_f64() > 0.0);
    }

    #[test]
    fn bad_resources_flag_is_an_error() {
        assert!(agent_resources(Some("cpus:abc"), "*", Path::new("/")).is_err());
    }

    #[test]
    fn memory_keeps_a_gigabyte_or_half() {
        assert_eq!(usable_mb(8192.0, 1024.0), 7168.0);
        assert_eq!(usable_mb(1024.0, 1024.0), 512.0);
    }
}
