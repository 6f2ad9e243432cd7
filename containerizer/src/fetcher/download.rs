//! Reading a URI's source into a file: a local path is copied; an `http://` URL is fetched with
//! the runtime's HTTP client ([`libprocess::http_client`]), following up to five redirects and
//! writing the body to the file as it arrives. Blocking: the HTTP client runs on a small
//! current-thread runtime of its own, so this works on any thread that is not driving a runtime
//! (the containerizer calls the fetcher from `spawn_blocking`; its tests call it bare).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libprocess::http_client;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::info;

/// Connect timeout of the HTTP client, and the longest it waits for the response's head or for
/// the next piece of its body.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// How many redirects one HTTP fetch follows.
const MAX_REDIRECTS: usize = 5;

/// Where a URI is read from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    Local(PathBuf),
    Http(String),
}

/// Reads `source` into `dest`; the error says why, the caller adds the URI. A failed HTTP fetch
/// leaves no file behind.
pub(super) fn download(source: &Source, dest: &Path) -> Result<(), String> {
    match source {
        Source::Local(path) => {
            let meta = fs::metadata(path).map_err(|e| format!("'{}': {e}", path.display()))?;
            if meta.is_dir() {
                return Err(format!("'{}' is a directory", path.display()));
            }
            fs::copy(path, dest)
                .map(drop)
                .map_err(|e| format!("copy '{}' to '{}': {e}", path.display(), dest.display()))
        }
        Source::Http(url) => http_download(url, dest).inspect_err(|_| {
            let _ = fs::remove_file(dest);
        }),
    }
}

/// An `http://` URL taken apart.
struct HttpUrl {
    authority: String,
    host: String,
    port: u16,
    path: String,
}

impl HttpUrl {
    fn parse(url: &str) -> Result<HttpUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(format!("'{url}' is not a URL"))?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("'{url}': scheme '{scheme}' is not supported"));
        }
        let rest = rest.split('#').next().unwrap_or("");
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        if authority.contains('@') {
            return Err(format!(
                "'{url}': credentials in http URIs are not supported"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, p)) if !authority.ends_with(']') => (
                host,
                p.parse().map_err(|_| format!("'{url}': bad port '{p}'"))?,
            ),
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        Ok(HttpUrl {
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            path,
        })
    }

    /// Where a `Location` header points, as an absolute URL.
    fn resolve(&self, location: &str) -> String {
        if location.contains("://") {
            location.to_string()
        } else if let Some(rest) = location.strip_prefix("//") {
            format!("http://{rest}")
        } else if location.starts_with('/') {
            format!("http://{}{location}", self.authority)
        } else {
            let path = self.path.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("http://{}{dir}{location}", self.authority)
        }
    }

    /// A connection to the first of the host's addresses that answers.
    async fn connect(&self) -> Result<TcpStream, String> {
        let target = format!("{}:{}", self.host, self.port);
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot resolve '{}': {e}", self.host))?;
        let mut last = format!("no address for '{}'", self.host);
        for addr in addrs {
            match timeout(HTTP_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| format!("socket to {target}: {e}"))?;
                    return Ok(stream);
                }
                Ok(Err(e)) => last = format!("cannot connect to {target}: {e}"),
                Err(_) => {
                    last = format!(
                        "cannot connect to {target}: timed out after {}s",
                        HTTP_TIMEOUT.as_secs()
                    )
                }
            }
        }
        Err(last)
    }
}

/// GETs `url` into `dest` on a runtime of its own.
fn http_download(url: &str, dest: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    rt.block_on(get(url, dest))
}

/// GETs `url` into `dest`, following redirects; non-2xx answers are errors.
async fn get(url: &str, dest: &Path) -> Result<(), String> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let target = HttpUrl::parse(&current)?;
        let stream = target.connect().await?;
        let headers = [
            ("Host", target.authority.as_str()),
            ("User-Agent", "mesos-fetcher"),
            ("Accept", "*/*"),
            ("Connection", "close"),
        ];
        let sent = http_client::send(stream, "GET", &target.path, &headers, b"");
        let (head, mut body) = timeout(HTTP_TIMEOUT, sent)
            .await
            .map_err(|_| {
                format!(
                    "no response from {} within {}s",
                    target.authority,
                    HTTP_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("reading the response from {}: {e}", target.authority))?;
        if matches!(head.status, 301 | 302 | 303 | 307 | 308) {
            let location = head.header("location").ok_or(format!(
                "HTTP status {} {} without a Location header",
                head.status, head.reason
            ))?;
            current = target.resolve(location);
            info!(from = %url, to = %current, "Following an HTTP redirect");
            continue;
        }
        if !(200..300).contains(&head.status) {
            return Err(format!("HTTP status {} {}", head.status, head.reason));
        }
        let file = File::create(dest).map_err(|e| format!("create '{}': {e}", dest.display()))?;
        let mut out = BufWriter::new(file);
        loop {
            let piece = timeout(HTTP_TIMEOUT, body.next_piece())
                .await
                .map_err(|_| {
                    format!(
                        "reading the body: nothing arrived for {}s",
                        HTTP_TIMEOUT.as_secs()
                    )
                })?
                .map_err(|e| format!("reading the body: {e}"))?;
            let Some(piece) = piece else { break };
            out.write_all(&piece)
                .map_err(|e| format!("writing '{}': {e}", dest.display()))?;
        }
        return out
            .flush()
            .map_err(|e| format!("writing '{}': {e}", dest.display()));
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::thread;

    /// Serves `responses` (raw bytes), one per connection, then closes each.
    fn serve(responses: Vec<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        thread::spawn(move || {
            for response in responses {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response);
            }
        });
        base
    }

    fn dest(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("mesos-download-{tag}-{}-{n}", std::process::id()))
    }

    fn fetch(url: &str, tag: &str) -> (Result<(), String>, PathBuf) {
        let dest = dest(tag);
        let r = download(&Source::Http(url.to_string()), &dest);
        (r, dest)
    }

    #[test]
    fn malformed_or_cut_responses_are_errors_that_leave_no_file() {
        let cases: [(&'static [u8], &str); 5] = [
            (b"not http at all\r\n\r\n", "reading the response"),
            (b"HTTP/1.1 200 OK\r\nContent-", "reading the response"),
            (b"", "reading the response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                "reading the body",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "reading the body",
            ),
        ];
        for (response, want) in cases {
            let base = serve(vec![response]);
            let (r, dest) = fetch(&format!("{base}/f"), "bad");
            let err = r.unwrap_err();
            assert!(err.contains(want), "{response:?}: {err}");
            assert!(!dest.exists(), "{response:?}");
        }
    }

    #[test]
    fn redirect_loops_and_missing_locations_are_errors() {
        let hop: &'static [u8] =
            b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n";
        let base = serve(vec![hop; MAX_REDIRECTS + 1]);
        let (r, _) = fetch(&format!("{base}/start"), "loop");
        assert!(r.unwrap_err().contains("redirects"));
        let base = serve(vec![b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n"]);
        let (r, _) = fetch(&format!("{base}/start"), "noloc");
        let err = r.unwrap_err();
        assert!(err.contains("301 Moved without a Location"), "{err}");
    }

    #[test]
    fn the_body_reaches_the_file_as_it_arrives() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/big", listener.local_addr().unwrap());
        let dest = dest("stream");
        let watched = dest.clone();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).unwrap();
            let half = vec![b'x'; 64 << 10];
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 131072\r\n\r\n")
                .unwrap();
            stream.write_all(&half).unwrap();
            // The first half must be in the file before the second is sent.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let streamed = loop {
                let len = fs::metadata(&watched).map(|m| m.len()).unwrap_or(0);
                if len >= 48 << 10 {
                    break true;
                }
                if std::time::Instant::now() > deadline {
                    break false;
                }
                thread::sleep(Duration::from_millis(5));
            };
            stream.write_all(&half).unwrap();
            streamed
        });
        download(&Source::Http(url), &dest).unwrap();
        assert!(
            server.join().unwrap(),
            "the body was not written as it arrived"
        );
        assert_eq!(fs::metadata(&dest).unwrap().len(), 128 << 10);
        let _ = fs::remove_file(&dest);
    }

    #[test]
    fn a_refused_connection_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (r, _) = fetch(&format!("http://127.0.0.1:{port}/x"), "refused");
        assert!(r.unwrap_err().contains("cannot connect"));
    }

    #[test]
    fn urls_are_taken_apart_and_locations_resolved() {
        let u = HttpUrl::parse("http://h:81/a/b?q#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("h", 81, "/a/b?q")
        );
        assert_eq!(u.resolve("c"), "http://h:81/a/c");
        assert_eq!(u.resolve("/d"), "http://h:81/d");
        assert_eq!(u.resolve("//e/f"), "http://e/f");
        let u = HttpUrl::parse("http://[::1]?x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 80, "/?x")
        );
        for bad in ["http://u@h/", "http://h:port/", "http:///x", "ftp://h/"] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
