//! The executor's connection to its agent: the v1 executor API (SUBSCRIBE's event stream, then
//! calls) and the agent's operator API for nested containers.

use std::time::Duration;

use mesos_api::protocol::executor::{Call, CallType, Event, Subscribe};
use mesos_api::{ExecutorID, FrameworkID};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::ExecutorError;
use crate::httpc;

pub(super) fn env(name: &str) -> Result<String, ExecutorError> {
    std::env::var(name).map_err(|_| ExecutorError::Environment(name.to_string()))
}

/// The executor's way to its agent: the executor API and the operator API.
#[derive(Clone)]
pub(super) struct Conn {
    pub(super) endpoint: String,
    /// The executor API.
    pub(super) path: String,
    /// The agent's operator API (nested containers).
    pub(super) operator: String,
    pub(super) framework_id: FrameworkID,
    pub(super) executor_id: ExecutorID,
    /// `Bearer <token>` when the agent gave one (MESOS_EXECUTOR_AUTHENTICATION_TOKEN).
    authorization: Option<String>,
}

impl Conn {
    pub(super) fn from_env() -> Result<Conn, ExecutorError> {
        let endpoint = env("MESOS_AGENT_ENDPOINT")?;
        // With TLS on (executors inherit the agent's LIBPROCESS_SSL_*), the agent is reached over
        // https, with the same certificate set-up, as Mesos's executors do.
        let endpoint = if libprocess::tls::enabled_in_env() {
            format!("https://{endpoint}")
        } else {
            endpoint
        };
        // `slave(1)@ip:port` names the agent process that serves the executor API.
        let id = std::env::var("MESOS_SLAVE_PID")
            .ok()
            .and_then(|p| p.split('@').next().map(str::to_string))
            .unwrap_or_else(|| "slave(1)".into());
        Ok(Conn {
            endpoint,
            path: format!("/{id}/api/v1/executor"),
            operator: format!("/{id}/api/v1"),
            framework_id: FrameworkID::new(env("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorID::new(env("MESOS_EXECUTOR_ID")?),
            authorization: std::env::var("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
                .ok()
                .map(|t| format!("Bearer {t}")),
        })
    }

    /// The headers of a JSON call, with the executor's token when it has one.
    pub(super) fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut h = JSON_HEADERS.to_vec();
        if let Some(a) = &self.authorization {
            h.push(("Authorization", a.as_str()));
        }
        h
    }

    pub(super) fn call(&self, kind: CallType) -> Call {
        Call::new(kind, self.executor_id.clone(), self.framework_id.clone())
    }

    /// One operator API call: the response's payload (`<kind>` of the answer, `null` for an
    /// empty 200), or why not. `Err(None)` means the agent could not be reached.
    pub(super) async fn operator_call(&self, call: Value) -> Result<Value, Option<String>> {
        let body = serde_json::to_vec(&call).unwrap_or_default();
        let r = httpc::request(
            &self.endpoint,
            "POST",
            &self.operator,
            &self.headers(),
            &body,
        )
        .await
        .map_err(|_| None)?;
        if r.head.status != 200 {
            return Err(Some(format!(
                "{} ({})",
                String::from_utf8_lossy(&r.body).trim(),
                r.head.status
            )));
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| Some(format!("a bad answer from the agent: {e}")))?;
        let kind = call["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(v[kind.as_str()].clone())
    }
}

/// A nested container's `ContainerID` in its v1 JSON form.
pub(super) fn nested_id(parent: &str, id: &str) -> Value {
    json!({"value": id, "parent": {"value": parent}})
}

/// A call's JSON body.
pub(super) fn json_body(c: &Call) -> Vec<u8> {
    serde_json::to_vec(&mesos_api::protocol::to_json(c)).unwrap_or_default()
}

/// The headers of a JSON call.
pub(super) const JSON_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

/// Subscribes to the agent and forwards its events (then why it disconnected), each wrapped by
/// `wrap`, to `tx`.
pub(super) async fn subscribe<I: Send + 'static>(
    conn: &Conn,
    payload: Subscribe,
    tx: mpsc::UnboundedSender<I>,
    wrap: fn(Result<Box<Event>, String>) -> I,
) -> Result<(), ExecutorError> {
    let mut sub = conn.call(CallType::Subscribe);
    sub.subscribe = Some(payload);
    let (head, mut body) = httpc::stream(
        &conn.endpoint,
        "POST",
        &conn.path,
        &conn.headers(),
        &json_body(&sub),
    )
    .await
    .map_err(|e| {
        ExecutorError::Subscribe(format!(
            "cannot subscribe to the agent at {}: {e}",
            conn.endpoint
        ))
    })?;
    if head.status != 200 {
        let text = String::from_utf8_lossy(&body.read_all().await.unwrap_or_default()).into_owned();
        return Err(ExecutorError::Subscribe(format!(
            "subscription refused ({}): {text}",
            head.status
        )));
    }
    tokio::spawn(async move {
        loop {
            match body.next_record().await {
                Ok(Some(rec)) => match serde_json::from_slice::<serde_json::Value>(&rec)
                    .map_err(|e| e.to_string())
                    .and_then(|v| {
                        mesos_api::protocol::from_json::<Event>(&v).map_err(|e| e.to_string())
                    }) {
                    Ok(ev) => {
                        let _ = tx.send(wrap(Ok(Box::new(ev))));
                    }
                    Err(e) => eprintln!("executor: ignoring a bad event: {e}"),
                },
                Ok(None) => {
                    let _ = tx.send(wrap(Err("the agent closed the stream".into())));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(wrap(Err(e.to_string())));
                    return;
                }
            }
        }
    });
    Ok(())
}

/// A duration in stout's form (`900secs`, `15mins`), as the agent passes it.
pub(super) fn parse_secs(s: &str) -> Option<Duration> {
    let units = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("ms", 1e-3),
        ("secs", 1.0),
        ("mins", 60.0),
        ("hrs", 3600.0),
    ];
    units.iter().find_map(|(u, m)| {
        s.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| Duration::from_secs_f64(n * m))
    })
}
