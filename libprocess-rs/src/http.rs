//! HTTP on the runtime's port: requests to `/<id>/<route>` become events of process `<id>`, in
//! order with its messages; runtime-wide aliases map bare paths (`/health`) to a process route.
//! This module holds the request and response types processes see; the connection handling is
//! in `http_server`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use bytes::Bytes;
use http_body::Frame;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};
use tokio::sync::{mpsc, oneshot};

/// A client must send a request's headers within this long (idle keep-alive connections close).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The largest request body accepted by default (larger gets 413); see
/// [`crate::Config::max_request_body`].
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// A request delivered to a process.
#[derive(Debug)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: Method,
    /// The full path as received (`/master/state`).
    pub path: String,
    /// The part after `/<id>/` (`state`), which selected the route.
    pub route: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The whole body (empty for a streamed one).
    pub body: Bytes,
    /// A streamed body: a request whose `Content-Type` is `application/recordio` (a client
    /// streaming records, e.g. a container's input) is delivered at once, its body arriving
    /// here chunk by chunk.
    pub body_stream: Option<BodyStream>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Who the request proved to be, when its route's realm authenticates
    /// ([`crate::auth`]); `None` on open routes.
    pub principal: Option<String>,
}

/// The media type of request bodies delivered as a stream ([`HttpRequest::body_stream`]).
pub const STREAMED_MEDIA_TYPE: &str = "application/recordio";

/// A request body as it arrives.
#[derive(Debug)]
pub struct BodyStream(pub(crate) mpsc::Receiver<Result<Bytes, String>>);

impl BodyStream {
    /// The next chunk; `None` at the end of the body; an error when the connection broke.
    pub async fn next(&mut self) -> Option<Result<Bytes, String>> {
        self.0.recv().await
    }
}

impl HttpRequest {
    /// The query parameters, percent-decoded (later duplicates win).
    pub fn query_params(&self) -> HashMap<String, String> {
        parse_form(&self.query)
    }

    /// The body read as `application/x-www-form-urlencoded` (empty if it is not UTF-8).
    pub fn form_params(&self) -> HashMap<String, String> {
        parse_form(std::str::from_utf8(&self.body).unwrap_or(""))
    }

    /// A header's value as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `a=1&b=x%20y` -> {a: "1", b: "x y"} (later duplicates win).
pub fn parse_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response body: whole, or a stream of chunks (each sent as one HTTP chunk).
pub enum ResponseBody {
    /// The whole body.
    Full(Bytes),
    /// The whole body in pieces, sent one after another (a body written in parts, e.g. on
    /// several threads, is not copied into one buffer first).
    Parts(std::collections::VecDeque<Bytes>),
    /// Chunks until the sender is dropped.
    Stream(mpsc::UnboundedReceiver<Bytes>),
    /// Chunks until the sender is dropped, at most a few queued (the sender waits for a slow
    /// client).
    Bounded(mpsc::Receiver<Bytes>),
}

/// A response from a process.
pub struct HttpResponse {
    /// The status code.
    pub status: StatusCode,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: ResponseBody,
}

impl HttpResponse {
    /// A response with a status and a plain-text body.
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            body: ResponseBody::Full(Bytes::from(body.into())),
        }
    }

    /// 200 with a JSON body.
    pub fn json(value: &serde_json::Value) -> HttpResponse {
        HttpResponse::json_bytes(200, Bytes::from(value.to_string()))
    }

    /// A status with an already serialized JSON body.
    pub fn json_bytes(status: u16, body: Bytes) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: ResponseBody::Full(body),
        }
    }

    /// A status with an already serialized JSON body in pieces (sent in order, with the
    /// whole length announced).
    pub fn json_parts(status: u16, parts: Vec<Bytes>) -> HttpResponse {
        let mut r = HttpResponse::json_bytes(status, Bytes::new());
        r.body = ResponseBody::Parts(parts.into_iter().filter(|p| !p.is_empty()).collect());
        r
    }

    /// A status with an empty body.
    pub fn empty(status: u16) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: Vec::new(),
            body: ResponseBody::Full(Bytes::new()),
        }
    }

    /// 404 with a message.
    pub fn not_found(msg: impl Into<String>) -> HttpResponse {
        HttpResponse::text(404, msg)
    }

    /// 400 with a message.
    pub fn bad_request(msg: impl Into<String>) -> HttpResponse {
        HttpResponse::text(400, msg)
    }

    /// A 200 streaming response; each `send` on the returned sender becomes one chunk.
    pub fn stream(content_type: &'static str) -> (HttpResponse, mpsc::UnboundedSender<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let r = HttpResponse {
            status: StatusCode::OK,
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            )],
            body: ResponseBody::Stream(rx),
        };
        (r, tx)
    }

    /// A 200 streaming response whose sender holds at most `queued` chunks: `send` waits while
    /// the client is that far behind.
    pub fn stream_bounded(
        content_type: &'static str,
        queued: usize,
    ) -> (HttpResponse, mpsc::Sender<Bytes>) {
        let (tx, rx) = mpsc::channel(queued.max(1));
        let r = HttpResponse {
            status: StatusCode::OK,
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            )],
            body: ResponseBody::Bounded(rx),
        };
        (r, tx)
    }

    /// A 200 streaming `file` as an attachment named `name` (`application/octet-stream`, in
    /// chunks of 64 KiB read as the client takes them).
    pub fn download(file: std::fs::File, name: &str) -> HttpResponse {
        let name: String = name
            .chars()
            .filter(|c| *c != '"' && !c.is_control())
            .collect();
        let (resp, tx) = HttpResponse::stream_bounded("application/octet-stream", 4);
        let resp = resp.with_header(
            "Content-Disposition",
            &format!("attachment; filename=\"{name}\""),
        );
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut f = tokio::fs::File::from_std(file);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match f.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        resp
    }

    /// Adds a header (invalid names or values are ignored).
    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.retain(|(h, _)| *h != n);
            self.headers.push((n, v));
        }
        self
    }
}

/// What a route handler returns: a response now, or a future of one.
pub enum Reply {
    /// Answer at once.
    Now(HttpResponse),
    /// Answer when the future resolves (the process goes on meanwhile).
    Later(Pin<Box<dyn Future<Output = HttpResponse> + Send>>),
}

impl From<HttpResponse> for Reply {
    fn from(r: HttpResponse) -> Reply {
        Reply::Now(r)
    }
}

impl Reply {
    /// This reply with `f` applied to its response, now or when it resolves.
    pub fn map(self, f: impl FnOnce(HttpResponse) -> HttpResponse + Send + 'static) -> Reply {
        match self {
            Reply::Now(r) => Reply::Now(f(r)),
            Reply::Later(fut) => Reply::Later(Box::pin(async move { f(fut.await) })),
        }
    }

    /// This reply with [`HttpResponse::reencode_json`] applied, now or when it resolves.
    pub fn reencode_json(
        self,
        content_type: &'static str,
        f: impl FnOnce(&[u8]) -> Result<Vec<u8>, String> + Send + 'static,
    ) -> Reply {
        self.map(move |r| r.reencode_json(content_type, f))
    }
}

impl HttpResponse {
    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == hyper::header::CONTENT_TYPE)
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// A whole-body 200 JSON answer rewritten by `f` into another media type; any other
    /// response (an error, a stream, another type) is returned as it is. When `f` fails the
    /// answer is a 500 with its reason.
    pub fn reencode_json(
        self,
        content_type: &'static str,
        f: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> HttpResponse {
        let is_json = self
            .content_type()
            .is_some_and(|t| t.starts_with("application/json"));
        if self.status != StatusCode::OK || !is_json {
            return self;
        }
        let joined;
        let whole = match &self.body {
            ResponseBody::Full(b) => Some(&b[..]),
            ResponseBody::Parts(p) => {
                joined = p
                    .iter()
                    .flat_map(|b| b.iter().copied())
                    .collect::<Vec<u8>>();
                Some(&joined[..])
            }
            ResponseBody::Stream(_) | ResponseBody::Bounded(_) => None,
        };
        match whole {
            Some(b) => match f(b) {
                Ok(body) => {
                    let mut r = self;
                    r.body = ResponseBody::Full(Bytes::from(body));
                    r.headers.retain(|(n, _)| *n != hyper::header::CONTENT_TYPE);
                    r.headers.push((
                        hyper::header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type),
                    ));
                    r
                }
                Err(e) => HttpResponse::text(500, e),
            },
            _ => self,
        }
    }
}

/// Where a process's answer to a request goes.
pub(crate) type HttpReplyTx = oneshot::Sender<HttpResponse>;

/// An HTTP request as a process event.
pub(crate) struct HttpEvent {
    pub(crate) request: HttpRequest,
    pub(crate) reply: HttpReplyTx,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => {
                if b.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(std::mem::take(b)))))
                }
            }
            ResponseBody::Parts(p) => Poll::Ready(p.pop_front().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            ResponseBody::Bounded(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_empty(),
            ResponseBody::Parts(p) => p.is_empty(),
            ResponseBody::Stream(_) | ResponseBody::Bounded(_) => false,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            ResponseBody::Full(b) => http_body::SizeHint::with_exact(b.len() as u64),
            ResponseBody::Parts(p) => {
                http_body::SizeHint::with_exact(p.iter().map(|b| b.len() as u64).sum())
            }
            ResponseBody::Stream(_) | ResponseBody::Bounded(_) => http_body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn a_body_in_parts_announces_its_whole_length_and_reencodes_whole() {
        use super::{HttpResponse, ResponseBody};
        use bytes::Bytes;
        use http_body::Body;
        let parts: Vec<Bytes> = ["{\"a\":", "", "[1,", "2]}"]
            .map(|p| Bytes::from_static(p.as_bytes()))
            .to_vec();
        let r = HttpResponse::json_parts(200, parts);
        assert_eq!(r.body.size_hint().exact(), Some(11));
        assert!(!r.body.is_end_stream());
        let wrapped = r.reencode_json("text/javascript", |b| Ok([b"f(", b, b");"].concat()));
        match wrapped.body {
            ResponseBody::Full(b) => assert_eq!(&b[..], b"f({\"a\":[1,2]});"),
            _ => panic!("a re-encoded body is whole"),
        }
        let empty = HttpResponse::json_parts(200, vec![Bytes::new()]);
        assert!(empty.body.is_end_stream());
    }
}
