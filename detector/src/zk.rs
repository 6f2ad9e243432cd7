//! ZooKeeper sessions, leader election and detection, as Mesos does them: each master joins the
//! group with an ephemeral sequential znode `<path>/json.info_<seq>` holding its `MasterInfo` as
//! JSON; the member with the lowest sequence leads; everyone else (other masters, agents,
//! frameworks, tools) watches the group's children and reads the leader's node.

use std::time::Duration;

use mesos_api::protocol::framework::MasterInfo;
use tokio::sync::{mpsc, watch};
use zk::{Acl, Acls, Client, CreateMode, EventType, Permission, SessionState};
use zookeeper_client as zk;

use crate::{Leader, ZkUrl};

/// The label of the masters' znodes (Mesos's `MASTER_INFO_JSON_LABEL`).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";

/// How long to wait before retrying after ZooKeeper failed us.
const RETRY: Duration = Duration::from_millis(500);

/// Connects a new session (bounded by the session timeout) with the URL's credentials.
pub async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<Client, zk::Error> {
    let mut c = Client::connector()
        .with_session_timeout(session_timeout)
        .with_connection_timeout(session_timeout.mul_f32(0.4).max(Duration::from_millis(200)));
    if let Some((u, p)) = &url.credentials {
        c = c.with_auth("digest", format!("{u}:{p}").as_bytes());
    }
    match tokio::time::timeout(session_timeout, c.connect(&url.servers)).await {
        Ok(r) => r,
        Err(_) => Err(zk::Error::Timeout),
    }
}

/// Mesos's ACLs: with credentials, everyone reads and the creator does all; else open.
pub fn acls(url: &ZkUrl) -> Acls<'static> {
    static EVERYONE_READ_CREATOR_ALL: [Acl; 2] = [
        Acl::new_const(Permission::READ, "world", "anyone"),
        Acl::new_const(Permission::ALL, "auth", ""),
    ];
    if url.credentials.is_some() {
        Acls::new(&EVERYONE_READ_CREATOR_ALL)
    } else {
        Acls::anyone_all()
    }
}

/// The group member that leads: the lowest sequence among children named `<label>_<seq>`
/// (others, such as `log_replicas` or our `registry`, are not members).
pub fn leading_child(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|c| {
            let (_, seq) = c.rsplit_once('_')?;
            let n: i64 = seq.parse().ok()?;
            Some((n, c.as_str()))
        })
        .min_by_key(|(n, _)| *n)
        .map(|(_, c)| c)
}

/// Resolves when the session is gone: expired or closed, or disconnected for longer than the
/// session timeout (the server has expired it by then, whatever the client believes).
pub async fn session_lost(client: &Client, session_timeout: Duration) {
    let mut w = client.state_watcher();
    loop {
        let s = w.state();
        if s.is_terminated() {
            return;
        }
        if s == SessionState::Disconnected {
            tokio::select! {
                _ = tokio::time::sleep(session_timeout) => {
                    if w.state() != SessionState::SyncConnected {
                        return;
                    }
                }
                _ = w.changed() => {}
            }
        } else {
            w.changed().await;
        }
    }
}

async fn read_leader(
    client: &Client,
    path: &str,
    child: &str,
) -> Result<Option<MasterInfo>, zk::Error> {
    let Some(label) = child.rsplit_once('_').map(|(l, _)| l) else {
        return Ok(None);
    };
    if label != MASTER_INFO_JSON_LABEL {
        tracing::warn!(node = %child, "the leading znode is not a JSON MasterInfo; ignoring it");
        return Ok(None);
    }
    match client.get_data(&format!("{path}/{child}")).await {
        Ok((data, _)) => match serde_json::from_slice::<MasterInfo>(&data) {
            Ok(info) => Ok(Some(info)),
            Err(e) => {
                tracing::warn!(node = %child, "the leader's MasterInfo does not parse: {e}");
                Ok(None)
            }
        },
        // It went away between listing and reading: the children watch fires again.
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Watches the group on one session and calls `changed` with every new leader (None: none);
/// returns when the session can no longer be used.
async fn watch_group(
    client: &Client,
    path: &str,
    changed: &mut (dyn FnMut(Option<MasterInfo>) + Send),
) {
    let mut last: Option<Option<MasterInfo>> = None;
    let mut report = |l: Option<MasterInfo>,
                      changed: &mut (dyn FnMut(Option<MasterInfo>) + Send)| {
        if last.as_ref() != Some(&l) {
            last = Some(l.clone());
            changed(l);
        }
    };
    loop {
        match client.get_and_watch_children(path).await {
            Ok((children, _, w)) => {
                let leader = match leading_child(&children) {
                    Some(c) => read_leader(client, path, c).await,
                    None => Ok(None),
                };
                match leader {
                    Ok(l) => report(l, changed),
                    Err(e) => {
                        tracing::debug!("reading the leader: {e}");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
                let ev = w.changed().await;
                if ev.event_type == EventType::Session && ev.session_state.is_terminated() {
                    return;
                }
            }
            Err(zk::Error::NoNode) => {
                report(None, changed);
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => {
                if client.state().is_terminated() {
                    return;
                }
                tracing::debug!("listing {path}: {e}");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Follows the leader of a ZooKeeper group: the receiver always holds the latest leader
/// detected (None while none is known). The task ends when every receiver is dropped.
pub fn follow(url: ZkUrl, session_timeout: Duration) -> watch::Receiver<Option<Leader>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        loop {
            match connect(&url, session_timeout).await {
                Ok(client) => {
                    let mut changed = |l: Option<MasterInfo>| {
                        let l = l.and_then(Leader::from_info);
                        tx.send_if_modified(|cur| {
                            let differs = *cur != l;
                            *cur = l;
                            differs
                        });
                    };
                    tokio::select! {
                        _ = watch_group(&client, &url.path, &mut changed) => {}
                        _ = session_lost(&client, session_timeout) => {
                            tracing::warn!(zk = %url, "lost the ZooKeeper session; detecting again");
                        }
                        _ = tx.closed() => return,
                    }
                    tx.send_replace(None);
                }
                Err(e) => {
                    tracing::warn!(zk = %url, "cannot connect to ZooKeeper: {e}");
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    });
    rx
}

/// Follows the leader of a ZooKeeper group (as [`follow`]) and awaits `deliver` with the
/// current leader and each later one, in order, until it returns false (its receiver is gone).
pub fn follow_each<F, Fut>(url: ZkUrl, session_timeout: Duration, mut deliver: F)
where
    F: FnMut(Option<Leader>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut leader = follow(url, session_timeout);
    tokio::spawn(async move {
        loop {
            let l = leader.borrow_and_update().clone();
            if !deliver(l).await || leader.changed().await.is_err() {
                return;
            }
        }
    });
}

/// What a contending master hears.
#[derive(Debug)]
pub enum Contention {
    /// It joined the group: its session (for fenced registry writes) and its znode's path.
    Candidate {
        /// The session the candidacy lives in.
        client: Client,
        /// The absolute path of its `json.info_<seq>` znode.
        node: String,
    },
    /// The leader detected changed (None: no leader).
    Leader(Option<MasterInfo>),
    /// Its candidacy ended with its session; it contends again with a new one.
    Lost,
}

/// Contends for leadership with `info` and detects the leader. Events arrive in order; the task
/// ends (closing the session, which removes the znode) when the receiver is dropped.
pub fn contend(
    url: ZkUrl,
    session_timeout: Duration,
    info: MasterInfo,
) -> mpsc::UnboundedReceiver<Contention> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let data = match serde_json::to_vec(&info) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("cannot encode MasterInfo: {e}");
                return;
            }
        };
        loop {
            let client = match connect(&url, session_timeout).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(zk = %url, "cannot connect to ZooKeeper: {e}");
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let acls = acls(&url);
            let joined = async {
                client
                    .mkdir(&url.path, &CreateMode::Persistent.with_acls(acls))
                    .await?;
                let prefix = format!("{}/{MASTER_INFO_JSON_LABEL}_", url.path);
                let mode = CreateMode::EphemeralSequential.with_acls(acls);
                let (_, seq) = client.create(&prefix, &data, &mode).await?;
                Ok::<_, zk::Error>(format!("{prefix}{seq}"))
            };
            let node = match joined.await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(zk = %url, "cannot join the group: {e}");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            tracing::info!(%node, "contending for leadership");
            if tx
                .send(Contention::Candidate {
                    client: client.clone(),
                    node,
                })
                .is_err()
            {
                return;
            }
            let mut changed = |l: Option<MasterInfo>| {
                let _ = tx.send(Contention::Leader(l));
            };
            tokio::select! {
                _ = watch_group(&client, &url.path, &mut changed) => {}
                _ = session_lost(&client, session_timeout) => {}
                _ = tx.closed() => return,
            }
            tracing::warn!(zk = %url, "lost the ZooKeeper session: the candidacy ended");
            if tx.send(Contention::Lost).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_sequence_leads_and_non_members_are_skipped() {
        let c: Vec<String> = [
            "log_replicas",
            "registry",
            "json.info_0000000012",
            "json.info_0000000003",
            "info_0000000007",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(leading_child(&c), Some("json.info_0000000003"));
        assert_eq!(leading_child(&c[..2]), None);
    }
}
