//! UPIDs: the address of a process, `id@ip:port`, as libprocess writes it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A process address: an id unique within its runtime plus the runtime's advertised socket address.
///
/// A UPID is one pointer wide; cloning it is one reference-count increment. A UPID is *valid*
/// only when the id is non-empty, the ip is not the unspecified address and the port is not 0.
#[derive(Clone)]
pub struct UPID(Arc<Parts>);

struct Parts {
    id: Arc<str>,
    addr: SocketAddr,
}

impl PartialEq for UPID {
    fn eq(&self, other: &UPID) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.0.addr == other.0.addr && self.0.id == other.0.id)
    }
}

impl Eq for UPID {}

impl std::hash::Hash for UPID {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.id.hash(h);
        self.0.addr.hash(h);
    }
}

impl PartialOrd for UPID {
    fn partial_cmp(&self, other: &UPID) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UPID {
    fn cmp(&self, other: &UPID) -> std::cmp::Ordering {
        (&*self.0.id, self.0.addr).cmp(&(&*other.0.id, other.0.addr))
    }
}

impl UPID {
    /// Builds a UPID from its parts (no validity check; see [`UPID::is_valid`]).
    pub fn new(id: impl Into<Arc<str>>, addr: SocketAddr) -> UPID {
        UPID(Arc::new(Parts {
            id: id.into(),
            addr,
        }))
    }

    /// The empty UPID (`@0.0.0.0:0`), used where a message has no return address.
    pub fn none() -> UPID {
        static NONE: std::sync::OnceLock<UPID> = std::sync::OnceLock::new();
        NONE.get_or_init(|| UPID::new("", SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)))
            .clone()
    }

    /// The process id part.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The shared id, for cheap cloning.
    pub fn id_arc(&self) -> &Arc<str> {
        &self.0.id
    }

    /// The socket address of the runtime hosting the process.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    /// libprocess's validity rule: non-empty id, ip not 0.0.0.0 (or ::), port not 0.
    pub fn is_valid(&self) -> bool {
        !self.0.id.is_empty() && !self.0.addr.ip().is_unspecified() && self.0.addr.port() != 0
    }
}

impl fmt::Display for UPID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.0.id, self.0.addr)
    }
}

impl fmt::Debug for UPID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for UPID {
    type Err = Error;

    /// Parses `id@ip:port` (IPv6 as `id@[::1]:port`). The id may not contain `@`, `/` or whitespace.
    fn from_str(s: &str) -> Result<UPID, Error> {
        let bad = |why: &str| Error::InvalidUpid(format!("'{s}': {why}"));
        let (id, addr) = s.split_once('@').ok_or_else(|| bad("missing '@'"))?;
        if id.is_empty() {
            return Err(bad("empty id"));
        }
        if id.chars().any(|c| c == '/' || c.is_whitespace()) {
            return Err(bad("id contains '/' or whitespace"));
        }
        let addr: SocketAddr = addr.parse().map_err(|_| bad("address is not ip:port"))?;
        Ok(UPID::new(id, addr))
    }
}

impl Serialize for UPID {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UPID {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UPID, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.is_empty() || s.starts_with('@') {
            return Ok(UPID::none());
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let u: UPID = "master@127.0.0.1:5050".parse().unwrap();
        assert_eq!(u.id(), "master");
        assert_eq!(u.addr().port(), 5050);
        assert_eq!(u.to_string(), "master@127.0.0.1:5050");
        assert!(u.is_valid());
        let v6: UPID = "a@[::1]:1".parse().unwrap();
        assert_eq!(v6.to_string(), "a@[::1]:1");
    }

    #[test]
    fn validity_rules() {
        assert!(!UPID::new("", "127.0.0.1:1".parse().unwrap()).is_valid());
        assert!(!UPID::new("x", "0.0.0.0:1".parse().unwrap()).is_valid());
        assert!(!UPID::new("x", "127.0.0.1:0".parse().unwrap()).is_valid());
        assert!(!UPID::none().is_valid());
    }

    #[test]
    fn parse_errors_say_why() {
        for bad in [
            "master",
            "@1.2.3.4:5",
            "m@host",
            "m@1.2.3.4",
            "a/b@1.2.3.4:5",
        ] {
            let e = bad.parse::<UPID>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let u: UPID = "slave(1)@10.0.0.1:5051".parse().unwrap();
        let j = serde_json::to_string(&u).unwrap();
        assert_eq!(j, "\"slave(1)@10.0.0.1:5051\"");
        assert_eq!(serde_json::from_str::<UPID>(&j).unwrap(), u);
        let b = postcard::to_stdvec(&u).unwrap();
        assert_eq!(postcard::from_bytes::<UPID>(&b).unwrap(), u);
    }
}
