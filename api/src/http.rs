//! Rules the v1 HTTP APIs share (scheduler, executor, operator): which media types a request may
//! carry and accept, RecordIO framing of streamed events, and decoding a call (JSON or protobuf)
//! into a rejection with a one-line reason.

use serde::de::DeserializeOwned;

use crate::protobuf;

/// The JSON media type (stout's JSON form of the v1 messages).
pub const JSON: &str = "application/json";
/// The media type of a stream of records (its records' own type is in `Message-Accept` or
/// `Message-Content-Type`).
pub const RECORDIO: &str = "application/recordio";
/// The protobuf media type (the v1 messages' binary form, Mesos's field numbers).
pub const PROTOBUF: &str = "application/x-protobuf";

/// How a call's body or an answer is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

impl Encoding {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Json => JSON,
            Encoding::Protobuf => PROTOBUF,
        }
    }

    /// Writes `value` (a v1 message `message`, e.g. [`protobuf::SCHEDULER_EVENT`]) in this
    /// encoding. An error says the value does not fit the schema, which is our bug.
    pub fn encode<T: serde::Serialize>(self, message: &str, value: &T) -> Result<Vec<u8>, String> {
        let json = crate::protocol::to_json(value);
        match self {
            Encoding::Json => serde_json::to_vec(&json).map_err(|e| e.to_string()),
            Encoding::Protobuf => protobuf::encode(message, &json),
        }
    }
}

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

/// Checks a request's `Content-Type`: missing is 400, JSON or protobuf are read, anything else
/// is 415.
pub fn check_content_type(header: Option<&str>) -> Result<Encoding, Rejection> {
    let Some(h) = header else {
        return Err(Rejection::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    };
    match media_types(h).next().as_deref() {
        Some(JSON) => Ok(Encoding::Json),
        Some(PROTOBUF) => Ok(Encoding::Protobuf),
        _ => Err(Rejection::unsupported_media_type(format!(
            "Expecting 'Content-Type' of {JSON} or {PROTOBUF}, got '{h}'"
        ))),
    }
}

/// Checks a request's `Accept` as Mesos does: JSON when it is allowed (no header, `*/*`,
/// `application/*` or JSON itself), else protobuf when that is, else 406.
pub fn check_accept(header: Option<&str>) -> Result<Encoding, Rejection> {
    let Some(h) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(Encoding::Json);
    };
    if media_types(h).any(|t| t == JSON || t == "*/*" || t == "application/*") {
        Ok(Encoding::Json)
    } else if media_types(h).any(|t| t == PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else {
        Err(Rejection::not_acceptable(format!(
            "Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}', got '{h}'"
        )))
    }
}

/// The JSON form of a call body: parsed JSON, or a protobuf `message` (e.g.
/// [`protobuf::SCHEDULER_CALL`]) transcoded to JSON. 400 with the reason when it is neither,
/// 413 when it is too big.
pub fn call_json(
    encoding: Encoding,
    message: &str,
    body: &[u8],
) -> Result<serde_json::Value, Rejection> {
    if body.len() > MAX_CALL_BYTES {
        return Err(Rejection::payload_too_large(format!(
            "Request body of {} bytes exceeds the limit of {MAX_CALL_BYTES}",
            body.len()
        )));
    }
    let v: serde_json::Value = match encoding {
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| Rejection::bad_request(format!("Failed to parse body into JSON: {e}")))?,
        Encoding::Protobuf => protobuf::decode(message, body).map_err(|e| {
            Rejection::bad_request(format!("Failed to parse body into Call protobuf: {e}"))
        })?,
    };
    if !v.is_object() {
        return Err(Rejection::bad_request("Expecting a JSON object"));
    }
    Ok(v)
}

/// Decodes a call body of the v1 `message` into its type (400 with serde's reason when it is
/// not one).
pub fn decode_call<T: DeserializeOwned>(
    encoding: Encoding,
    message: &str,
    body: &[u8],
) -> Result<T, Rejection> {
    let v = call_json(encoding, message, body)?;
    crate::protocol::from_json(&v)
        .map_err(|e| Rejection::bad_request(format!("Failed to convert JSON into Call: {e}")))
}

/// An operator API call: its `type`, its payload (the value under the lowercase type name; null
/// when absent) and how the answer is to be encoded.
#[derive(Debug)]
pub struct OperatorCall {
    /// The call's `type`.
    pub kind: String,
    /// The call's payload.
    pub payload: serde_json::Value,
    /// The answer's encoding (from `Accept`).
    pub accept: Encoding,
}

/// Checks a v1 operator call request in Mesos's order (POST, `Content-Type`, the body,
/// `Accept`). `message` is the API's call message ([`protobuf::MASTER_CALL`] or
/// [`protobuf::AGENT_CALL`]). The operator APIs of the master and the agent read their calls
/// with it.
pub fn operator_call(
    method: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
    message: &str,
) -> Result<OperatorCall, Rejection> {
    if method != "POST" {
        return Err(Rejection::method_not_allowed(format!(
            "Expecting a 'POST' request, received '{method}'"
        )));
    }
    let encoding = check_content_type(content_type)?;
    let mut call = call_json(encoding, message, body)?;
    let kind = call["type"]
        .as_str()
        .ok_or_else(|| Rejection::bad_request("Expecting 'type' to be present"))?
        .to_string();
    // The calls answered with a stream of records take `Accept: application/recordio` (their
    // records' encoding is `Message-Accept`'s).
    let streamed = matches!(
        kind.as_str(),
        "LAUNCH_NESTED_CONTAINER_SESSION" | "ATTACH_CONTAINER_OUTPUT"
    ) && accept.is_some_and(|h| media_types(h).any(|t| t == RECORDIO));
    let accept = if streamed {
        Encoding::Json
    } else {
        check_accept(accept)?
    };
    let payload = call
        .get_mut(kind.to_ascii_lowercase().as_str())
        .map(serde_json::Value::take)
        .unwrap_or_default();
    Ok(OperatorCall {
        kind,
        payload,
        accept,
    })
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

/// An operator answer's JSON body re-encoded as the protobuf `message` (e.g.
/// [`protobuf::MASTER_RESPONSE`]), for a client that accepts only protobuf.
pub fn json_body_as_protobuf(message: &str, body: &[u8]) -> Result<Vec<u8>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    protobuf::encode(message, &v)
}

/// Reads RecordIO (`<decimal length>\n<data>`, repeated) from chunks as they arrive. A
/// record longer than [`MAX_CALL_BYTES`] or a malformed length is an error.
#[derive(Debug, Default)]
pub struct RecordReader {
    buf: Vec<u8>,
}

impl RecordReader {
    /// Adds a chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole record, if one has arrived.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
            if self.buf.len() > 20 {
                return Err("a RecordIO length that does not end".into());
            }
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buf[..nl])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| "a RecordIO length that is not a number".to_string())?;
        if len > MAX_CALL_BYTES {
            return Err(format!(
                "a RecordIO record of {len} bytes exceeds the limit of {MAX_CALL_BYTES}"
            ));
        }
        if self.buf.len() < nl + 1 + len {
            return Ok(None);
        }
        let rec = self.buf[nl + 1..nl + 1 + len].to_vec();
        self.buf.drain(..nl + 1 + len);
        Ok(Some(rec))
    }
}

/// One RecordIO record: `<decimal length>\n<data>`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// An event of the v1 `message` in `encoding`, as one RecordIO record. An event that does not
/// fit the schema (our bug) is logged and left out.
pub fn event_record<T: serde::Serialize>(
    encoding: Encoding,
    message: &str,
    event: &T,
) -> Option<bytes::Bytes> {
    match encoding.encode(message, event) {
        Ok(body) => Some(record(&body).into()),
        Err(e) => {
            tracing::error!("dropping an event: {e}");
            None
        }
    }
}

/// [`event_record`] of an event built as JSON already: pruned in place and written, never
/// copied (an operator SUBSCRIBED event holds the whole state).
pub fn value_record(
    encoding: Encoding,
    message: &str,
    mut event: serde_json::Value,
) -> Option<bytes::Bytes> {
    crate::protocol::prune_json(&mut event);
    let body = match encoding {
        Encoding::Json => serde_json::to_vec(&event).map_err(|e| e.to_string()),
        Encoding::Protobuf => protobuf::encode(message, &event),
    };
    match body {
        Ok(body) => Some(record(&body).into()),
        Err(e) => {
            tracing::error!("dropping an event: {e}");
            None
        }
    }
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
        assert_eq!(
            check_content_type(Some("application/json; charset=utf-8")),
            Ok(Encoding::Json)
        );
        assert_eq!(
            check_content_type(Some("application/x-protobuf")),
            Ok(Encoding::Protobuf)
        );
        assert_eq!(
            check_content_type(Some("text/plain")).unwrap_err().status,
            415
        );
    }

    #[test]
    fn accept_rules() {
        assert_eq!(check_accept(None), Ok(Encoding::Json));
        assert_eq!(check_accept(Some("*/*")), Ok(Encoding::Json));
        assert_eq!(
            check_accept(Some("text/html, application/json;q=0.9")),
            Ok(Encoding::Json)
        );
        assert_eq!(check_accept(Some("text/html")).unwrap_err().status, 406);
        assert_eq!(
            check_accept(Some("application/x-protobuf")),
            Ok(Encoding::Protobuf)
        );
        // JSON wins when both are allowed, as in Mesos.
        assert_eq!(
            check_accept(Some("application/x-protobuf, application/json")),
            Ok(Encoding::Json)
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
            let r =
                decode_call::<Call>(Encoding::Json, protobuf::SCHEDULER_CALL, body).unwrap_err();
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
            assert!(!r.message.contains('\n'));
        }
        let big = vec![b' '; MAX_CALL_BYTES + 1];
        for e in [Encoding::Json, Encoding::Protobuf] {
            let r = decode_call::<Call>(e, protobuf::SCHEDULER_CALL, &big);
            assert_eq!(r.unwrap_err().status, 413);
        }
        let r = decode_call::<Call>(Encoding::Protobuf, protobuf::SCHEDULER_CALL, b"\xff\xff");
        assert_eq!(r.unwrap_err().status, 400);
    }

    #[test]
    fn records_are_length_prefixed() {
        assert_eq!(record(b"{}"), b"2\n{}".to_vec());
    }

    #[test]
    fn records_are_read_back_across_chunks() {
        let mut all = record(b"hello");
        all.extend(record(b""));
        all.extend(record(b"{\"a\":1}"));
        let mut r = RecordReader::default();
        let mut got = Vec::new();
        for b in all {
            r.push(&[b]);
            while let Some(rec) = r.next_record().unwrap() {
                got.push(rec);
            }
        }
        assert_eq!(got, [b"hello".to_vec(), vec![], b"{\"a\":1}".to_vec()]);
        let mut bad = RecordReader::default();
        bad.push(b"x\n");
        assert!(bad.next_record().is_err());
        let mut big = RecordReader::default();
        big.push(format!("{}\n", MAX_CALL_BYTES + 1).as_bytes());
        assert!(big.next_record().is_err());
        let mut endless = RecordReader::default();
        endless.push(&[b'1'; 40]);
        assert!(endless.next_record().is_err());
    }
}
