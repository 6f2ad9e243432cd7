//! Rules the v1 HTTP APIs share (scheduler, executor, operator): which media types a request may
//! carry and accept, RecordIO framing of streamed events, and decoding a JSON call into a
//! rejection with a one-line reason.

use serde::de::DeserializeOwned;

/// The only media type we read and write. Mesos also speaks `application/x-protobuf`; we answer
/// it with 415 (request) or 406 (response) and a message saying so.
pub const JSON: &str = "application/json";

/// Largest call body the APIs decode (bigger ones get 413).
pub const MAX_CALL_BYTES: usize = 4 << 20;

/// Why a request is refused: an HTTP status and a one-line reason. Every error the master's
/// and the agents' HTTP handlers answer is one, made by the constructors below, and each crate
/// turns it into a response in one place (a `text/plain` body holding the reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 4xx or 5xx.
    pub status: u16,
    /// One line, for the body.
    pub message: String,
}

impl Rejection {
    /// A rejection with this status (line breaks are dropped from the message).
    pub fn new(status: u16, message: impl Into<String>) -> Rejection {
        let mut message = message.into();
        message.retain(|c| c != '\n' && c != '\r');
        Rejection { status, message }
    }

    /// 400 Bad Request: the request is malformed or names something unknown.
    pub fn bad_request(message: impl Into<String>) -> Rejection {
        Rejection::new(400, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Rejection {
        Rejection::new(403, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Rejection {
        Rejection::new(404, message)
    }

    /// 405 Method Not Allowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Rejection {
        Rejection::new(405, message)
    }

    /// 406 Not Acceptable (the `Accept` header allows nothing we answer in).
    pub fn not_acceptable(message: impl Into<String>) -> Rejection {
        Rejection::new(406, message)
    }

    /// 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Rejection {
        Rejection::new(409, message)
    }

    /// 413 Payload Too Large.
    pub fn payload_too_large(message: impl Into<String>) -> Rejection {
        Rejection::new(413, message)
    }

    /// 415 Unsupported Media Type.
    pub fn unsupported_media_type(message: impl Into<String>) -> Rejection {
        Rejection::new(415, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Rejection {
        Rejection::new(500, message)
    }

    /// 501 Not Implemented.
    pub fn not_implemented(message: impl Into<String>) -> Rejection {
        Rejection::new(501, message)
    }

    /// 503 Service Unavailable.
    pub fn unavailable(message: impl Into<String>) -> Rejection {
        Rejection::new(503, message)
    }
}

fn media_types(header: &str) -> impl Iterator<Item = String> + '_ {
    header.split(',').map(|part| {
        part.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Checks a request's `Content-Type`: missing is 400, anything but JSON 415.
pub fn check_content_type(header: Option<&str>) -> Result<(), Rejection> {
    let Some(h) = header else {
        return Err(Rejection::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    };
    match media_types(h).next().as_deref() {
        Some(JSON) => Ok(()),
        Some("application/x-protobuf") => Err(Rejection::unsupported_media_type(
            "Content-Type 'application/x-protobuf' is not supported here; use 'application/json'",
        )),
        _ => Err(Rejection::unsupported_media_type(format!(
            "Expecting 'Content-Type' of 'application/json', got '{h}'"
        ))),
    }
}

/// Checks a request's `Accept`: missing, `*/*`, `application/*` or JSON are fine, else 406.
pub fn check_accept(header: Option<&str>) -> Result<(), Rejection> {
    let Some(h) = header else {
        return Ok(());
    };
    if h.trim().is_empty() {
        return Ok(());
    }
    if media_types(h).any(|t| t == JSON || t == "*/*" || t == "application/*") {
        Ok(())
    } else {
        Err(Rejection::not_acceptable(format!(
            "Expecting 'Accept' to allow 'application/json', got '{h}'"
        )))
    }
}

/// Decodes a JSON call body (400 with serde's reason when it is not one).
pub fn decode_call<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    if body.len() > MAX_CALL_BYTES {
        return Err(Rejection::payload_too_large(format!(
            "Request body of {} bytes exceeds the limit of {MAX_CALL_BYTES}",
            body.len()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Rejection::bad_request(format!("Failed to parse body into JSON: {e}")))?;
    if !v.is_object() {
        return Err(Rejection::bad_request("Expecting a JSON object"));
    }
    crate::protocol::from_json(&v)
        .map_err(|e| Rejection::bad_request(format!("Failed to convert JSON into Call: {e}")))
}

/// Checks a v1 call request in Mesos's order (POST, `Content-Type`, `Accept`, the body) and
/// returns the call's `type` with its payload (the value under the lowercase type name; null
/// when absent). The operator APIs of the master and the agent read their calls with it.
pub fn operator_call(
    method: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
) -> Result<(String, serde_json::Value), Rejection> {
    if method != "POST" {
        return Err(Rejection::method_not_allowed(format!(
            "Expecting a 'POST' request, received '{method}'"
        )));
    }
    check_content_type(content_type)?;
    check_accept(accept)?;
    let mut call: serde_json::Value = decode_call(body)?;
    let kind = call["type"]
        .as_str()
        .ok_or_else(|| Rejection::bad_request("Expecting 'type' to be present"))?
        .to_string();
    let payload = call
        .get_mut(kind.to_ascii_lowercase().as_str())
        .map(serde_json::Value::take)
        .unwrap_or_default();
    Ok((kind, payload))
}

/// An operator API answer: `{"type": KIND, "<kind>": payload}`.
pub fn response(kind: &str, payload: serde_json::Value) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("type".into(), kind.into());
    o.insert(kind.to_ascii_lowercase(), payload);
    serde_json::Value::Object(o)
}

/// A flat JSON object as the operator API's list form: `[{"name": k, "value": v}, ...]`
/// (GET_FLAGS, GET_METRICS).
pub fn name_values(object: &serde_json::Value) -> serde_json::Value {
    serde_json::Value::Array(
        object
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
            .collect(),
    )
}

/// One RecordIO record: `<decimal length>\n<data>`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// The JSON form of an event, as one RecordIO record.
pub fn json_record<T: serde::Serialize>(event: &T) -> Vec<u8> {
    let body = serde_json::to_vec(&crate::protocol::to_json(event)).unwrap_or_default();
    record(&body)
}

/// SET_LOGGING_LEVEL's payload: the verbose level and for how long (both required).
pub fn logging_level_call(
    payload: &serde_json::Value,
) -> Result<(u32, std::time::Duration), Rejection> {
    let level = payload["level"]
        .as_u64()
        .and_then(|l| u32::try_from(l).ok())
        .ok_or_else(|| {
            Rejection::bad_request("Expecting 'set_logging_level.level' to be present")
        })?;
    let ns = payload["duration"]["nanoseconds"]
        .as_i64()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            Rejection::bad_request(
                "Expecting 'set_logging_level.duration.nanoseconds' to be a non-negative number",
            )
        })?;
    Ok((level, std::time::Duration::from_nanos(ns as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::scheduler::Call;

    #[test]
    fn rejections_carry_their_status_and_one_line() {
        for (r, status) in [
            (Rejection::bad_request("x"), 400),
            (Rejection::forbidden("x"), 403),
            (Rejection::not_found("x"), 404),
            (Rejection::method_not_allowed("x"), 405),
            (Rejection::not_acceptable("x"), 406),
            (Rejection::conflict("x"), 409),
            (Rejection::payload_too_large("x"), 413),
            (Rejection::unsupported_media_type("x"), 415),
            (Rejection::internal("x"), 500),
            (Rejection::not_implemented("x"), 501),
            (Rejection::unavailable("x"), 503),
        ] {
            assert_eq!(r, Rejection::new(status, "x"));
        }
        assert_eq!(Rejection::conflict("a\r\nb").message, "ab");
    }

    #[test]
    fn content_type_rules() {
        assert_eq!(check_content_type(None).unwrap_err().status, 400);
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert_eq!(
            check_content_type(Some("application/x-protobuf"))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            check_content_type(Some("text/plain")).unwrap_err().status,
            415
        );
    }

    #[test]
    fn accept_rules() {
        assert!(check_accept(None).is_ok());
        assert!(check_accept(Some("*/*")).is_ok());
        assert!(check_accept(Some("text/html, application/json;q=0.9")).is_ok());
        assert_eq!(check_accept(Some("text/html")).unwrap_err().status, 406);
        assert_eq!(
            check_accept(Some("application/x-protobuf"))
                .unwrap_err()
                .status,
            406
        );
    }

    #[test]
    fn bad_calls_are_400_with_one_line() {
        for body in [
            &b"{"[..],
            b"[]",
            b"{\"type\":7}",
            b"{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{}]}}",
        ] {
            let r = decode_call::<Call>(body).unwrap_err();
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
            assert!(!r.message.contains('\n'));
        }
        let big = vec![b' '; MAX_CALL_BYTES + 1];
        assert_eq!(decode_call::<Call>(&big).unwrap_err().status, 413);
    }

    #[test]
    fn records_are_length_prefixed() {
        assert_eq!(record(b"{}"), b"2\n{}".to_vec());
    }
}
