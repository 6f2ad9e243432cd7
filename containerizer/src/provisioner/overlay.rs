//! The overlay backend's kernel side: overlayfs whiteouts, probing for support, mounting a
//! rootfs and finding and removing mounts when a container's rootfs is destroyed.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::uuid;
use crate::error::{Error, Result};

/// The mount data of one call must fit in a page.
const MAX_OPTIONS: usize = 4000;

/// Marks directory `dir` opaque for overlayfs (`trusted.overlay.opaque=y`).
pub(crate) fn set_opaque(dir: &Path) -> io::Result<()> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))?;
    let name = c"trusted.overlay.opaque";
    let value = b"y";
    // SAFETY: both strings are NUL-terminated and live across the call; the value pointer
    // and length describe a valid buffer.
    let rc = unsafe {
        nix::libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes an overlayfs whiteout (a 0:0 character device) at `path`.
pub(crate) fn whiteout(path: &Path) -> io::Result<()> {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(io::Error::from)
}

/// Whether an overlay mount works here: root, a lower directory in `staging` (on the store's
/// filesystem, with an opaque directory and a whiteout in it) and upper, work and mount
/// directories under `rootfs_dir`.
pub(crate) fn probe(staging: &Path, rootfs_dir: &Path) -> bool {
    if !nix::unistd::geteuid().is_root() {
        tracing::info!("the overlay backend needs root");
        return false;
    }
    let id = format!(".overlay-probe-{}", uuid());
    let (lower_root, scratch) = (staging.join(&id), rootfs_dir.join(&id));
    let result = (|| -> Result<()> {
        let lower = lower_root.join("lower");
        let opaque = lower.join("opaque");
        let (upper, work, merged) = (
            scratch.join("upper"),
            scratch.join("work"),
            scratch.join("merged"),
        );
        for d in [&opaque, &upper, &work, &merged] {
            fs::create_dir_all(d).map_err(|e| Error::io("create", d, e))?;
        }
        set_opaque(&opaque).map_err(|e| Error::io("mark opaque", &opaque, e))?;
        let wh = lower.join("gone");
        whiteout(&wh).map_err(|e| Error::io("make a whiteout", &wh, e))?;
        mount(&[lower], &upper, &work, &merged)?;
        unmount(&merged)
    })();
    let _ = fs::remove_dir_all(&scratch);
    let _ = fs::remove_dir_all(&lower_root);
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::info!("overlay mounts do not work here: {e}");
            false
        }
    }
}

/// Escapes the characters overlayfs's option parser treats specially.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Mounts overlayfs on `target` with `lowers` (top first), `upper` and `work`. When the
/// options would not fit in a page, the lower directories are named through short
/// symlinks in a temporary directory (overlayfs resolves them at mount time).
pub(crate) fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    if lowers.is_empty() {
        return Err(Error::Invalid("an overlay needs at least one layer".into()));
    }
    let options = |lowers: &[String]| {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            escape(upper),
            escape(work)
        )
    };
    let mut opts = options(&lowers.iter().map(|l| escape(l)).collect::<Vec<_>>());
    let mut links = None;
    if opts.len() > MAX_OPTIONS {
        let dir = std::env::temp_dir().join(format!("ovl-{}", &uuid()[..8]));
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let mut short = Vec::new();
        for (i, l) in lowers.iter().enumerate() {
            let link = dir.join(i.to_string());
            if let Err(e) = std::os::unix::fs::symlink(l, &link) {
                let _ = fs::remove_dir_all(&dir);
                return Err(Error::io("create the link", &link, e));
            }
            short.push(escape(&link));
        }
        opts = options(&short);
        links = Some(dir);
    }
    let result = if opts.len() > MAX_OPTIONS {
        Err(Error::Unsupported(format!(
            "{} layers are too many for one overlay mount",
            lowers.len()
        )))
    } else {
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| Error::io("mount overlay on", target, io::Error::from(e)))
    };
    if let Some(dir) = links {
        let _ = fs::remove_dir_all(dir);
    }
    result
}

/// Unmounts `path` (lazily when it is busy).
pub(crate) fn unmount(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => nix::mount::umount2(path, MntFlags::MNT_DETACH)
            .map_err(|e| Error::io("unmount", path, io::Error::from(e))),
        Err(e) => Err(Error::io("unmount", path, io::Error::from(e))),
    }
}

/// Mount points at or under `dir`, deepest first (from `/proc/self/mountinfo`).
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| m.starts_with(&dir))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found
}

/// Whether `path` is a mount point.
#[cfg(test)]
pub(crate) fn is_mount_point(path: &Path) -> bool {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mounts_under(&path).contains(&path)
}

/// Decodes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = i + 4 <= b.len()
            && b[i] == b'\\'
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if octal {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}
