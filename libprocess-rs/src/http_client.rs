//! The one HTTP/1.1 client (on hyper): one request per connection, bodies read whole, piece by
//! piece as they arrive, or as a RecordIO stream (`<length>\n<record>`). Executors, the fetcher,
//! tools and tests use it.
//!
//! [`request`] and [`stream`] connect to `addr` (`host:port`, `http://host:port`, or
//! `https://host:port` for TLS with the process's `LIBPROCESS_SSL_*` set-up, see
//! [`crate::tls::client_from_env`]), send `Host: host:port` and `Content-Length` with the
//! caller's headers; [`send`] uses a connection the caller made and sends only the caller's
//! headers (the fetcher sets its own `Host`). Bodies by length, chunked or up to the close are
//! decoded by hyper; a malformed response or a connection closed early is an [`io::Error`] that
//! says what went wrong, never a panic. The connection is driven by a task spawned on the current
//! tokio runtime, so call these from inside one.

use std::error::Error as _;
use std::io;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The most bytes a response's status line and headers may take.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Turns hyper's error into an I/O error whose message carries its causes.
fn from_hyper(e: hyper::Error) -> io::Error {
    let kind = if e.is_incomplete_message() {
        io::ErrorKind::UnexpectedEof
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        io::ErrorKind::InvalidData
    } else if let Some(io) = e.source().and_then(|s| s.downcast_ref::<io::Error>()) {
        io.kind()
    } else {
        io::ErrorKind::Other
    };
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    io::Error::new(kind, msg)
}

/// A response's status and headers (names lower-cased).
#[derive(Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The reason phrase the server sent (the standard one for its status when it sent none).
    pub reason: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value (the first, when it repeats); the name is matched ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    /// Status and headers.
    pub head: Head,
    /// The body.
    pub body: Vec<u8>,
}

/// The body of a response being read. Dropping it closes the connection.
pub struct Body {
    incoming: Incoming,
    done: bool,
    /// Decoded bytes not yet handed out (RecordIO).
    pending: Vec<u8>,
}

impl Body {
    /// The next piece of the body as it arrived, `None` at its end.
    pub async fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        while !self.done {
            match self.incoming.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    _ => continue, // Trailers or an empty frame.
                },
                Some(Err(e)) => {
                    self.done = true;
                    return Err(from_hyper(e));
                }
                None => self.done = true,
            }
        }
        Ok(None)
    }

    /// The whole remaining body.
    pub async fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut out = std::mem::take(&mut self.pending);
        // Room for a body of announced length at once, not grown by copying; a length past
        // 256 MiB is not trusted that far (the rest grows as it arrives).
        let announced = http_body::Body::size_hint(&self.incoming).lower();
        out.reserve(usize::try_from(announced).unwrap_or(0).min(256 << 20));
        while let Some(p) = self.next_piece().await? {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    /// The next RecordIO record, `None` when the stream ends cleanly between records.
    pub async fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(rec) = take_record(&mut self.pending).map_err(bad)? {
                return Ok(Some(rec));
            }
            match self.next_piece().await? {
                Some(p) => self.pending.extend_from_slice(&p),
                None if self.pending.is_empty() => return Ok(None),
                None => return Err(bad("stream ended inside a record")),
            }
        }
    }
}

/// Takes the first whole RecordIO record (`<decimal length>\n<data>`) off the front of
/// `pending`: `Ok(None)` while more bytes are needed, an error for a length that is not a
/// number (or could never be one: more than 20 bytes without a newline).
pub fn take_record(pending: &mut Vec<u8>) -> Result<Option<Vec<u8>>, &'static str> {
    let Some(nl) = pending.iter().position(|&b| b == b'\n') else {
        return if pending.len() > 20 {
            Err("bad RecordIO length")
        } else {
            Ok(None)
        };
    };
    let len: usize = std::str::from_utf8(&pending[..nl])
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or("bad RecordIO length")?;
    let end = nl
        .checked_add(1)
        .and_then(|start| start.checked_add(len))
        .ok_or("bad RecordIO length")?;
    if pending.len() < end {
        return Ok(None);
    }
    let rec = pending[nl + 1..end].to_vec();
    pending.drain(..end);
    Ok(Some(rec))
}

/// Sends one request on `io` with exactly `headers` (add `Host` yourself) and reads the
/// response's head; the body follows in the returned [`Body`]. Header names go out title-cased.
pub async fn send<S>(
    io: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad method '{method}'"),
        )
    })?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad request target '{path}': {e}"),
            )
        })?;
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad header name '{k}'"),
            )
        })?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad value for header '{k}'"),
            )
        })?;
        req.headers_mut().append(name, value);
    }
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("the HTTP client runs inside a tokio runtime"))?;
    let (mut sender, conn) = http1::Builder::new()
        .title_case_headers(true)
        .max_header_size(MAX_HEAD_BYTES)
        .handshake(TokioIo::new(io))
        .await
        .map_err(from_hyper)?;
    // The connection ends once the response is read (or the body dropped), as `sender` is
    // dropped below; its errors reach the response or the body.
    runtime.spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await.map_err(from_hyper)?;
    drop(sender);
    let status = resp.status();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes());
            (k.as_str().to_string(), v.trim().to_string())
        })
        .collect();
    let head = Head {
        status: status.as_u16(),
        reason,
        headers,
    };
    let body = Body {
        incoming: resp.into_body(),
        done: false,
        pending: Vec::new(),
    };
    Ok((head, body))
}

/// Sends a request whose response is a stream; read it with [`Body::next_record`] or
/// [`Body::next_piece`].
pub async fn stream(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)> {
    let (tls, hostport) = split_scheme(addr)?;
    let tls = if tls {
        Some(crate::tls::client_from_env()?)
    } else {
        None
    };
    open(tls.as_deref(), hostport, method, path, headers, body).await
}

/// [`stream`] over TLS with this set-up (its client certificate and server check), whatever
/// the scheme of `addr`.
pub async fn stream_tls(
    tls: &crate::tls::Tls,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)> {
    let (_, hostport) = split_scheme(addr)?;
    open(Some(tls), hostport, method, path, headers, body).await
}

/// Whether `addr` asks for TLS, and its `host:port`.
fn split_scheme(addr: &str) -> io::Result<(bool, &str)> {
    let (tls, rest) = match addr.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        Some((other, _)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported scheme '{other}' in '{addr}'"),
            ))
        }
        None => (false, addr),
    };
    Ok((tls, rest.trim_end_matches('/')))
}

async fn open(
    tls: Option<&crate::tls::Tls>,
    hostport: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)> {
    let s = TcpStream::connect(hostport).await?;
    s.set_nodelay(true)?;
    let length = body.len().to_string();
    let mut all = Vec::with_capacity(headers.len() + 2);
    all.push(("Host", hostport));
    all.push(("Content-Length", length.as_str()));
    all.extend_from_slice(headers);
    match tls {
        Some(tls) => {
            let host = match hostport.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => h,
                _ => hostport,
            };
            let s = tls.connect(host, s).await?;
            send(s, method, path, &all, body).await
        }
        None => send(s, method, path, &all, body).await,
    }
}

/// Sends a request and reads the whole response.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let (head, mut b) = stream(addr, method, path, headers, body).await?;
    let body = b.read_all().await?;
    Ok(Response { head, body })
}

/// [`request`] over TLS with this set-up.
pub async fn request_tls(
    tls: &crate::tls::Tls,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let (head, mut b) = stream_tls(tls, addr, method, path, headers, body).await?;
    let body = b.read_all().await?;
    Ok(Response { head, body })
}

/// One RecordIO record.
pub fn record(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn records_come_off_whole_and_bad_lengths_are_errors() {
        let mut p = b"5\nhello3\nab".to_vec();
        assert_eq!(take_record(&mut p), Ok(Some(b"hello".to_vec())));
        assert_eq!(take_record(&mut p), Ok(None), "half a record");
        p.push(b'c');
        assert_eq!(take_record(&mut p), Ok(Some(b"abc".to_vec())));
        assert!(p.is_empty());
        for bad in [
            &b"x\n"[..],
            b"-1\nz",
            b"99999999999999999999999\n",
            &[b'1'; 21],
        ] {
            assert!(take_record(&mut bad.to_vec()).is_err(), "{bad:?}");
        }
    }

    /// Serves `response` (raw bytes) to one connection, then closes it; yields the request head.
    async fn serve_once(response: &'static [u8]) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let _ = s.write_all(response).await;
            String::from_utf8_lossy(&req).into_owned()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn request_sends_host_and_length_and_reads_a_sized_body() {
        let (addr, server) =
            serve_once(b"HTTP/1.1 201 Made\r\nContent-Length: 2\r\nX-Thing: a b \r\n\r\nok").await;
        let r = request(&addr, "POST", "/a/b?c=d", &[("Accept", "x/y")], b"hello")
            .await
            .unwrap();
        assert_eq!((r.head.status, r.head.reason.as_str()), (201, "Made"));
        assert_eq!(r.head.header("x-THING"), Some("a b"));
        assert_eq!(r.body, b"ok");
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /a/b?c=d HTTP/1.1\r\n"), "{req}");
        for h in [
            format!("Host: {addr}"),
            "Content-Length: 5".into(),
            "Accept: x/y".into(),
        ] {
            assert!(req.contains(&h), "{req}");
        }
    }

    #[tokio::test]
    async fn records_are_read_across_chunks() {
        let (addr, _server) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\n2\nh\r\n4\r\ni1\nx\r\n0\r\n\r\n",
        )
        .await;
        let (head, mut body) = stream(&addr, "GET", "/", &[], b"").await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(body.next_record().await.unwrap().unwrap(), b"hi");
        assert_eq!(body.next_record().await.unwrap().unwrap(), b"x");
        assert_eq!(body.next_record().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_body_to_the_close_is_read_whole() {
        let (addr, _server) = serve_once(b"HTTP/1.1 200 OK\r\n\r\nuntil close").await;
        let r = request(&addr, "GET", "/", &[], b"").await.unwrap();
        assert_eq!(r.body, b"until close");
    }

    #[tokio::test]
    async fn bad_responses_are_errors() {
        let cases: [&'static [u8]; 5] = [
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-",
        ];
        for case in cases {
            let (addr, _server) = serve_once(case).await;
            let err = request(&addr, "GET", "/", &[], b"").await.unwrap_err();
            assert!(!err.to_string().is_empty(), "{case:?}");
        }
        let (addr, _server) = serve_once(b"").await;
        assert!(request(&addr, "GET", "/", &[], b"").await.is_err());
    }

    #[tokio::test]
    async fn a_bad_record_length_is_an_error() {
        for case in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nx\nab"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n5\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n123456789012345678901234",
        ] {
            let (addr, _server) = serve_once(case).await;
            let (_, mut body) = stream(&addr, "GET", "/", &[], b"").await.unwrap();
            assert!(body.next_record().await.is_err());
        }
    }

    #[tokio::test]
    async fn bad_requests_are_refused_before_sending() {
        let (addr, _server) = serve_once(b"").await;
        let err = request(&addr, "GET", "/a b", &[], b"").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn record_frames_with_the_length() {
        assert_eq!(record(b"abc"), b"3\nabc");
    }
}
