//! The provisioner: turns a local Docker image into a container's root filesystem.
//!
//! No registry is contacted. `--docker_registry` names a directory holding images either as
//! `docker save` archives named `<repo>:<tag>.tar` or as OCI image layout directories named
//! `<repo>:<tag>` (a repository with slashes, like `library/busybox`, lives in subdirectories:
//! `library/busybox:latest.tar`). A name without a tag means `:latest`.
//!
//! Images go through a layer store under `--docker_store_dir` (see `store.rs`): each layer is
//! unpacked once into `layers/<layer id>/rootfs`, and `images/<repo:tag>.json` records an
//! image's layer ids and config, so a second provision of a cached image does not read the
//! archive again. A container's rootfs is then made by a backend at
//! `<rootfs_dir>/containers/<container id>/backends/<copy|overlay>/rootfses/<uuid>`:
//!
//! - **copy** applies the layers bottom to top into a fresh directory, honouring whiteouts
//!   (`.wh.<name>` removes `<name>` from the lower layers, `.wh..wh..opq` makes a directory
//!   opaque), see `layers.rs`;
//! - **overlay** mounts overlayfs with the layers (converted to overlayfs whiteouts once, in the
//!   store) as lower directories and a per-rootfs upper and work directory, see `overlay.rs`. If
//!   the kernel cannot do it, the provisioner falls back to copy with a warning.

mod image;
mod layers;
mod overlay;
pub mod registry;
mod store;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use image::{ImageError, Source};
use store::{Record, Store};

/// How a container's rootfs is made from the image's layers (`--image_provisioner_backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Copy the layers, bottom to top, into a directory of the container's own.
    Copy,
    /// Mount overlayfs with the layers as lower directories (needs root and kernel support).
    Overlay,
}

impl Backend {
    /// Parses `--image_provisioner_backend` (`copy` or `overlay`).
    pub fn parse(s: &str) -> Result<Backend> {
        match s.trim() {
            "copy" => Ok(Backend::Copy),
            "overlay" => Ok(Backend::Overlay),
            "bind" | "aufs" => Err(Error::Unsupported(format!(
                "--image_provisioner_backend={s} is not supported; use copy or overlay"
            ))),
            _ => Err(Error::Invalid(format!(
                "unknown --image_provisioner_backend '{s}' (expected copy or overlay)"
            ))),
        }
    }

    /// The flag's spelling (`copy`, `overlay`), also the backend's directory name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Copy => "copy",
            Backend::Overlay => "overlay",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the provisioner reads images and keeps its layers and rootfses.
#[derive(Clone, Debug)]
pub struct ProvisionerConfig {
    /// `--docker_registry` as a local directory of `repo:tag.tar` archives and OCI layouts.
    pub docker_registry: Option<PathBuf>,
    /// `--docker_registry` as a registry URL (with `--docker_config`'s credentials for it).
    pub remote: Option<registry::Remote>,
    /// `--docker_store_dir` (default `<work_dir>/store/docker`): the layer store.
    pub store_dir: PathBuf,
    /// Where containers' rootfses are made (`<work_dir>/provisioner`).
    pub rootfs_dir: PathBuf,
    /// `--image_provisioner_backend`.
    pub backend: Backend,
}

/// What an image says about running it: the `config` object of its config JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Env` (`K=V` strings split at the first `=`), in order.
    pub env: Vec<(String, String)>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir` (absent when empty).
    pub working_dir: Option<String>,
    /// `User` (absent when empty).
    pub user: Option<String>,
}

impl ImageConfig {
    /// docker/runtime: the command a container of this image runs, combined with its
    /// `CommandInfo` as Mesos combines them. A shell command, or one with a `value`, runs as
    /// given (`None`). Otherwise the image decides: its `Entrypoint` followed by the command's
    /// arguments, or by the image's `Cmd` when there are none; without an entrypoint, the first
    /// word of `Cmd` followed by the command's arguments, or by the rest of `Cmd`.
    pub fn launch_command(
        &self,
        cmd: &mesos_api::protocol::command::CommandInfo,
    ) -> std::result::Result<Option<mesos_api::protocol::command::CommandInfo>, String> {
        if cmd.shell {
            if cmd.value.as_deref().is_none_or(str::is_empty) {
                return Err("Shell specified but no command value provided".into());
            }
            return Ok(None);
        }
        if cmd.value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Ok(None);
        }
        let (first, default_rest) = match (self.entrypoint.split_first(), self.cmd.split_first()) {
            (Some((exe, rest)), _) => {
                let mut head = vec![exe.clone()];
                head.extend(rest.iter().cloned());
                (head, self.cmd.clone())
            }
            (None, Some((exe, rest))) => (vec![exe.clone()], rest.to_vec()),
            (None, None) => return Err("No executable is found".into()),
        };
        let mut arguments = first;
        if cmd.arguments.is_empty() {
            arguments.extend(default_rest);
        } else {
            arguments.extend(cmd.arguments.iter().cloned());
        }
        let mut out = cmd.clone();
        out.value = Some(arguments[0].clone());
        out.arguments = arguments;
        Ok(Some(out))
    }
}

/// A container's provisioned rootfs.
#[derive(Clone, Debug, PartialEq)]
pub struct Provisioned {
    /// The root filesystem on the host.
    pub rootfs: PathBuf,
    /// The image's config.
    pub config: ImageConfig,
    /// The image's layer ids, bottom to top.
    pub layers: Vec<String>,
    /// The backend that made `rootfs` (copy when overlay was asked for but is unsupported).
    pub backend: Backend,
    /// Whether the image came from the store without reading the registry.
    pub cache_hit: bool,
}

/// What a container's rootfs was made from: `<rootfs_dir>/containers/<id>/in_use.json`.
#[derive(Serialize, Deserialize)]
struct InUse {
    image: String,
    layers: Vec<String>,
}

const IN_USE: &str = "in_use.json";

/// What [`Provisioner::prune`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The images (`repo:tag`).
    pub images: Vec<String>,
    /// How many layers.
    pub layers: usize,
}

/// The provisioner: a layer store plus the copy and overlay backends.
///
/// It is `Send + Sync`; provisions of different containers may run concurrently (the store
/// is guarded by an internal lock, the rootfses are per container).
#[derive(Debug)]
pub struct Provisioner {
    config: ProvisionerConfig,
    store: Store,
    /// Held while the store is read or written (layers are immutable once in place).
    store_lock: Mutex<()>,
    overlay: OnceLock<bool>,
}

impl Provisioner {
    /// Opens (creating if needed) the store and the rootfs directory.
    pub fn new(config: ProvisionerConfig) -> Result<Provisioner> {
        let store = Store::open(&config.store_dir)?;
        let containers = config.rootfs_dir.join("containers");
        fs::create_dir_all(&containers).map_err(|e| Error::io("create", &containers, e))?;
        Ok(Provisioner {
            config,
            store,
            store_lock: Mutex::new(()),
            overlay: OnceLock::new(),
        })
    }

    /// Makes the rootfs for `container_id` (a string) from image `name`; `cached` =
    /// Image.cached (default true): when false, re-read the archive even if the image is in
    /// the store.
    pub fn provision(&self, container_id: &str, name: &str, cached: bool) -> Result<Provisioned> {
        check_container_id(container_id)?;
        let image = image::normalize(name).map_err(|e| e.provisioning(name))?;
        let backend = match self.config.backend {
            Backend::Overlay if !self.overlay_supported() => {
                tracing::warn!(
                    container = container_id,
                    image = %image,
                    "the overlay backend is not supported here; using the copy backend"
                );
                Backend::Copy
            }
            b => b,
        };
        let (record, cache_hit) = {
            let _guard = self.store_lock.lock().unwrap_or_else(|e| e.into_inner());
            let (record, hit) = self.resolve(&image, cached)?;
            if backend == Backend::Overlay {
                for id in &record.layers {
                    self.store.overlay_layer(id)?;
                }
            }
            (record, hit)
        };
        // overlayfs needs a lower directory: an image without layers is an empty copy.
        let backend = if record.layers.is_empty() {
            Backend::Copy
        } else {
            backend
        };
        let base = self
            .container_dir(container_id)
            .join("backends")
            .join(backend.as_str());
        let id = uuid();
        let rootfs = base.join("rootfses").join(&id);
        let made = match backend {
            Backend::Copy => self.copy_rootfs(&record.layers, &rootfs),
            Backend::Overlay => self.overlay_rootfs(&record.layers, &base, &id),
        };
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&rootfs);
            let _ = fs::remove_dir_all(base.join("scratch").join(&id));
            return Err(e);
        }
        // What the container holds, so that pruning keeps it (see `prune`).
        let used = InUse {
            image: image.clone(),
            layers: record.layers.clone(),
        };
        let held = self.container_dir(container_id).join(IN_USE);
        let text = serde_json::to_vec(&used).unwrap_or_default();
        fs::write(&held, text).map_err(|e| Error::io("write", &held, e))?;
        tracing::info!(
            container = container_id,
            image = %image,
            %backend,
            cache_hit,
            rootfs = %rootfs.display(),
            "provisioned"
        );
        Ok(Provisioned {
            rootfs,
            config: record.config,
            layers: record.layers,
            backend,
            cache_hit,
        })
    }

    /// Removes a container's rootfs (unmounting an overlay first). Missing is Ok.
    pub fn destroy(&self, container_id: &str) -> Result<()> {
        check_container_id(container_id)?;
        let dir = self.container_dir(container_id);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        for m in overlay::mounts_under(&dir) {
            overlay::unmount(&m)?;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove the rootfs of", &dir, e)),
        }
    }

    /// Container ids that have a rootfs on disk (for recovery after an agent restart).
    pub fn containers(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.config.rootfs_dir.join("containers")) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| has_rootfs(&e.path()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Removes the images not used by a container that has a rootfs and not named in
    /// `excluded` (Mesos's image garbage collection: PRUNE_IMAGES, `--image_gc_config`),
    /// then every layer no image left and no container uses.
    pub fn prune(&self, excluded: &[String]) -> Result<Pruned> {
        let mut keep_images: std::collections::HashSet<String> = excluded
            .iter()
            .filter_map(|n| image::normalize(n).ok())
            .collect();
        let mut keep_layers = std::collections::HashSet::new();
        for c in self.containers() {
            let held = self.container_dir(&c).join(IN_USE);
            if let Some(u) = fs::read(&held)
                .ok()
                .and_then(|t| serde_json::from_slice::<InUse>(&t).ok())
            {
                keep_images.insert(u.image);
                keep_layers.extend(u.layers);
            }
        }
        let _guard = self.store_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut pruned = Pruned::default();
        for r in self.store.records() {
            if keep_images.contains(&r.name) {
                keep_layers.extend(r.layers);
            } else {
                self.store.remove_record(&r.name)?;
                pruned.images.push(r.name);
            }
        }
        for id in self.store.layer_ids() {
            if !keep_layers.contains(&id) {
                self.store.remove_layer(&id)?;
                pruned.layers += 1;
            }
        }
        pruned.images.sort();
        tracing::info!(images = ?pruned.images, layers = pruned.layers, "pruned the image store");
        Ok(pruned)
    }

    /// The image store's directory (`--docker_store_dir`).
    pub fn store_dir(&self) -> &Path {
        &self.config.store_dir
    }

    /// Whether the kernel allows overlay mounts here (probe once, cache the answer).
    pub fn overlay_supported(&self) -> bool {
        *self.overlay.get_or_init(|| {
            let ok = overlay::probe(&self.store.staging_root(), &self.config.rootfs_dir);
            tracing::info!(supported = ok, "probed the overlay backend");
            ok
        })
    }

    /// `<rootfs_dir>/containers/<container_id>`.
    fn container_dir(&self, container_id: &str) -> PathBuf {
        self.config.rootfs_dir.join("containers").join(container_id)
    }

    /// The image's record: from the store when `cached` and present, else read from the
    /// registry into the store.
    fn resolve(&self, image: &str, cached: bool) -> Result<(Record, bool)> {
        let store = &self.store;
        if cached {
            if let Some(r) = store.record(image) {
                return Ok((r, true));
            }
        }
        let provision = |e: ImageError| e.provisioning(image);
        if let Some(remote) = &self.config.remote {
            let staging = store.staging()?;
            let have = |id: &str| store.layer_rootfs(id).is_dir();
            let read = registry::pull(remote, image, staging.path(), &have).map_err(|why| {
                Error::Provision {
                    image: image.to_string(),
                    why: format!("cannot pull from {}: {why}", remote.base),
                }
            })?;
            return self.keep(image, read).map(|r| (r, false));
        }
        let Some(registry) = &self.config.docker_registry else {
            return Err(provision(ImageError::NoRegistry));
        };
        let Some(source) = image::locate(registry, image) else {
            let there = image::list(registry);
            return Err(provision(ImageError::NotFound {
                registry: registry.clone(),
                image: image.to_string(),
                holds: if there.is_empty() {
                    "nothing".to_string()
                } else {
                    there.join(", ")
                },
            }));
        };
        let staging = store.staging()?;
        let dir = match source {
            Source::Archive(tar) => {
                let into = staging.path().join("image");
                fs::create_dir(&into).map_err(|e| Error::io("create", &into, e))?;
                image::untar(&tar, &into).map_err(provision)?;
                into
            }
            Source::Dir(dir) => dir,
        };
        let read = image::read(&dir, image).map_err(provision)?;
        self.keep(image, read).map(|r| (r, false))
    }

    /// Puts an image's layers (those the store lacks) and its record in the store.
    fn keep(&self, image: &str, read: image::Image) -> Result<Record> {
        let store = &self.store;
        let mut ids = Vec::with_capacity(read.layers.len());
        for layer in &read.layers {
            store.put_layer(image, &layer.id, &layer.tar)?;
            ids.push(layer.id.clone());
        }
        let record = Record {
            name: image.to_string(),
            layers: ids,
            config: read.config,
        };
        store.put_record(&record)?;
        Ok(record)
    }

    /// The copy backend: applies the layers bottom to top into `rootfs`.
    fn copy_rootfs(&self, ids: &[String], rootfs: &Path) -> Result<()> {
        fs::create_dir_all(rootfs).map_err(|e| Error::io("create", rootfs, e))?;
        for id in ids {
            layers::apply(&self.store.layer_rootfs(id), rootfs, layers::Mode::Apply)?;
        }
        Ok(())
    }

    /// The overlay backend: mounts the converted layers (top first) with an upper and a work
    /// directory under `<base>/scratch/<id>` on `<base>/rootfses/<id>`.
    fn overlay_rootfs(&self, ids: &[String], base: &Path, id: &str) -> Result<()> {
        let rootfs = base.join("rootfses").join(id);
        let scratch = base.join("scratch").join(id);
        let (upper, work) = (scratch.join("upperdir"), scratch.join("workdir"));
        for d in [&rootfs, &upper, &work] {
            fs::create_dir_all(d).map_err(|e| Error::io("create", d, e))?;
        }
        // The same layer twice (empty layers often are) would overlap; the topmost occurrence
        // already shows everything the lower one would.
        let mut lowers: Vec<PathBuf> = Vec::new();
        for id in ids.iter().rev() {
            let dir = self.store.overlay_dir(id);
            if !lowers.contains(&dir) {
                lowers.push(dir);
            }
        }
        overlay::mount(&lowers, &upper, &work, &rootfs)
    }
}

/// Whether a container directory holds any `backends/*/rootfses/*`.
fn has_rootfs(dir: &Path) -> bool {
    let Ok(backends) = fs::read_dir(dir.join("backends")) else {
        return false;
    };
    backends.flatten().any(|b| {
        fs::read_dir(b.path().join("rootfses"))
            .map(|mut r| r.next().is_some())
            .unwrap_or(false)
    })
}

/// Container ids become directory names: refuse separators and dot names.
fn check_container_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(Error::Invalid(format!(
            "container id '{id}' cannot name a rootfs directory"
        )));
    }
    Ok(())
}

/// A random (version 4) UUID (mesos-api's).
pub(crate) use mesos_api::ids::new_uuid as uuid;

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    /// Reads an image directory whose manifest is `data` (`manifest.json` of a docker archive,
    /// or with `oci` the `index.json` of an OCI layout), as an image of `--docker_registry` is
    /// read. An error is the expected outcome; a panic or a read outside the directory is not.
    pub fn read_image_manifest(data: &[u8], oci: bool) -> bool {
        let dir = std::env::temp_dir().join(format!("mesos-fuzz-image-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let (this, other) = if oci {
            ("index.json", "manifest.json")
        } else {
            ("manifest.json", "index.json")
        };
        let _ = std::fs::remove_file(dir.join(other));
        if std::fs::write(dir.join(this), data).is_err() {
            return false;
        }
        super::image::read(&dir, "library/busybox:latest").is_ok()
    }
}
