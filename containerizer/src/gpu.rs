//! gpu/nvidia: finds NVIDIA devices (`/dev/nvidia<N>`), hands whole GPUs to containers that
//! ask for `gpus`, and writes the devices cgroup allow-list (v1) so a container sees only its
//! own GPUs plus the control devices. Where no GPU exists the isolator is off and says why.

use std::path::Path;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The NVIDIA character device major number.
const NVIDIA_MAJOR: u32 = 195;

/// The machine's GPUs and which container holds each.
pub struct Gpus {
    minors: Vec<u32>,
    held: Mutex<Vec<(u32, String)>>,
    why_none: Option<String>,
}

impl Gpus {
    /// No GPUs, with the reason.
    pub fn none(why: &str) -> Gpus {
        Gpus {
            minors: Vec::new(),
            held: Mutex::new(Vec::new()),
            why_none: Some(why.into()),
        }
    }

    /// Finds `/dev/nvidia<N>` devices (limited to `only` if given).
    pub fn discover(only: Option<&[u32]>) -> Gpus {
        Gpus::discover_in(Path::new("/dev"), only)
    }

    fn discover_in(dev: &Path, only: Option<&[u32]>) -> Gpus {
        let mut minors: Vec<u32> = std::fs::read_dir(dev)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_prefix("nvidia").and_then(|d| d.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(o) = only {
            minors.retain(|m| o.contains(m));
        }
        minors.sort();
        if minors.is_empty() {
            let why = format!(
                "gpu/nvidia: no NVIDIA GPU on this machine (no {}/nvidia<N> devices)",
                dev.display()
            );
            tracing::warn!("{why}");
            return Gpus::none(&why);
        }
        tracing::info!(?minors, "found NVIDIA GPUs");
        Gpus {
            minors,
            held: Mutex::new(Vec::new()),
            why_none: None,
        }
    }

    /// How many GPUs there are.
    pub fn count(&self) -> usize {
        self.minors.len()
    }

    /// Why there are none, when there are none.
    pub fn why_none(&self) -> Option<&str> {
        self.why_none.as_deref()
    }

    /// Gives `n` free GPUs to `container`; their minor numbers.
    pub fn allocate(&self, container: &str, n: usize) -> Result<Vec<u32>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(w) = &self.why_none {
            return Err(Error::Unsupported(w.clone()));
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let free: Vec<u32> = self
            .minors
            .iter()
            .copied()
            .filter(|m| !held.iter().any(|(h, _)| h == m))
            .take(n)
            .collect();
        if free.len() < n {
            return Err(Error::Invalid(format!(
                "asked for {n} GPUs but only {} are free",
                free.len()
            )));
        }
        for m in &free {
            held.push((*m, container.to_string()));
        }
        Ok(free)
    }

    /// Returns a container's GPUs.
    pub fn release(&self, container: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, c)| c != container);
    }

    /// The devices cgroup lines for a container holding `mine`: deny every GPU, allow its own
    /// and the control devices (nvidiactl 255, nvidia-uvm).
    pub fn device_rules(&self, mine: &[u32]) -> (Vec<String>, Vec<String>) {
        let deny = self
            .minors
            .iter()
            .filter(|m| !mine.contains(m))
            .map(|m| format!("c {NVIDIA_MAJOR}:{m} rwm"))
            .collect();
        let mut allow: Vec<String> = mine
            .iter()
            .map(|m| format!("c {NVIDIA_MAJOR}:{m} rwm"))
            .collect();
        allow.push(format!("c {NVIDIA_MAJOR}:255 rwm"));
        (deny, allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_devices_means_no_gpus_with_a_reason_and_fake_devices_are_allocated_once() {
        let dir = std::env::temp_dir().join(format!("gpu-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let g = Gpus::discover_in(&dir, None);
        assert_eq!(g.count(), 0);
        assert!(g.why_none().unwrap().contains("no NVIDIA GPU"));
        assert!(g.allocate("c", 1).is_err());
        for n in ["nvidia0", "nvidia1", "nvidiactl"] {
            std::fs::write(dir.join(n), "").unwrap();
        }
        let g = Gpus::discover_in(&dir, None);
        assert_eq!(g.count(), 2);
        assert_eq!(g.allocate("a", 1).unwrap(), vec![0]);
        assert_eq!(g.allocate("b", 1).unwrap(), vec![1]);
        assert!(g.allocate("c", 1).is_err());
        let (deny, allow) = g.device_rules(&[1]);
        assert_eq!(deny, vec!["c 195:0 rwm"]);
        assert!(allow.contains(&"c 195:1 rwm".to_string()));
        g.release("a");
        assert_eq!(g.allocate("c", 1).unwrap(), vec![0]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
