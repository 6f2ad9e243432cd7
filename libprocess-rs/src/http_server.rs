//! The HTTP side of the runtime's port: serves each connection the transport's protocol sniff
//! hands over (HTTP/1.1 with keep-alive, on hyper; in clear or inside TLS) and turns each request into an event of the
//! process its path names.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::http::{
    BodyStream, HttpEvent, HttpRequest, HttpResponse, ResponseBody, HEADER_READ_TIMEOUT,
    STREAMED_MEDIA_TYPE,
};
use crate::limits::{Limits, SMALL};
use crate::mailbox::Incoming;
use crate::manager::ProcessManager;
use crate::stream::Rewind;

/// Serves one HTTP/1.1 connection (keep-alive or not) whose first bytes were `prefix`.
pub(crate) async fn serve<S>(
    pm: std::sync::Arc<ProcessManager>,
    limits: std::sync::Arc<Limits>,
    prefix: Bytes,
    stream: S,
    peer: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Rewind::new(prefix, stream));
    let service = hyper::service::service_fn(move |req| {
        let (pm, limits) = (pm.clone(), limits.clone());
        async move { Ok::<_, std::convert::Infallible>(handle(pm, &limits, req, peer).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%peer, "http connection ended: {e}");
    }
}

async fn handle(
    pm: std::sync::Arc<ProcessManager>,
    limits: &Limits,
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> hyper::Response<ResponseBody> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let Some((id, route)) = pm.resolve_http(&path) else {
        return into_hyper(HttpResponse::not_found(format!("no process for '{path}'")));
    };
    let (parts, body) = req.into_parts();
    if let Err(r) = check_jsonp(&query) {
        return into_hyper(r);
    }
    // Only the v1 operator API takes streamed calls (ATTACH_CONTAINER_INPUT).
    let streamed = path.ends_with("/api/v1")
        && parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case(STREAMED_MEDIA_TYPE)
            });
    let (body, body_stream) = if streamed {
        (Bytes::new(), Some(stream_body(body)))
    } else {
        match read_body(limits, &parts.headers, body).await {
            Ok(b) => (b, None),
            Err(r) => return into_hyper(r),
        }
    };
    let jsonp_query = query.clone();
    let request = HttpRequest {
        method: parts.method,
        path,
        route,
        query,
        headers: parts.headers,
        body,
        body_stream,
        peer,
        principal: None,
    };
    let (tx, rx) = oneshot::channel();
    let ev = Incoming::Http(Box::new(HttpEvent { request, reply: tx }));
    if !pm.deliver_to_id(&id, ev) {
        return into_hyper(HttpResponse::not_found(format!("no process '{id}'")));
    }
    match rx.await {
        Ok(r) => into_hyper(jsonp(r, &jsonp_query)),
        Err(_) => into_hyper(HttpResponse::text(
            503,
            format!("process '{id}' terminated before answering"),
        )),
    }
}

/// A streamed body: its chunks as they arrive, through a small bounded queue (a slow reader
/// holds the client back, so memory stays bounded). Dropping the stream stops reading.
fn stream_body(mut body: hyper::body::Incoming) -> BodyStream {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let chunk = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue, // trailers
                },
                Err(e) => Err(e.to_string()),
            };
            let broken = chunk.is_err();
            if tx.send(chunk).await.is_err() || broken {
                return;
            }
        }
    });
    BodyStream(rx)
}

/// A request's body within the limits: 413 when it is (or says it will be) larger than the
/// limit, 503 when the memory budget has no room for it in time, 408 when it does not arrive in
/// time.
async fn read_body(
    limits: &Limits,
    headers: &hyper::HeaderMap,
    body: hyper::body::Incoming,
) -> Result<Bytes, HttpResponse> {
    use http_body::Body as _;
    let max = limits.max_body;
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > max as u64) {
        limits.bodies_too_large.inc();
        return Err(HttpResponse::text(
            413,
            format!("Request body of {n} bytes exceeds the limit of {max} bytes"),
        ));
    }
    let need = match declared {
        Some(n) => n as usize,
        None if body.is_end_stream() => 0,
        None => max,
    };
    let _share = if need > SMALL {
        match limits.reserve(need).await {
            Some(p) => Some(p),
            None => {
                limits.bodies_over_budget.inc();
                return Err(HttpResponse::text(
                    503,
                    "Too many request bodies in flight; retry later",
                ));
            }
        }
    } else {
        None
    };
    let read = http_body_util::Limited::new(body, max).collect();
    match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) => {
            limits.bodies_too_large.inc();
            Err(HttpResponse::text(
                413,
                format!("Request body exceeds the limit of {max} bytes: {e}"),
            ))
        }
        Err(_) => {
            limits.bodies_timed_out.inc();
            Err(HttpResponse::text(
                408,
                format!(
                    "The request body did not arrive within {:?}",
                    limits.read_timeout
                ),
            ))
        }
    }
}

/// The `jsonp` query parameter, if any.
fn jsonp_callback(query: &str) -> Option<String> {
    if !query.contains("jsonp=") {
        return None;
    }
    crate::http::parse_form(query).remove("jsonp")
}

/// A `jsonp` callback must be a plain (dotted) JavaScript name: refused with 400 before the
/// request reaches its process.
fn check_jsonp(query: &str) -> Result<(), HttpResponse> {
    let Some(callback) = jsonp_callback(query) else {
        return Ok(());
    };
    let plain = !callback.is_empty()
        && callback
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.');
    if plain {
        Ok(())
    } else {
        Err(HttpResponse::bad_request(format!(
            "'jsonp' must be a JavaScript function name, got '{callback}'"
        )))
    }
}

/// `?jsonp=<callback>` on any JSON answer, as Mesos's endpoints take it: the body becomes
/// `<callback>(<json>);` as `text/javascript`. A callback that is not a plain (dotted)
/// JavaScript name is refused with 400.
fn jsonp(r: HttpResponse, query: &str) -> HttpResponse {
    let Some(callback) = jsonp_callback(query) else {
        return r;
    };
    let r = r.reencode_json("text/javascript", |body| {
        let mut out = Vec::with_capacity(body.len() + callback.len() + 3);
        out.extend_from_slice(callback.as_bytes());
        out.push(b'(');
        out.extend_from_slice(body);
        out.extend_from_slice(b");");
        Ok(out)
    });
    r.with_header("X-Content-Type-Options", "nosniff")
}

fn into_hyper(r: HttpResponse) -> hyper::Response<ResponseBody> {
    let mut resp = hyper::Response::new(r.body);
    *resp.status_mut() = r.status;
    for (k, v) in r.headers {
        resp.headers_mut().insert(k, v);
    }
    resp
}
