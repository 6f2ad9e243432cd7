//! Checkpointed resources and persistent volumes. The master sends the agent its dynamic
//! reservations and persistent volumes (`CheckpointResourcesMessage`) after every RESERVE,
//! UNRESERVE, CREATE and DESTROY; the agent writes them to `meta/resources/resources.info`
//! (before acting on them, as Mesos does), makes the directory of each new volume under
//! `volumes/roles/<role>/<id>` and removes those of destroyed ones. At start it reads them back
//! and registers with them, so that reservations and volumes (and the data in them) outlive
//! the agent's process, its id and reboots. A container whose resources hold a volume gets it
//! at the volume's `container_path` in its sandbox (see the containerizer's filesystem
//! isolators).

use std::collections::BTreeSet;
use std::path::PathBuf;

use mesos_api::resources::ResourceFormat;
use mesos_api::{Resource, Resources};
use mesos_containerizer::PersistentVolume;

use super::Agent;
use crate::paths;

/// A persistent volume's directory under `work_dir`, if it is one (id and role as paths
/// that stay below `volumes/roles`).
fn volume_dir(work_dir: &std::path::Path, r: &Resource) -> Option<PathBuf> {
    let id = &r.disk.as_ref()?.persistence.as_ref()?.id;
    let role = r.role();
    let safe =
        |s: &str| !s.is_empty() && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if !safe(role) || !safe(id) || id.contains('/') {
        tracing::warn!(%role, %id, "ignoring a persistent volume whose role or id is not a safe path");
        return None;
    }
    Some(paths::persistent_volume_path(work_dir, role, id))
}

impl Agent {
    /// The master's new checkpointed resources: written first, then volumes made and removed.
    pub(super) fn checkpoint_resources(&mut self, resources: Resources) {
        let json = resources.to_json(ResourceFormat::Refined);
        let path = paths::resources_info_path(&self.flags.work_dir);
        if let Err(e) = super::recovery::write_atomic(&path, json.to_string().as_bytes()) {
            self.checkpoint_failed(&e);
        }
        let dirs = |r: &Resources, w: &std::path::Path| -> BTreeSet<PathBuf> {
            r.persistent_volumes()
                .iter()
                .filter_map(|v| volume_dir(w, v))
                .collect()
        };
        let work_dir = self.flags.work_dir.clone();
        let before = dirs(&self.checkpointed, &work_dir);
        let after = dirs(&resources, &work_dir);
        for d in after.difference(&before) {
            if let Err(e) = std::fs::create_dir_all(d) {
                tracing::error!("cannot create the persistent volume '{}': {e}", d.display());
            } else {
                tracing::info!(volume = %d.display(), "created a persistent volume");
            }
        }
        for d in before.difference(&after) {
            match std::fs::remove_dir_all(d) {
                Ok(()) => {
                    tracing::info!(volume = %d.display(), "removed a destroyed persistent volume")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!("cannot remove the persistent volume '{}': {e}", d.display())
                }
            }
        }
        self.checkpointed = resources;
    }

    /// At start: the checkpointed resources of before, their volumes' directories made if
    /// missing.
    pub(super) fn recover_resources(&mut self) {
        let path = paths::resources_info_path(&self.flags.work_dir);
        let Ok(text) = std::fs::read(&path) else {
            return;
        };
        let parsed = serde_json::from_slice(&text)
            .map_err(|e| e.to_string())
            .and_then(|v| Resources::from_json(&v).map_err(|e| e.to_string()));
        match parsed {
            Ok(r) => {
                for v in r.persistent_volumes().iter() {
                    if let Some(d) = volume_dir(&self.flags.work_dir, v) {
                        let _ = std::fs::create_dir_all(d);
                    }
                }
                tracing::info!(resources = %r, "recovered the checkpointed resources");
                self.checkpointed = r;
            }
            Err(e) => {
                self.checkpoint_failed(&format!(
                    "cannot read the checkpointed resources '{}': {e}",
                    path.display()
                ));
            }
        }
    }

    /// The persistent volumes among a container's resources, for the containerizer.
    pub(super) fn persistent_volumes(&self, total: &Resources) -> Vec<PersistentVolume> {
        total
            .persistent_volumes()
            .iter()
            .filter_map(|r| {
                let source = volume_dir(&self.flags.work_dir, r)?;
                let v = r.disk.as_ref()?.volume.as_ref()?;
                Some(PersistentVolume {
                    source,
                    container_path: v.container_path.clone(),
                    readonly: v.mode == mesos_api::resources::VolumeMode::Ro,
                })
            })
            .collect()
    }
}
