//! A small HTTP/1.1 client for executors (and tests): one request per connection, whole bodies
//! by length, chunked or to EOF, and a reader of RecordIO streams (`<length>\n<record>`).

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A response's status and headers (names lower-cased).
#[derive(Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
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

/// The body of a response being read.
pub struct Body {
    r: BufReader<TcpStream>,
    chunked: bool,
    left: Option<usize>,
    done: bool,
    /// Decoded bytes not yet handed out (RecordIO).
    pending: Vec<u8>,
}

async fn send_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).await?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("bad status line '{}'", line.trim_end())))?;
    let mut head = Head {
        status,
        headers: Vec::new(),
    };
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            head.headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let left = head.header("content-length").and_then(|v| v.parse().ok());
    Ok((
        head,
        Body {
            r,
            chunked,
            left,
            done: false,
            pending: Vec::new(),
        },
    ))
}

impl Body {
    /// The next piece of the body (a chunk, or what arrived), `None` at its end.
    pub async fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        if self.chunked {
            let mut line = String::new();
            if self.r.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed inside a chunked body"));
            }
            let size_text = line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| bad(format!("bad chunk size '{size_text}'")))?;
            if size == 0 {
                self.done = true;
                return Ok(None);
            }
            let mut buf = vec![0; size + 2];
            self.r.read_exact(&mut buf).await?;
            buf.truncate(size);
            return Ok(Some(buf));
        }
        match self.left {
            Some(0) => {
                self.done = true;
                Ok(None)
            }
            Some(n) => {
                let mut buf = vec![0; n];
                self.r.read_exact(&mut buf).await?;
                self.done = true;
                Ok(Some(buf))
            }
            None => {
                let mut buf = vec![0; 16 << 10];
                let n = self.r.read(&mut buf).await?;
                if n == 0 {
                    self.done = true;
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(buf))
            }
        }
    }

    /// The whole remaining body.
    pub async fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut out = std::mem::take(&mut self.pending);
        while let Some(p) = self.next_piece().await? {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    /// The next RecordIO record, `None` when the stream ends cleanly between records.
    pub async fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
                let len: usize = std::str::from_utf8(&self.pending[..nl])
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .ok_or_else(|| bad("bad RecordIO length"))?;
                if self.pending.len() >= nl + 1 + len {
                    let rec = self.pending[nl + 1..nl + 1 + len].to_vec();
                    self.pending.drain(..nl + 1 + len);
                    return Ok(Some(rec));
                }
            } else if self.pending.len() > 20 {
                return Err(bad("bad RecordIO length"));
            }
            match self.next_piece().await? {
                Some(p) => self.pending.extend_from_slice(&p),
                None if self.pending.is_empty() => return Ok(None),
                None => return Err(bad("stream ended inside a record")),
            }
        }
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
    let (head, mut b) = send_request(addr, method, path, headers, body).await?;
    let body = b.read_all().await?;
    Ok(Response { head, body })
}

/// Sends a request whose response is a stream; read it with [`Body::next_record`].
pub async fn stream(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(Head, Body)> {
    send_request(addr, method, path, headers, body).await
}

/// One RecordIO record.
pub fn record(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}
