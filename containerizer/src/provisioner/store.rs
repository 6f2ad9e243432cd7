//! The layer store under `--docker_store_dir`:
//!
//! - `layers/<id>/rootfs`: a layer unpacked as it is in its tarball (whiteouts are the
//!   `.wh.*` files of the tarball), made once per layer id;
//! - `layers/<id>/overlay`: the same tree in overlayfs form (whiteouts as 0:0 character
//!   devices, opaque directories marked with `trusted.overlay.opaque=y`), made when the
//!   overlay backend first needs it; its regular files are hard links into `rootfs`;
//! - `images/<repo:tag>.json`: an image's [`Record`] (layer ids and config);
//! - `staging/`: temporary directories, renamed into place when complete, so a crash never
//!   leaves a half-made layer where a whole one is expected.
//!
//! The caller serializes writes (the provisioner holds its store lock).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{image, layers, uuid, ImageConfig};
use crate::error::{Error, Result};

/// What the store knows of an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The image name, `repo:tag`.
    pub name: String,
    /// Its layer ids, bottom to top.
    pub layers: Vec<String>,
    /// Its config.
    pub config: ImageConfig,
}

/// The layer store (paths only; see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

/// A temporary directory under `staging/`, removed when dropped (if still there).
#[derive(Debug)]
pub(crate) struct Staging {
    path: PathBuf,
}

impl Staging {
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.path).is_ok() {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), "cannot remove a staging dir: {e}");
            }
        }
    }
}

/// Staging directories older than this are leftovers of a crash.
const STALE: Duration = Duration::from_secs(3600);

impl Store {
    /// Creates the store's directories and removes stale staging leftovers.
    pub(crate) fn open(dir: &Path) -> Result<Store> {
        for sub in ["layers", "images", "staging"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| Error::io("create", &d, e))?;
        }
        let store = Store {
            dir: dir.to_path_buf(),
        };
        if let Ok(entries) = fs::read_dir(store.staging_root()) {
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > STALE);
                if old {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(store)
    }

    /// `staging/`.
    pub(crate) fn staging_root(&self) -> PathBuf {
        self.dir.join("staging")
    }

    /// A fresh directory under `staging/`.
    pub(crate) fn staging(&self) -> Result<Staging> {
        let path = self.staging_root().join(uuid());
        fs::create_dir_all(&path).map_err(|e| Error::io("create", &path, e))?;
        Ok(Staging { path })
    }

    /// `layers/<id>`.
    fn layer_dir(&self, id: &str) -> PathBuf {
        self.dir.join("layers").join(id)
    }

    /// `layers/<id>/rootfs`: the unpacked layer.
    pub(crate) fn layer_rootfs(&self, id: &str) -> PathBuf {
        self.layer_dir(id).join("rootfs")
    }

    /// `layers/<id>/overlay`: the layer in overlayfs form (see [`Store::overlay_layer`]).
    pub(crate) fn overlay_dir(&self, id: &str) -> PathBuf {
        self.layer_dir(id).join("overlay")
    }

    /// Unpacks layer `id` from `tar` unless the store has it.
    pub(crate) fn put_layer(&self, image: &str, id: &str, tar: &Path) -> Result<()> {
        if self.layer_rootfs(id).is_dir() {
            return Ok(());
        }
        let staging = self.staging()?;
        let rootfs = staging.path().join("rootfs");
        fs::create_dir(&rootfs).map_err(|e| Error::io("create", &rootfs, e))?;
        image::untar(tar, &rootfs).map_err(|why| Error::Provision {
            image: image.to_string(),
            why: format!("layer {id}: {why}"),
        })?;
        let dir = self.layer_dir(id);
        if fs::symlink_metadata(&dir).is_ok() {
            // A half-made entry (no rootfs inside) from an older layout or a crash.
            fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        }
        if let Err(e) = fs::rename(staging.path(), &dir) {
            // Another provisioner on the same store may have put it there first.
            if !self.layer_rootfs(id).is_dir() {
                return Err(Error::io("move a layer to", &dir, e));
            }
        }
        tracing::debug!(layer = id, "unpacked a layer into the store");
        Ok(())
    }

    /// Makes `layers/<id>/overlay` from `layers/<id>/rootfs` unless it exists.
    pub(crate) fn overlay_layer(&self, id: &str) -> Result<PathBuf> {
        let target = self.overlay_dir(id);
        if target.is_dir() {
            return Ok(target);
        }
        let staging = self.staging()?;
        let tree = staging.path().join("overlay");
        layers::apply(&self.layer_rootfs(id), &tree, layers::Mode::Convert)?;
        if let Err(e) = fs::rename(&tree, &target) {
            if !target.is_dir() {
                return Err(Error::io("move a layer to", &target, e));
            }
        }
        Ok(target)
    }

    /// `images/<name>.json`.
    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join("images").join(format!("{name}.json"))
    }

    /// The record of image `name` when it and all its layers are in the store.
    pub(crate) fn record(&self, name: &str) -> Option<Record> {
        let path = self.record_path(name);
        let text = fs::read(&path).ok()?;
        let record: Record = match serde_json::from_slice(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring a bad image record: {e}");
                return None;
            }
        };
        let whole = record.name == name
            && record.layers.iter().all(|id| {
                image::layer_id(id).is_ok_and(|l| l == *id) && self.layer_rootfs(id).is_dir()
            });
        whole.then_some(record)
    }

    /// Every image record in the store (unreadable ones are skipped).
    pub(crate) fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        let mut todo = vec![self.dir.join("images")];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    if let Some(r) = fs::read(&p)
                        .ok()
                        .and_then(|t| serde_json::from_slice::<Record>(&t).ok())
                    {
                        out.push(r);
                    }
                }
            }
        }
        out
    }

    /// Removes an image's record (its layers stay until nothing refers to them).
    pub(crate) fn remove_record(&self, name: &str) -> Result<()> {
        let p = self.record_path(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        }
    }

    /// The ids of the layers in the store.
    pub(crate) fn layer_ids(&self) -> Vec<String> {
        fs::read_dir(self.dir.join("layers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }

    /// Removes a layer (unpacked and overlay forms).
    pub(crate) fn remove_layer(&self, id: &str) -> Result<()> {
        let d = self.layer_dir(id);
        match fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &d, e)),
        }
    }

    /// Writes an image's record (atomically: a temporary file renamed over the old one).
    pub(crate) fn put_record(&self, record: &Record) -> Result<()> {
        let path = self.record_path(&record.name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        let text = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Invalid(format!("cannot encode an image record: {e}")))?;
        let tmp = path.with_extension(format!("json.tmp-{}", uuid()));
        fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("write", &path, e)
        })
    }
}
