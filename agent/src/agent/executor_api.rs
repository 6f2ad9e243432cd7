//! The v1 executor API at `/<agent id>/api/v1/executor`: SUBSCRIBE opens an executor's event
//! stream (with the launches queued for it, and taking back the updates a resubscribing
//! executor resends), UPDATE hands the agent a status update, HEARTBEAT keeps it alive.

use bytes::Bytes;
use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_api::http::{self as api, Encoding, Rejection};
use mesos_api::messages::{ExecutorToFramework, FrameworkToExecutor, WireMessage};
use mesos_api::protobuf;
use mesos_api::protocol::executor::{self as exec_api, CallType};
use mesos_api::protocol::task::{Source, TaskInfo, TaskState};
use mesos_api::{ExecutorID, FrameworkID};
use tokio::sync::mpsc::UnboundedSender;

use super::state::Queued;
use super::{reject, Agent};

impl Agent {
    pub(super) fn executor_api(&mut self, ctx: &mut Context<Self>, req: HttpRequest) -> Reply {
        match self.executor_call(ctx, &req) {
            Ok(r) => r,
            Err(e) => reject(e).into(),
        }
    }

    fn executor_call(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
    ) -> Result<Reply, Rejection> {
        if req.method.as_str() != "POST" {
            return Err(Rejection::method_not_allowed("Expecting a POST request"));
        }
        let encoding = api::check_content_type(req.header("content-type"))?;
        let call: exec_api::Call = api::decode_call(encoding, protobuf::EXECUTOR_CALL, &req.body)?;
        let (fid, eid) = (call.framework_id.clone(), call.executor_id.clone());
        // With --authenticate_http_executors the principal is the token's claims: an executor
        // acts for itself only.
        if let Some(claims) = &req.principal {
            let c: serde_json::Value = serde_json::from_str(claims).unwrap_or_default();
            if c["fid"] != fid.value.as_str() || c["eid"] != eid.value.as_str() {
                return Err(Rejection::forbidden(format!(
                    "The executor's token is for executor {} of framework {}, not '{eid}' of '{fid}'",
                    c["eid"], c["fid"]
                )));
            }
        }
        if self.executor_mut(&fid, &eid).is_none() {
            return Err(Rejection::bad_request(format!(
                "Executor '{eid}' of framework '{fid}' is not known to this agent"
            )));
        }
        match call.kind.unwrap_or(CallType::Unknown) {
            CallType::Subscribe => {
                let accept = api::check_accept(req.header("accept"))?;
                let resp = self.executor_subscribe(&fid, &eid, accept);
                self.metrics_changed(ctx);
                // A resubscribing executor resends what the agent may not have received.
                let resent = call
                    .subscribe
                    .map(|s| s.unacknowledged_updates)
                    .unwrap_or_default();
                for u in resent {
                    let mut st = u.status;
                    let Some(uuid) = st.uuid.clone() else {
                        continue;
                    };
                    let tid = st.task_id.clone();
                    let seen = self.executor_mut(&fid, &eid).is_some_and(|e| {
                        e.tasks.get(&st.task_id).is_none_or(|t| {
                            t.statuses.iter().any(|x| x.uuid.as_ref() == Some(&uuid))
                        })
                    });
                    if !seen {
                        st.source = Some(Source::Executor);
                        st.executor_id = Some(eid.clone());
                        self.handle_update(ctx, &fid, Some(eid.clone()), st);
                        tracing::info!(task = %tid, "took a status update resent by a resubscribing executor");
                    }
                    if let Some(tx) = self.executor_mut(&fid, &eid).and_then(|e| e.stream.clone()) {
                        let ev = exec_api::Event {
                            acknowledged: Some(exec_api::Acknowledged { task_id: tid, uuid }),
                            ..exec_api::Event::new(exec_api::EventType::Acknowledged)
                        };
                        tx.send(&ev);
                    }
                }
                resp.map(Reply::from)
            }
            CallType::Update => {
                let Some(u) = call.update else {
                    return Err(Rejection::bad_request("Expecting 'update' to be present"));
                };
                let mut s = u.status;
                let Some(uuid) = s.uuid.clone() else {
                    return Err(Rejection::bad_request("Expecting 'uuid' to be present"));
                };
                let known = self
                    .executor_mut(&fid, &eid)
                    .is_some_and(|e| e.tasks.contains_key(&s.task_id));
                if !known {
                    self.count(|m| m.invalid_status_updates.inc());
                    return Err(Rejection::bad_request(format!(
                        "Task '{}' is not known to executor '{eid}'",
                        s.task_id
                    )));
                }
                s.source = Some(Source::Executor);
                s.executor_id = Some(eid.clone());
                // A task the kernel's OOM killer ended failed for its container's memory limit.
                if s.state == TaskState::Failed {
                    if let Some(e) = self.executor_mut(&fid, &eid) {
                        let (cid, limits) = (e.container_id.value.clone(), e.limits.clone());
                        if let Some(l) = self.containerizer.memory_limitation(&cid, &limits) {
                            s.limitation = super::executors::limitation_of(l.reason, &limits);
                            s.reason = Some(l.reason);
                            s.message = Some(l.message);
                        }
                    }
                }
                let tid = s.task_id.clone();
                self.handle_update(ctx, &fid, Some(eid.clone()), s);
                // The agent holds the update now: the executor may forget it.
                if let Some(tx) = self.executor_mut(&fid, &eid).and_then(|e| e.stream.clone()) {
                    let ev = exec_api::Event {
                        acknowledged: Some(exec_api::Acknowledged { task_id: tid, uuid }),
                        ..exec_api::Event::new(exec_api::EventType::Acknowledged)
                    };
                    tx.send(&ev);
                }
                Ok(HttpResponse::empty(202).into())
            }
            CallType::Heartbeat => Ok(HttpResponse::empty(202).into()),
            CallType::Message => {
                let Some(m) = call.message else {
                    return Err(Rejection::bad_request("Expecting 'message' to be present"));
                };
                if self.executor_mut(&fid, &eid).is_none() {
                    return Err(Rejection::bad_request(format!(
                        "Executor '{eid}' of framework '{fid}' is not known to this agent"
                    )));
                }
                // To the framework, through the master (Mesos's ExecutorToFrameworkMessage).
                match (&self.master, &self.info.id) {
                    (Some(master), Some(agent_id)) => {
                        let msg = ExecutorToFramework {
                            agent_id: agent_id.clone(),
                            framework_id: fid,
                            executor_id: eid,
                            data: m.data,
                        };
                        ctx.send_named(master, ExecutorToFramework::NAME, msg);
                        Ok(HttpResponse::empty(202).into())
                    }
                    _ => Err(Rejection::unavailable(
                        "The agent is not registered with a master",
                    )),
                }
            }
            CallType::Unknown => Err(Rejection::bad_request("Expecting 'type' to be present")),
        }
    }

    pub(super) fn executor_subscribe(
        &mut self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        accept: Encoding,
    ) -> Result<HttpResponse, Rejection> {
        let Some(framework_info) = self.frameworks.get(fid).map(|f| f.info.clone()) else {
            return Err(Rejection::bad_request(format!(
                "Framework '{fid}' is not known to this agent"
            )));
        };
        let agent_info = self.info.clone();
        let heartbeat = self.flags.executor_heartbeat_interval;
        let Some(e) = self.executor_mut(fid, eid) else {
            return Err(Rejection::bad_request(format!(
                "Executor '{eid}' of framework '{fid}' is not known to this agent"
            )));
        };
        let (resp, tx) = HttpResponse::stream(accept.media_type());
        let tx = ExecutorStream {
            tx,
            encoding: accept,
        };
        let ev = exec_api::Event {
            subscribed: Some(exec_api::Subscribed {
                executor_info: e.info.clone(),
                framework_info,
                agent_info,
                container_id: Some(e.container_id.clone()),
            }),
            ..exec_api::Event::new(exec_api::EventType::Subscribed)
        };
        tx.send(&ev);
        for q in e.queued.drain(..) {
            tx.send(&launch_event(&q));
        }
        if e.shutting_down {
            tx.send(&exec_api::Event::new(exec_api::EventType::Shutdown));
        }
        tx.heartbeat(heartbeat);
        e.stream = Some(tx);
        tracing::debug!(framework = %fid, executor = %eid, kind = ?e.kind, dir = %e.directory.display(), "executor subscribed");
        Ok(resp)
    }
}

impl Agent {
    /// A framework's MESSAGE, from the master: a MESSAGE event on the executor's stream
    /// (dropped, as Mesos drops it, when the executor has not subscribed).
    pub(super) fn framework_message(&mut self, m: FrameworkToExecutor) {
        let stream = self
            .executor_mut(&m.framework_id, &m.executor_id)
            .and_then(|e| e.stream.clone());
        let Some(tx) = stream else {
            tracing::warn!(framework = %m.framework_id, executor = %m.executor_id, "dropping a framework message: the executor is not subscribed");
            self.count(|m| m.invalid_framework_messages.inc());
            return;
        };
        self.count(|m| m.valid_framework_messages.inc());
        let ev = exec_api::Event {
            message: Some(exec_api::Message { data: m.data }),
            ..exec_api::Event::new(exec_api::EventType::Message)
        };
        tx.send(&ev);
    }
}

/// A subscribed executor's event stream: the response body's sender and the encoding its
/// executor accepts.
#[derive(Clone)]
pub(super) struct ExecutorStream {
    tx: UnboundedSender<Bytes>,
    encoding: Encoding,
}

impl ExecutorStream {
    /// Sends one event as one record (nothing when the executor has gone).
    pub(super) fn send(&self, ev: &exec_api::Event) {
        if let Some(r) = api::event_record(self.encoding, protobuf::EXECUTOR_EVENT, ev) {
            let _ = self.tx.send(r);
        }
    }

    /// A HEARTBEAT on this stream every `interval` (as Mesos's agent sends its HTTP executors),
    /// for as long as the agent keeps the stream: a stream the agent replaced or dropped, or
    /// whose executor went away, gets no more.
    fn heartbeat(&self, interval: std::time::Duration) {
        let weak = self.tx.downgrade();
        let encoding = self.encoding;
        let Some(beat) = api::event_record(
            encoding,
            protobuf::EXECUTOR_EVENT,
            &exec_api::Event::new(exec_api::EventType::Heartbeat),
        ) else {
            return;
        };
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(tx) if tx.send(beat.clone()).is_ok() => {}
                    _ => return,
                }
            }
        });
    }
}

/// The LAUNCH or LAUNCH_GROUP event of a queued launch.
pub(super) fn launch_event(q: &Queued) -> exec_api::Event {
    match q {
        Queued::Task(t) => exec_api::Event {
            launch: Some(exec_api::Launch {
                task: TaskInfo::clone(t),
            }),
            ..exec_api::Event::new(exec_api::EventType::Launch)
        },
        Queued::Group(g) => exec_api::Event {
            launch_group: Some(exec_api::LaunchGroup {
                task_group: g.clone(),
            }),
            ..exec_api::Event::new(exec_api::EventType::LaunchGroup)
        },
    }
}
