//! The binary wire format.
//!
//! A connection opens with a handshake: [`MAGIC`] (4 bytes, never the start of an HTTP request),
//! the protocol version (1 byte), then the sender's advertised address as a length-prefixed
//! (1 byte) UTF-8 `ip:port`. Then frames follow, each:
//!
//! ```text
//! u32 LE  length of the rest of the frame (hard limit: max_frame_bytes)
//! u16 LE  to-id length,   to-id bytes (UTF-8)
//! u16 LE  from length,    from UPID as `id@ip:port` (empty: no return address)
//! u16 LE  name length,    message name (UTF-8)
//! ...     body, encoded by the codec (the rest of the frame)
//! ```

use std::net::SocketAddr;

use bytes::{Buf, Bytes};

/// First bytes of a binary connection. `0xC3` cannot start an HTTP method token.
pub const MAGIC: [u8; 4] = [0xC3, b'L', b'P', b'R'];
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Default limit on one frame's size (after the length prefix).
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// Why a handshake or frame was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum WireError {
    /// Bad magic, version or address in the handshake.
    Handshake(String),
    /// A frame longer than the limit.
    Oversized(usize),
    /// A frame whose header does not fit in it, or is not UTF-8.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Handshake(why) => write!(f, "malformed handshake: {why}"),
            WireError::Oversized(n) => write!(f, "frame of {n} bytes exceeds the limit"),
            WireError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

/// Writes the handshake for a node advertising `addr`.
pub fn handshake(addr: SocketAddr) -> Vec<u8> {
    let a = addr.to_string();
    let mut v = Vec::with_capacity(6 + a.len());
    v.extend_from_slice(&MAGIC);
    v.push(VERSION);
    v.push(a.len() as u8);
    v.extend_from_slice(a.as_bytes());
    v
}

/// Parses a handshake from the front of `buf`: `Ok(None)` if more bytes are needed, else the
/// advertised address and the handshake's length.
pub fn parse_handshake(buf: &[u8]) -> Result<Option<(SocketAddr, usize)>, WireError> {
    if buf.len() < 6 {
        if buf.len() >= 4 && buf[..4] != MAGIC {
            return Err(WireError::Handshake("bad magic".into()));
        }
        return Ok(None);
    }
    if buf[..4] != MAGIC {
        return Err(WireError::Handshake("bad magic".into()));
    }
    if buf[4] != VERSION {
        return Err(WireError::Handshake(format!(
            "unsupported protocol version {} (this node speaks {VERSION})",
            buf[4]
        )));
    }
    let n = buf[5] as usize;
    if buf.len() < 6 + n {
        return Ok(None);
    }
    let addr = std::str::from_utf8(&buf[6..6 + n])
        .ok()
        .and_then(|s| s.parse::<SocketAddr>().ok())
        .ok_or_else(|| WireError::Handshake("advertised address is not ip:port".into()))?;
    Ok(Some((addr, 6 + n)))
}

/// Appends a frame header to `out` and returns where the length prefix sits, so the caller can
/// append the body and then call [`finish_frame`].
pub fn begin_frame(out: &mut Vec<u8>, to_id: &str, from: &str, name: &str) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    for part in [to_id, from, name] {
        let len = part.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&part.as_bytes()[..len]);
    }
    start
}

/// Fills in the length prefix of the frame begun at `start`.
pub fn finish_frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// One parsed frame; the header fields borrow the frame (check them with [`text`] before use:
/// the parser leaves UTF-8 validation to the reader's caches, which see each distinct value
/// once), the body shares its buffer.
pub struct Frame {
    /// The whole frame, header included.
    pub raw: Bytes,
    to: (usize, usize),
    from: (usize, usize),
    name: (usize, usize),
    body_at: usize,
}

impl Frame {
    /// The target process id bytes.
    pub fn to_id(&self) -> &[u8] {
        &self.raw[self.to.0..self.to.1]
    }
    /// The sender UPID bytes (empty for none).
    pub fn from(&self) -> &[u8] {
        &self.raw[self.from.0..self.from.1]
    }
    /// The message name bytes.
    pub fn name(&self) -> &[u8] {
        &self.raw[self.name.0..self.name.1]
    }
    /// The encoded body.
    pub fn body(&self) -> Bytes {
        self.raw.slice(self.body_at..)
    }
}

/// A header field as text, or a malformed-frame error.
pub fn text(b: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(b).map_err(|_| WireError::Malformed("header field is not UTF-8"))
}

/// How many bytes the next frame needs in total (prefix included), if the prefix is there;
/// rejects a frame over `max`.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(WireError::Oversized(len));
    }
    Ok(Some(4 + len))
}

/// Parses a complete frame (prefix included).
pub fn parse_frame(raw: Bytes) -> Result<Frame, WireError> {
    let mut at = 4;
    let mut part = |raw: &Bytes| -> Result<(usize, usize), WireError> {
        let mut b = raw
            .get(at..at + 2)
            .ok_or(WireError::Malformed("header truncated"))?;
        let n = b.get_u16_le() as usize;
        let span = (at + 2, at + 2 + n);
        if span.1 > raw.len() {
            return Err(WireError::Malformed("header field longer than the frame"));
        }
        at = span.1;
        Ok(span)
    };
    let to = part(&raw)?;
    let from = part(&raw)?;
    let name = part(&raw)?;
    if to.0 == to.1 {
        return Err(WireError::Malformed("empty target id"));
    }
    Ok(Frame {
        body_at: at,
        raw,
        to,
        from,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut out = Vec::new();
        let s = begin_frame(&mut out, "echo", "me@127.0.0.1:9", "ping");
        out.extend_from_slice(b"body");
        finish_frame(&mut out, s);
        let n = frame_len(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(n, out.len());
        let f = parse_frame(Bytes::from(out)).unwrap();
        assert_eq!(f.to_id(), b"echo");
        assert_eq!(f.from(), b"me@127.0.0.1:9");
        assert_eq!(f.name(), b"ping");
        assert_eq!(&f.body()[..], b"body");
    }

    #[test]
    fn oversized_and_malformed_frames_are_rejected() {
        let big = (100u32).to_le_bytes();
        assert_eq!(frame_len(&big, 10), Err(WireError::Oversized(100)));
        let mut bad = vec![0u8; 4];
        bad.extend_from_slice(&50u16.to_le_bytes());
        bad.extend_from_slice(b"abc");
        assert!(matches!(
            parse_frame(Bytes::from(bad)),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn handshake_round_trip_and_rejections() {
        let a: SocketAddr = "127.0.0.1:5050".parse().unwrap();
        let h = handshake(a);
        assert_eq!(parse_handshake(&h).unwrap(), Some((a, h.len())));
        assert_eq!(parse_handshake(&h[..5]).unwrap(), None);
        let mut v = h.clone();
        v[4] = 9;
        assert!(parse_handshake(&v).is_err());
        assert!(parse_handshake(b"GET / HTTP/1.1").is_err());
        let mut bad_addr = MAGIC.to_vec();
        bad_addr.extend_from_slice(&[VERSION, 3]);
        bad_addr.extend_from_slice(b"xyz");
        assert!(parse_handshake(&bad_addr).is_err());
    }
}
