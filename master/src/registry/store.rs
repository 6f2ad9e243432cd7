//! Where the registry lives.
//!
//! - `InMemory`: nowhere (`--registry=in_memory`); a restarted master starts empty.
//! - `File`: `<work_dir>/registry.json`, written to a temporary file, fsynced and renamed over
//!   the old one (then the directory is fsynced), so a crash leaves the old or the new registry.
//! - `ZooKeeper`: under the `--zk` path, beside the masters' `json.info_` znodes (clients take
//!   the lowest `json.info_` child as the leader and skip children without a `_<number>` suffix,
//!   so `registry` is not mistaken for a master). `<path>/registry` holds a small head
//!   (`{"generation":g,"chunks":n}`); the registry itself is in chunk znodes
//!   `<path>/registry/g<g>-<i>` of at most [`CHUNK`] bytes (ZooKeeper's limit is 1 MB per znode
//!   and per request), followed by a log of the batches of operations applied since:
//!   `<path>/registry/g<g>-log-<j>` (the head says how many: `"log":k`). Every write is a
//!   transaction that first checks the writer's own `json.info_` znode (it exists only while the
//!   writer's session lives): a master whose session ended cannot write (fencing). An append
//!   creates the next log entry and moves the head in one transaction. A snapshot writes the new
//!   generation's chunks, then in one transaction moves the head (checked against the version it
//!   last wrote) and deletes the old chunks and log. Appending keeps a storm of 40,000 agent
//!   admissions from rewriting the whole registry for every batch; a snapshot is taken once
//!   the log outgrows the snapshot (or [`MAX_LOG`] entries), so recovery reads at most about
//!   twice the registry's size.

use std::path::PathBuf;

use mesos_detector::zookeeper_client as zk;
use serde::{Deserialize, Serialize};
use zk::{Client, CreateMode};

/// The largest chunk (or log entry) znode written.
pub(crate) const CHUNK: usize = 512 * 1024;

/// The most log entries kept before a snapshot.
pub(crate) const MAX_LOG: usize = 256;

/// What a store holds: the last snapshot of the registry and the entries logged after it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Stored {
    pub(crate) snapshot: Vec<u8>,
    pub(crate) log: Vec<Vec<u8>>,
}

/// A registry store.
pub(crate) enum Store {
    /// Nowhere.
    InMemory,
    /// A file replaced atomically.
    File(PathBuf),
    /// ZooKeeper, fenced by the writer's candidacy.
    ZooKeeper(Box<ZkStore>),
}

/// The ZooKeeper store's state.
pub(crate) struct ZkStore {
    client: Client,
    /// `<zk path>/registry`.
    head: String,
    /// The writer's `json.info_` znode.
    fence: String,
    acls: zk::Acls<'static>,
    /// What this writer last saw of the head: its version, generation, chunk names, and the
    /// log entries' count and bytes.
    version: i32,
    generation: u64,
    chunks: Vec<String>,
    snapshot_bytes: usize,
    log: usize,
    log_bytes: usize,
}

#[derive(Default, Serialize, Deserialize)]
struct Head {
    generation: u64,
    chunks: usize,
    #[serde(default)]
    log: usize,
}

fn zerr(what: &str, e: impl std::fmt::Display) -> String {
    format!("ZooKeeper {what}: {e}")
}

impl ZkStore {
    pub(crate) fn new(
        client: Client,
        path: &str,
        fence: String,
        acls: zk::Acls<'static>,
    ) -> ZkStore {
        ZkStore {
            client,
            head: format!("{path}/registry"),
            fence,
            acls,
            version: -1,
            generation: 0,
            chunks: Vec::new(),
            snapshot_bytes: 0,
            log: 0,
            log_bytes: 0,
        }
    }

    fn chunk_name(&self, generation: u64, i: usize) -> String {
        format!("{}/g{generation}-{i}", self.head)
    }

    fn log_name(&self, generation: u64, j: usize) -> String {
        format!("{}/g{generation}-log-{j}", self.head)
    }

    fn log_names(&self) -> Vec<String> {
        (0..self.log)
            .map(|j| self.log_name(self.generation, j))
            .collect()
    }

    async fn fetch(&mut self) -> Result<Option<Stored>, String> {
        let c = &self.client;
        let mode = CreateMode::Persistent.with_acls(self.acls);
        let empty = serde_json::to_vec(&Head::default()).unwrap_or_default();
        match c.create(&self.head, &empty, &mode).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(zerr("creating the registry head", e)),
        }
        let (data, stat) = c
            .get_data(&self.head)
            .await
            .map_err(|e| zerr("reading the registry head", e))?;
        let head: Head = serde_json::from_slice(&data)
            .map_err(|e| format!("the registry head does not parse: {e}"))?;
        self.version = stat.version;
        self.generation = head.generation;
        self.chunks = (0..head.chunks)
            .map(|i| self.chunk_name(head.generation, i))
            .collect();
        self.log = head.log;
        // Every read is sent at once (the client sends a request when it is made; the futures
        // only await the answers): one round trip in all, not one per znode.
        let chunk_reads: Vec<_> = self.chunks.iter().map(|n| (n, c.get_data(n))).collect();
        let log_names = self.log_names();
        let log_reads: Vec<_> = log_names.iter().map(|n| (n, c.get_data(n))).collect();
        let mut snapshot = Vec::with_capacity(chunk_reads.len());
        for (name, read) in chunk_reads {
            let (d, _) = read
                .await
                .map_err(|e| zerr(&format!("reading {name}"), e))?;
            snapshot.push(d);
        }
        let mut log = Vec::with_capacity(log_reads.len());
        for (name, read) in log_reads {
            let (d, _) = read
                .await
                .map_err(|e| zerr(&format!("reading {name}"), e))?;
            log.push(d);
        }
        let snapshot = snapshot.concat();
        self.snapshot_bytes = snapshot.len();
        self.log_bytes = log.iter().map(Vec::len).sum();
        // Znodes of a write that never finished (its writer lost the lead mid-way) go.
        if let Ok(children) = c.list_children(&self.head).await {
            let keep = self.log_names();
            for child in children {
                let path = format!("{}/{child}", self.head);
                if !self.chunks.contains(&path) && !keep.contains(&path) {
                    let _ = self.fenced_delete(&path).await;
                }
            }
        }
        Ok((head.chunks > 0 || head.log > 0).then_some(Stored { snapshot, log }))
    }

    /// Whether an entry of `len` bytes goes to the log (else a snapshot is due).
    fn can_append(&self, len: usize) -> bool {
        len <= CHUNK && self.log < MAX_LOG && self.log_bytes + len <= self.snapshot_bytes.max(CHUNK)
    }

    async fn append(&mut self, entry: Vec<u8>) -> Result<(), String> {
        let name = self.log_name(self.generation, self.log);
        let head = serde_json::to_vec(&Head {
            generation: self.generation,
            chunks: self.chunks.len(),
            log: self.log + 1,
        })
        .map_err(|e| e.to_string())?;
        let mode = CreateMode::Persistent.with_acls(self.acls);
        let mut txn = self.client.new_multi_writer();
        txn.add_check_version(&self.fence, 0)
            .map_err(|e| zerr("txn", e))?;
        txn.add_create(&name, &entry, &mode)
            .map_err(|e| zerr("txn", e))?;
        txn.add_set_data(&self.head, &head, Some(self.version))
            .map_err(|e| zerr("txn", e))?;
        txn.commit()
            .await
            .map_err(|e| zerr(&format!("appending {name} (fenced by {})", self.fence), e))?;
        self.version += 1;
        self.log += 1;
        self.log_bytes += entry.len();
        Ok(())
    }

    async fn fenced_delete(&self, path: &str) -> Result<(), String> {
        let mut txn = self.client.new_multi_writer();
        txn.add_check_version(&self.fence, 0)
            .map_err(|e| zerr("txn", e))?;
        txn.add_delete(path, None).map_err(|e| zerr("txn", e))?;
        txn.commit()
            .await
            .map(|_| ())
            .map_err(|e| zerr("delete", e))
    }

    async fn store(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        let generation = self.generation + 1;
        let mode = CreateMode::Persistent.with_acls(self.acls);
        // Up to WINDOW chunk transactions are in flight at once (pipelined, but without
        // making ZooKeeper buffer a whole large registry at once).
        const WINDOW: usize = 4;
        let mut names = Vec::new();
        let mut writes = std::collections::VecDeque::new();
        for (i, piece) in bytes.chunks(CHUNK).enumerate() {
            let name = self.chunk_name(generation, i);
            let mut txn = self.client.new_multi_writer();
            txn.add_check_version(&self.fence, 0)
                .map_err(|e| zerr("txn", e))?;
            txn.add_create(&name, piece, &mode)
                .map_err(|e| zerr("txn", e))?;
            writes.push_back((name.clone(), txn.commit()));
            names.push(name);
            while writes.len() >= WINDOW || (i + 1) * CHUNK >= bytes.len() {
                let Some((name, write)) = writes.pop_front() else {
                    break;
                };
                write
                    .await
                    .map_err(|e| zerr(&format!("writing {name} (fenced by {})", self.fence), e))?;
            }
        }
        let head = serde_json::to_vec(&Head {
            generation,
            chunks: names.len(),
            log: 0,
        })
        .map_err(|e| e.to_string())?;
        let mut txn = self.client.new_multi_writer();
        txn.add_check_version(&self.fence, 0)
            .map_err(|e| zerr("txn", e))?;
        txn.add_set_data(&self.head, &head, Some(self.version))
            .map_err(|e| zerr("txn", e))?;
        for old in self.chunks.iter().chain(&self.log_names()) {
            txn.add_delete(old, None).map_err(|e| zerr("txn", e))?;
        }
        txn.commit().await.map_err(|e| {
            zerr(
                &format!("moving the registry head (fenced by {})", self.fence),
                e,
            )
        })?;
        self.version += 1;
        self.generation = generation;
        self.chunks = names;
        self.snapshot_bytes = bytes.len();
        self.log = 0;
        self.log_bytes = 0;
        Ok(())
    }
}

impl Store {
    /// The stored registry (None: nothing stored yet).
    pub(crate) async fn fetch(&mut self) -> Result<Option<Stored>, String> {
        match self {
            Store::InMemory => Ok(None),
            Store::File(path) => match std::fs::read(&*path) {
                Ok(snapshot) => Ok(Some(Stored {
                    snapshot,
                    log: Vec::new(),
                })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            },
            Store::ZooKeeper(z) => z.fetch().await,
        }
    }

    /// Whether an entry of `len` bytes may be appended to the log (the ZooKeeper store keeps
    /// one; the file is always replaced whole: it has no size limits, and one master's disk is
    /// not shared).
    pub(crate) fn can_append(&self, len: usize) -> bool {
        match self {
            Store::ZooKeeper(z) => z.can_append(len),
            _ => false,
        }
    }

    /// Appends `entry` (a batch of operations) to the log after the last snapshot.
    pub(crate) async fn append(&mut self, entry: Vec<u8>) -> Result<(), String> {
        match self {
            Store::ZooKeeper(z) => z.append(entry).await,
            _ => Err("this registry store keeps no log".into()),
        }
    }

    /// Stores `bytes` as the registry (a snapshot: the log starts again).
    pub(crate) async fn store(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Store::InMemory => Ok(()),
            Store::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Store::ZooKeeper(z) => z.store(bytes).await,
        }
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp.display());
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail("create", e))?;
    f.write_all(bytes).map_err(|e| fail("write", e))?;
    f.sync_all().map_err(|e| fail("sync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| fail("rename", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_store_replaces_the_registry_whole() {
        let dir = std::env::temp_dir().join(format!("registry-file-{}", std::process::id()));
        let path = dir.join("registry.json");
        let mut s = Store::File(path.clone());
        assert_eq!(s.fetch().await.unwrap(), None);
        assert!(!s.can_append(1));
        s.store(b"{\"a\":1}".to_vec()).await.unwrap();
        s.store(b"{\"b\":2}".to_vec()).await.unwrap();
        assert_eq!(s.fetch().await.unwrap().unwrap().snapshot, b"{\"b\":2}");
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
