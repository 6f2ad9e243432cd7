//! The v1 HTTP scheduler API as the SDK's transport ([`crate::Transport::Http`]), as Mesos's
//! v1 scheduler library speaks it: SUBSCRIBE is a POST to the master's `/api/v1/scheduler`
//! whose response is the framework's event stream (RecordIO), every other call a POST of its
//! own with the stream's `Mesos-Stream-Id`, each in JSON or protobuf. A credential is sent as
//! HTTP Basic (what `--authenticate_http_frameworks` checks).
//!
//! One connection task per subscription attempt: it subscribes, hands each event to the
//! scheduler process and posts the driver's calls in order; when the stream ends or the master
//! refuses, it tells the process why (which resubscribes or stops, as for the binary transport).

use libprocess::http_client;
use libprocess::PID;
use mesos_api::http::{decode_call, Encoding};
use mesos_api::protobuf::{SCHEDULER_CALL, SCHEDULER_EVENT};
use mesos_api::protocol::scheduler::{Call, Event};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Scheduler, SchedulerProcess};

/// The master's scheduler endpoint.
pub const PATH: &str = "/api/v1/scheduler";

/// Why a subscription's connection ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Try again (the master is down, restarting, or closed the stream).
    Retry(String),
    /// The master answered with a redirect to the leading master at this `host:port`.
    Redirect(String),
    /// The master refused the framework (401, 403, 400 on SUBSCRIBE): the SDK stops.
    Refused(String),
    /// The driver was dropped (the scheduler stopped).
    Stopped,
}

/// What a connection needs.
pub(crate) struct Connection<S: Scheduler> {
    pub(crate) me: PID<SchedulerProcess<S>>,
    /// The subscription attempt it serves.
    pub(crate) attempt: u64,
    /// `host:port`, or `https://host:port` with TLS.
    pub(crate) addr: String,
    pub(crate) encoding: Encoding,
    /// `Basic ...`, with a credential.
    pub(crate) authorization: Option<String>,
    pub(crate) subscribe: Call,
    pub(crate) calls: UnboundedReceiver<Call>,
}

impl<S: Scheduler> Connection<S> {
    /// Runs the subscription until it ends, then tells the process why.
    pub(crate) async fn run(mut self) {
        let ended = self.serve().await;
        let (me, attempt) = (self.me.clone(), self.attempt);
        let _ = me
            .dispatch(move |p: &mut SchedulerProcess<S>, c| p.http_ended(c, attempt, ended))
            .await;
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let media = self.encoding.media_type().to_string();
        let mut h = vec![("Content-Type", media.clone()), ("Accept", media)];
        if let Some(a) = &self.authorization {
            h.push(("Authorization", a.clone()));
        }
        h
    }

    async fn serve(&mut self) -> Ended {
        let body = match self.encoding.encode(SCHEDULER_CALL, &self.subscribe) {
            Ok(b) => b,
            Err(e) => return Ended::Refused(format!("cannot encode SUBSCRIBE: {e}")),
        };
        let headers = self.headers();
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (head, mut events) =
            match http_client::stream(&self.addr, "POST", PATH, &borrowed, &body).await {
                Ok(r) => r,
                Err(e) => return Ended::Retry(format!("cannot reach the master: {e}")),
            };
        match head.status {
            200 => {}
            307 => {
                // `//host:port/api/v1/scheduler`, as Mesos's non-leading masters answer.
                let to = head.header("location").unwrap_or_default();
                let hostport = to
                    .trim_start_matches("http:")
                    .trim_start_matches("https:")
                    .trim_start_matches("//")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                return if hostport.is_empty() {
                    Ended::Retry("a redirect without a location".into())
                } else {
                    Ended::Redirect(hostport)
                };
            }
            status => {
                let text = events.read_all().await.unwrap_or_default();
                let why = format!(
                    "SUBSCRIBE answered {status}: {}",
                    String::from_utf8_lossy(&text).trim()
                );
                return match status {
                    400 | 401 | 403 | 406 | 415 => Ended::Refused(why),
                    _ => Ended::Retry(why),
                };
            }
        }
        let Some(stream_id) = head.header("mesos-stream-id").map(str::to_string) else {
            return Ended::Retry("SUBSCRIBE answered without a Mesos-Stream-Id".into());
        };
        let (encoding, me, attempt) = (self.encoding, self.me.clone(), self.attempt);
        let events = async move {
            loop {
                let record = match events.next_record().await {
                    Ok(Some(r)) => r,
                    Ok(None) => return Ended::Retry("the master closed the event stream".into()),
                    Err(e) => return Ended::Retry(format!("the event stream broke: {e}")),
                };
                let ev: Event = match decode_call(encoding, SCHEDULER_EVENT, &record) {
                    Ok(ev) => ev,
                    Err(e) => {
                        return Ended::Retry(format!("an event that is not one: {}", e.message))
                    }
                };
                let delivered = me
                    .dispatch(move |p: &mut SchedulerProcess<S>, c| p.http_event(c, attempt, ev))
                    .await;
                if delivered.is_err() {
                    return Ended::Stopped;
                }
            }
        };
        let mut with_stream = headers;
        with_stream.push(("Mesos-Stream-Id", stream_id));
        let (addr, calls) = (self.addr.clone(), &mut self.calls);
        let posts = async move {
            let headers: Vec<(&str, &str)> =
                with_stream.iter().map(|(k, v)| (*k, v.as_str())).collect();
            while let Some(call) = calls.recv().await {
                let kind = call.kind;
                let body = match encoding.encode(SCHEDULER_CALL, &call) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!("dropping a call the schema does not fit: {e}");
                        continue;
                    }
                };
                match http_client::request(&addr, "POST", PATH, &headers, &body).await {
                    Ok(r) if r.head.status == 202 => {}
                    Ok(r) => tracing::warn!(
                        call = ?kind,
                        status = r.head.status,
                        "the master refused a call: {}",
                        String::from_utf8_lossy(&r.body).trim()
                    ),
                    Err(e) => return Ended::Retry(format!("cannot send a call: {e}")),
                }
            }
            Ended::Stopped
        };
        tokio::select! {
            e = events => e,
            e = posts => e,
        }
    }
}

/// `Basic base64(principal:secret)`.
pub(crate) fn basic(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        mesos_api::serde_util::base64_encode(format!("{principal}:{secret}").as_bytes())
    )
}
