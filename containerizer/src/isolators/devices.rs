//! Devices, as Mesos's isolators of these names:
//!
//! - cgroups/devices: a container may use only the standard devices (Mesos's list: the
//!   console, `tty0`, `tty1`, `pts/*`, `ptmx`, `net/tun`, `null`, `zero`, `full`, `tty`,
//!   `urandom`, `random`) and those of `--allowed_devices`, with the access given there, through
//!   the v1 devices controller (v2 would need eBPF programs: refused at start).
//! - linux/devices: a container with an image of its own gets a `/dev` of its own (a tmpfs) with
//!   the standard nodes, `pts`, `shm`, the `fd` links, and the `--allowed_devices` nodes, rather
//!   than the host's `/dev`. A command task's image gets the same from its executor.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::cgroups::own;
use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::{ContainerConfig, ImageUse, TASK_DEVICES_ENV};
use crate::error::Result;

/// Every container's devices (the rules Mesos's cgroups/devices always allows).
const STANDARD_RULES: &[&str] = &[
    "c *:* m",      // mknod of any character device
    "b *:* m",      // mknod of any block device
    "c 5:1 rwm",    // /dev/console
    "c 4:0 rwm",    // /dev/tty0
    "c 4:1 rwm",    // /dev/tty1
    "c 136:* rwm",  // /dev/pts/*
    "c 5:2 rwm",    // /dev/ptmx
    "c 10:200 rwm", // /dev/net/tun
    "c 1:3 rwm",    // /dev/null
    "c 1:5 rwm",    // /dev/zero
    "c 1:7 rwm",    // /dev/full
    "c 5:0 rwm",    // /dev/tty
    "c 1:9 rwm",    // /dev/urandom
    "c 1:8 rwm",    // /dev/random
];

/// The nodes of a container's own `/dev` (linux/devices) before the allowed ones.
pub const STANDARD_NODES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
];

/// One device of `--allowed_devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedDevice {
    /// Its node on the host.
    pub path: PathBuf,
    /// Its devices cgroup rule (`c 10:229 rw`).
    pub rule: String,
}

#[derive(Deserialize)]
struct Flag {
    allowed_devices: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    device: Device,
    #[serde(default)]
    access: Access,
}

#[derive(Deserialize)]
struct Device {
    path: String,
}

#[derive(Default, Deserialize)]
struct Access {
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    #[serde(default)]
    mknod: bool,
}

/// Reads `--allowed_devices` (inline JSON, or a file with or without `file://`): each device
/// must exist on this machine as a character or block device under `/dev`, with some access.
pub fn parse_allowed_devices(text: &str) -> std::result::Result<Vec<AllowedDevice>, String> {
    let bad = |why: String| format!("Flag '--allowed_devices': {why}");
    let json = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        let p = text.strip_prefix("file://").unwrap_or(text);
        std::fs::read_to_string(p).map_err(|e| bad(format!("cannot read '{p}': {e}")))?
    };
    let flag: Flag = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for e in flag.allowed_devices {
        let path = PathBuf::from(&e.device.path);
        if !path.starts_with("/dev/") {
            return Err(bad(format!("'{}' is not under /dev", path.display())));
        }
        let m =
            std::fs::metadata(&path).map_err(|err| bad(format!("'{}': {err}", path.display())))?;
        let kind = if m.file_type().is_char_device() {
            'c'
        } else if m.file_type().is_block_device() {
            'b'
        } else {
            return Err(bad(format!("'{}' is not a device", path.display())));
        };
        let access: String = [
            (e.access.read, 'r'),
            (e.access.write, 'w'),
            (e.access.mknod, 'm'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        if access.is_empty() {
            return Err(bad(format!(
                "'{}' is given no access (read, write or mknod)",
                path.display()
            )));
        }
        let rdev = m.rdev();
        let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
        out.push(AllowedDevice {
            path,
            rule: format!("{kind} {major}:{minor} {access}"),
        });
    }
    Ok(out)
}

/// The cgroups/devices isolator.
pub struct CgroupsDevices {
    /// `--allowed_devices`.
    pub allowed: Vec<AllowedDevice>,
}

impl Isolator for CgroupsDevices {
    fn name(&self) -> &'static str {
        "cgroups/devices"
    }

    fn prepare(
        &self,
        _: &ContainerConfig,
        s: &mut IsolatorState,
        _: &mut LaunchInfo,
    ) -> Result<()> {
        // A nested container is in its parent's cgroup, under its parent's rules.
        let Some(cg) = own(s) else {
            return Ok(());
        };
        let rules: Vec<String> = STANDARD_RULES
            .iter()
            .map(|r| r.to_string())
            .chain(self.allowed.iter().map(|d| d.rule.clone()))
            .collect();
        cg.allow_only_devices(&rules)
    }
}

/// The linux/devices isolator.
pub struct LinuxDevices {
    /// `--allowed_devices`.
    pub allowed: Vec<AllowedDevice>,
}

impl LinuxDevices {
    /// The nodes of a container's own `/dev`.
    fn nodes(&self) -> Vec<PathBuf> {
        // `ptmx` and `pts` come with the container's own devpts.
        let own = |p: &PathBuf| p.starts_with("/dev/pts") || p == Path::new("/dev/ptmx");
        let mut v: Vec<PathBuf> = STANDARD_NODES.iter().map(PathBuf::from).collect();
        for d in &self.allowed {
            if !own(&d.path) && !v.contains(&d.path) {
                v.push(d.path.clone());
            }
        }
        v
    }
}

impl Isolator for LinuxDevices {
    fn name(&self) -> &'static str {
        "linux/devices"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        if launch.isolation.rootfs.is_some() {
            launch.isolation.devices = Some(self.nodes());
        } else if config.image_use == ImageUse::ForTask
            && launch
                .env
                .iter()
                .any(|(k, _)| k == crate::config::TASK_ROOTFS_ENV)
        {
            // The command executor makes its task's /dev.
            let list: Vec<String> = self
                .nodes()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            launch.env.push((TASK_DEVICES_ENV.into(), list.join(":")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_devices_are_read_as_mesos_writes_them() {
        let d = parse_allowed_devices(
            r#"{"allowed_devices": [{"device": {"path": "/dev/null"},
                "access": {"read": true, "write": true}}]}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            [AllowedDevice {
                path: "/dev/null".into(),
                rule: "c 1:3 rw".into()
            }]
        );
        for (bad, says) in [
            (
                r#"{"allowed_devices": [{"device": {"path": "/etc/passwd"}, "access": {"read": true}}]}"#,
                "not under /dev",
            ),
            (
                r#"{"allowed_devices": [{"device": {"path": "/dev/nonesuch"}, "access": {"read": true}}]}"#,
                "/dev/nonesuch",
            ),
            (
                r#"{"allowed_devices": [{"device": {"path": "/dev/null"}}]}"#,
                "no access",
            ),
            (r#"{"allowed": []}"#, "allowed_devices"),
            ("/nonexistent/file.json", "cannot read"),
        ] {
            let e = parse_allowed_devices(bad).unwrap_err();
            assert!(
                e.starts_with("Flag '--allowed_devices'") && e.contains(says),
                "{e}"
            );
        }
    }
}
