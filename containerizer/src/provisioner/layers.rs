//! Walking a layer's tree onto a target: the copy backend's layer application and the
//! conversion of a layer to overlayfs form.
//!
//! A layer on disk holds Docker/OCI whiteouts as plain files: `.wh.<name>` hides `<name>` of
//! the layers below, `.wh..wh..opq` in a directory hides everything the layers below have in
//! it. Other `.wh..wh.*` names (aufs bookkeeping) are ignored, and no whiteout file is ever
//! copied.
//!
//! Regular files are copied (keeping hard links within a layer), symlinks recreated without
//! following them, devices and fifos made with `mknod`; owners, modes (setuid bits included:
//! the mode is set after the owner) and modification times are kept.

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknod, utimensat, Mode as Perm, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::overlay;
use crate::error::{Error, Result};

/// The whiteout prefix.
const WH: &str = ".wh.";
/// The opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";
/// The prefix of aufs meta files (and of [`OPAQUE`]).
const WH_META: &str = ".wh..wh.";

/// What a walk does with a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Copy backend: merge the layer onto the tree of the layers below (in `dst`), removing
    /// what its whiteouts hide.
    Apply,
    /// Overlay form: make a new tree at `dst` whose whiteouts are overlayfs's (0:0 character
    /// devices, `trusted.overlay.opaque=y`); regular files are hard links to `src`'s.
    Convert,
}

/// Walks the layer tree `src` onto `dst` (see [`Mode`]). `dst` is created if missing.
pub(crate) fn apply(src: &Path, dst: &Path, mode: Mode) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(|e| Error::io("read the layer", src, e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "layer '{}' is not a directory",
            src.display()
        )));
    }
    Walker {
        mode,
        links: HashMap::new(),
    }
    .dir(src, dst, &meta)
}

struct Walker {
    mode: Mode,
    /// (device, inode) of multiply-linked source files -> their first copy.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Walker {
    fn dir(&mut self, src: &Path, dst: &Path, meta: &fs::Metadata) -> Result<()> {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                // A lower non-directory (a symlink included) is replaced, never followed.
                fs::remove_file(dst).map_err(|e| Error::io("remove", dst, e))?;
                fs::create_dir(dst).map_err(|e| Error::io("create", dst, e))?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir(dst).map_err(|e| Error::io("create", dst, e))?;
            }
            Err(e) => return Err(Error::io("inspect", dst, e)),
        }
        let mut names: Vec<String> = Vec::new();
        for entry in fs::read_dir(src).map_err(|e| Error::io("read", src, e))? {
            let entry = entry.map_err(|e| Error::io("read", src, e))?;
            match entry.file_name().into_string() {
                Ok(n) => names.push(n),
                Err(raw) => {
                    // Not UTF-8: cannot be a whiteout; copy it under its raw name.
                    let name = PathBuf::from(raw);
                    self.entry(&src.join(&name), &dst.join(&name))?;
                }
            }
        }
        names.sort();
        if names.iter().any(|n| n == OPAQUE) {
            match self.mode {
                Mode::Apply => clear(dst)?,
                Mode::Convert => {
                    overlay::set_opaque(dst).map_err(|e| Error::io("mark opaque", dst, e))?
                }
            }
        }
        for name in names.iter().filter(|n| n.starts_with(WH)) {
            if name.starts_with(WH_META) {
                continue;
            }
            let hidden = &name[WH.len()..];
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                continue;
            }
            let target = dst.join(hidden);
            match self.mode {
                Mode::Apply => remove(&target)?,
                Mode::Convert => {
                    if !names.iter().any(|n| n == hidden) {
                        overlay::whiteout(&target)
                            .map_err(|e| Error::io("make a whiteout", &target, e))?;
                    }
                }
            }
        }
        for name in names.iter().filter(|n| !n.starts_with(WH)) {
            self.entry(&src.join(name), &dst.join(name))?;
        }
        set_meta(dst, meta)
    }

    fn entry(&mut self, src: &Path, dst: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(src).map_err(|e| Error::io("inspect", src, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            return self.dir(src, dst, &meta);
        }
        remove(dst)?;
        if ft.is_symlink() {
            let to = fs::read_link(src).map_err(|e| Error::io("read the link", src, e))?;
            std::os::unix::fs::symlink(&to, dst)
                .map_err(|e| Error::io("create the link", dst, e))?;
            return set_meta(dst, &meta);
        }
        if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&key) {
                    if fs::hard_link(first, dst).is_ok() {
                        return Ok(());
                    }
                }
            }
            if self.mode == Mode::Convert && fs::hard_link(src, dst).is_ok() {
                return Ok(());
            }
            fs::copy(src, dst).map_err(|e| Error::io("copy to", dst, e))?;
            set_meta(dst, &meta)?;
            if meta.nlink() > 1 {
                self.links.insert(key, dst.to_path_buf());
            }
            return Ok(());
        }
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            // Sockets mean nothing in an image.
            return Ok(());
        };
        let perm = Perm::from_bits_truncate(meta.mode() & 0o7777);
        mknod(dst, kind, perm, meta.rdev())
            .map_err(|e| Error::io("make the node", dst, std::io::Error::from(e)))?;
        set_meta(dst, &meta)
    }
}

/// Removes whatever is at `path` (a directory with its contents); missing is fine.
fn remove(path: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Empties directory `dir` (an opaque directory hides the lower layers' contents).
fn clear(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io("read", dir, e))? {
        let entry = entry.map_err(|e| Error::io("read", dir, e))?;
        remove(&entry.path())?;
    }
    Ok(())
}

/// Gives `path` the owner, mode and times of `meta` (without following a symlink). Owners
/// cannot be set when not root: then they are left as they are.
fn set_meta(path: &Path, meta: &fs::Metadata) -> Result<()> {
    match lchown(path, Some(meta.uid()), Some(meta.gid())) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
        Err(e) => return Err(Error::io("chown", path, e)),
    }
    if !meta.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| Error::io("chmod", path, e))?;
    }
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::io("set the times of", path, std::io::Error::from(e)))
}
