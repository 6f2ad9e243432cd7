//! linux/capabilities and linux/nnp, as Mesos's isolators of those names.
//!
//! linux/capabilities: a container's processes run with the effective capabilities its
//! `LinuxInfo.effective_capabilities` (else `--effective_capabilities`) names, and no others,
//! root or not: the capabilities become the process's permitted, inheritable and ambient sets
//! and root's exec-time privilege is switched off (`SECBIT_NOROOT`), so they are what the
//! command has after exec. `LinuxInfo.bounding_capabilities` (else `--bounding_capabilities`)
//! is the bounding set; an effective capability outside the agent's bounding set is refused.
//! Unset, a container keeps what its user has. linux/nnp: `no_new_privs`, so that nothing the
//! container runs gains privileges through setuid binaries or file capabilities.

use mesos_api::protocol::container::CapabilityInfo;

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::{Error, Result};
use crate::launch::Capabilities;

/// Mesos's capability names (`CapabilityInfo.Capability` without `CAP_`), by number.
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A set of capabilities as a bit mask (bit n: capability n).
pub fn mask(info: &CapabilityInfo) -> std::result::Result<u64, String> {
    let mut m = 0u64;
    for c in &info.capabilities {
        let name = c.strip_prefix("CAP_").unwrap_or(c);
        let n = NAMES
            .iter()
            .position(|x| x.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown capability '{c}'"))?;
        m |= 1 << n;
    }
    Ok(m)
}

/// A flag's `CapabilityInfo` JSON (`{"capabilities": ["NET_RAW", ...]}`), inline or a file.
pub fn parse_flag(name: &str, text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let json = if t.starts_with('{') {
        t.to_string()
    } else {
        let p = t.strip_prefix("file://").unwrap_or(t);
        std::fs::read_to_string(p)
            .map_err(|e| format!("Flag '--{name}': cannot read '{p}': {e}"))?
    };
    let info: CapabilityInfo =
        serde_json::from_str(&json).map_err(|e| format!("Flag '--{name}': {e}"))?;
    mask(&info).map_err(|e| format!("Flag '--{name}': {e}"))
}

/// The linux/capabilities isolator.
pub struct LinuxCapabilities {
    /// `--effective_capabilities`.
    pub effective: Option<u64>,
    /// `--bounding_capabilities`.
    pub bounding: Option<u64>,
}

impl Isolator for LinuxCapabilities {
    fn name(&self) -> &'static str {
        "linux/capabilities"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        let linux = config
            .container_info
            .as_ref()
            .and_then(|c| c.linux_info.as_ref());
        let asked = |c: Option<&CapabilityInfo>| {
            c.map(mask)
                .transpose()
                .map_err(|e| Error::Invalid(format!("'linux_info': {e}")))
        };
        // The deprecated `capability_info` is the effective set.
        let effective = asked(linux.and_then(|l| {
            l.effective_capabilities
                .as_ref()
                .or(l.capability_info.as_ref())
        }))?
        .or(self.effective);
        let bounding =
            asked(linux.and_then(|l| l.bounding_capabilities.as_ref()))?.or(self.bounding);
        if let (Some(agent), Some(asked)) = (self.bounding, effective) {
            let outside = asked & !agent;
            if outside != 0 {
                let names: Vec<&str> = (0..NAMES.len())
                    .filter(|n| outside & (1 << n) != 0)
                    .map(|n| NAMES[n])
                    .collect();
                return Err(Error::Invalid(format!(
                    "capabilities {names:?} are outside the agent's bounding set (--bounding_capabilities)"
                )));
            }
        }
        if effective.is_some() || bounding.is_some() {
            // The bounding set must hold the effective one.
            let bounding = match (bounding, effective) {
                (Some(b), Some(e)) => Some(b | e),
                (b, _) => b,
            };
            launch.isolation.capabilities = Some(Capabilities {
                effective,
                bounding,
            });
        }
        Ok(())
    }
}

/// The linux/nnp isolator.
pub struct LinuxNnp;

impl Isolator for LinuxNnp {
    fn name(&self) -> &'static str {
        "linux/nnp"
    }

    fn prepare(
        &self,
        _config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        launch.isolation.no_new_privs = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_are_mesos_s() {
        let info = CapabilityInfo {
            capabilities: vec!["NET_RAW".into(), "CAP_CHOWN".into()],
        };
        assert_eq!(mask(&info), Ok((1 << 13) | 1));
        let bad = CapabilityInfo {
            capabilities: vec!["FLY".into()],
        };
        assert!(mask(&bad).unwrap_err().contains("FLY"));
        assert_eq!(
            parse_flag(
                "effective_capabilities",
                r#"{"capabilities": ["SYS_ADMIN"]}"#
            ),
            Ok(1 << 21)
        );
    }
}
