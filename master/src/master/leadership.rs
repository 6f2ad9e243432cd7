//! Leadership: without `--zk` this master leads from the start; with it, it contends in the
//! ZooKeeper group and leads while its `json.info_` znode has the lowest sequence. A master that
//! is not the leader drops messages, redirects HTTP requests to the leader (307, or 503 with no
//! leader known) and sends no offers. A leader that loses its candidacy (its session is gone or
//! another master leads) terminates at once, as Mesos's master aborts: no split brain.

use libprocess::{Context, HttpRequest, HttpResponse, UPID};
use mesos_api::protocol::framework::MasterInfo;
use mesos_detector::{Contention, ZkUrl};

use super::{now_secs, Master};

/// Where this master stands.
#[derive(Default)]
pub(crate) struct Leadership {
    /// The leader detected: this master without `--zk`.
    pub(crate) leader: Option<MasterInfo>,
    /// This master leads.
    pub(crate) elected: bool,
    /// It leads and has recovered its registry: it may act.
    pub(crate) recovered: bool,
    /// When it was elected (seconds since the epoch).
    pub(crate) elected_time: Option<f64>,
    /// The ZooKeeper session and znode of its candidacy.
    pub(crate) candidacy: Option<(mesos_detector::zookeeper_client::Client, String)>,
    /// Agents' (re)registrations and frameworks' subscriptions that arrived while it was
    /// recovering its registry, the latest per sender, handled in order once it has recovered.
    deferred: Vec<Option<Deferred>>,
    deferred_from: libprocess::util::HashMap<UPID, usize>,
}

/// A message kept until the registry is recovered.
pub(crate) type Deferred = Box<dyn FnOnce(&mut Master, &mut Context<Master>) + Send + Sync>;

/// The most messages kept while recovering (one per sender): beyond it they are dropped, as
/// Mesos drops them all.
const MAX_DEFERRED: usize = 200_000;

impl Master {
    /// Starts contending (with `--zk`) or takes the lead (without).
    pub(super) fn start_leadership(&mut self, ctx: &mut Context<Self>) {
        let Some(zk) = self.flags.zk.clone() else {
            self.leadership.leader = self.info.clone();
            self.elected(ctx);
            return;
        };
        let url = match ZkUrl::parse(&zk) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("--zk: {e}");
                ctx.terminate_self();
                return;
            }
        };
        let Some(info) = self.info.clone() else {
            return;
        };
        tracing::info!(zk = %url, "contending for leadership in ZooKeeper");
        let mut events = mesos_detector::contend(url, self.flags.zk_session_timeout, info);
        let me = ctx.pid().clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if me
                    .dispatch(move |m: &mut Master, c| m.contention(c, ev))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }

    fn contention(&mut self, ctx: &mut Context<Self>, ev: Contention) {
        match ev {
            Contention::Candidate { client, node } => {
                self.leadership.candidacy = Some((client, node));
            }
            Contention::Leader(l) => {
                let me = l.as_ref().is_some_and(|l| l.id == self.id);
                match &l {
                    Some(i) => {
                        tracing::info!(leader = %i.pid.clone().unwrap_or_default(), "detected a new leader")
                    }
                    None => tracing::info!("no leading master"),
                }
                self.leadership.leader = l;
                if me && !self.leadership.elected {
                    self.elected(ctx);
                } else if !me && self.leadership.elected {
                    self.abdicate(ctx, "another master leads now");
                }
                self.update_webui_gate();
            }
            Contention::Lost => {
                self.leadership.candidacy = None;
                if self.leadership.elected {
                    self.abdicate(ctx, "the ZooKeeper session ended");
                }
            }
        }
    }

    /// Tells the web UI's process whether to serve the UI or redirect to the leader.
    fn update_webui_gate(&self) {
        use super::api::webui::Gate;
        let gate = if self.leadership.elected {
            Gate::Lead
        } else {
            match &self.leadership.leader {
                Some(l) => {
                    let host = l
                        .hostname
                        .clone()
                        .or_else(|| l.address.as_ref().and_then(|a| a.ip.clone()))
                        .unwrap_or_default();
                    Gate::Redirect(format!("//{host}:{}", l.port))
                }
                None => Gate::NoLeader,
            }
        };
        *self.webui_gate.lock().unwrap_or_else(|e| e.into_inner()) = gate;
    }

    fn elected(&mut self, ctx: &mut Context<Self>) {
        tracing::info!("elected as the leading master");
        self.leadership.elected = true;
        self.leadership.elected_time = Some(now_secs());
        self.update_webui_gate();
        if let Some(m) = &self.metrics {
            m.elected.set(1.0);
        }
        self.recover_registry(ctx);
    }

    /// Stops at once: a leader that lost its candidacy must not act on (Mesos aborts).
    pub(super) fn abdicate(&mut self, ctx: &mut Context<Self>, why: &str) {
        tracing::error!("lost leadership ({why}): stopping this master");
        self.leadership.elected = false;
        self.leadership.recovered = false;
        self.update_webui_gate();
        self.leadership.deferred.clear();
        self.leadership.deferred_from.clear();
        if let Some(m) = &self.metrics {
            m.elected.set(0.0);
        }
        ctx.terminate_self();
    }

    /// Whether it was elected and is recovering its registry: then agents' (re)registrations
    /// and frameworks' subscriptions are kept ([`Master::defer`]).
    pub(super) fn recovering(&self) -> bool {
        self.leadership.elected && !self.leadership.recovered
    }

    /// Keeps a (re)registration or subscription from `from` that arrived while recovering
    /// (replacing an earlier one from the same sender) to handle once recovered. Mesos drops
    /// them, and the senders' backoff then delays a 40,000-agent failover by seconds.
    pub(super) fn defer(&mut self, from: UPID, f: Deferred) {
        let l = &mut self.leadership;
        match l.deferred_from.get(&from) {
            Some(&i) => l.deferred[i] = Some(f),
            None if l.deferred.len() < MAX_DEFERRED => {
                l.deferred_from.insert(from, l.deferred.len());
                l.deferred.push(Some(f));
            }
            None => {
                if let Some(m) = &self.metrics {
                    m.dropped_messages.inc();
                }
            }
        }
    }

    /// Handles what [`Master::defer`] kept (once the registry is recovered).
    pub(super) fn run_deferred(&mut self, ctx: &mut Context<Self>) {
        let kept = std::mem::take(&mut self.leadership.deferred);
        self.leadership.deferred_from.clear();
        if !kept.is_empty() {
            tracing::info!(
                messages = kept.len(),
                "handling registrations that arrived during recovery"
            );
        }
        for f in kept.into_iter().flatten() {
            f(self, ctx);
        }
        self.metrics_changed(ctx);
    }

    /// Whether messages are acted on; counts the dropped ones.
    pub(super) fn leading(&self) -> bool {
        let ok = self.leadership.elected && self.leadership.recovered;
        if !ok {
            if let Some(m) = &self.metrics {
                m.dropped_messages.inc();
            }
        }
        ok
    }

    /// Mesos's `redirect()`: 307 to the leader's `//hostname:port` plus the request's path and
    /// query (only the base for `/redirect`), 503 when no leader is known.
    pub(super) fn redirect(&self, req: &HttpRequest) -> HttpResponse {
        let Some(l) = &self.leadership.leader else {
            return HttpResponse::text(503, "No leader elected");
        };
        let host = l
            .hostname
            .clone()
            .or_else(|| l.address.as_ref().and_then(|a| a.ip.clone()))
            .unwrap_or_default();
        let base = format!("//{host}:{}", l.port);
        let route = req.route.trim_matches('/');
        let location = if route == "redirect" {
            base
        } else if route.starts_with("redirect/") {
            return HttpResponse::text(404, "");
        } else if req.query.is_empty() {
            format!("{base}{}", req.path)
        } else {
            format!("{base}{}?{}", req.path, req.query)
        };
        HttpResponse::text(307, "").with_header("Location", &location)
    }

    /// For every route but `/health`, `/flags`, `/version` and `/redirect`: a redirect unless
    /// this master leads; for the v1 APIs also 503 until it has recovered.
    pub(super) fn gate(&self, req: &HttpRequest, api: bool) -> Option<HttpResponse> {
        if !self.leadership.elected {
            return Some(self.redirect(req));
        }
        if api && !self.leadership.recovered {
            return Some(HttpResponse::text(503, "Master has not finished recovery"));
        }
        None
    }
}
