//! HTTP calls to the real binaries in tests: a GET, a GET of JSON, and a v1 operator call,
//! each bounded in time (an unanswered call is an error, never a hung test).

use std::time::Duration;

use libprocess::http_client::{request, Response};
use serde_json::Value;

/// How long one call may take.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// `GET path` on `addr` (`ip:port`).
pub async fn get(addr: &str, path: &str) -> std::io::Result<Response> {
    match tokio::time::timeout(CALL_LIMIT, request(addr, "GET", path, &[], b"")).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::other(format!(
            "no answer from {addr}{path} within {CALL_LIMIT:?}"
        ))),
    }
}

/// The JSON body of `GET path` on `addr`; an error names a non-200 status.
pub async fn json(addr: &str, path: &str) -> Result<Value, String> {
    let r = get(addr, path).await.map_err(|e| e.to_string())?;
    if r.head.status != 200 {
        return Err(format!("{path}: {}", r.head.status));
    }
    serde_json::from_slice(&r.body).map_err(|e| e.to_string())
}

/// A v1 operator call (`POST /api/v1`, JSON) to `addr`: its status and JSON body (`Null`
/// when the body is not JSON).
pub async fn operator(addr: &str, call: &Value) -> Result<(u16, Value), String> {
    let body = serde_json::to_vec(call).map_err(|e| e.to_string())?;
    let headers = [("Content-Type", "application/json")];
    let r = tokio::time::timeout(
        CALL_LIMIT,
        request(addr, "POST", "/api/v1", &headers, &body),
    )
    .await
    .map_err(|_| format!("no answer from {addr} within {CALL_LIMIT:?}"))?
    .map_err(|e| e.to_string())?;
    Ok((
        r.head.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    ))
}
