//! UPIDs: the address of a process, `id@ip:port`, as libprocess writes it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A process address: an id unique within its runtime plus the runtime's advertised socket address.
///
/// Cloning is cheap (the id is shared). A UPID is *valid* only when the id is non-empty, the ip is
/// not the unspecified address and the port is not 0.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UPID {
    id: Arc<str>,
    addr: SocketAddr,
}

impl UPID {
    /// Builds a UPID from its parts (no validity check; see [`UPID::is_valid`]).
    pub fn new(id: impl Into<Arc<str>>, addr: SocketAddr) -> UPID {
        UPID {
            id: id.into(),
            addr,
        }
    }

    /// The empty UPID (`@0.0.0.0:0`), used where a message has no return address.
    pub fn none() -> UPID {
        UPID {
            id: Arc::from(""),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        }
    }

    /// The process id part.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The shared id, for cheap cloning.
    pub fn id_arc(&self) -> &Arc<str> {
        &self.id
    }

    /// The socket address of the runtime hosting the process.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// libprocess's validity rule: non-empty id, ip not 0.0.0.0 (or ::), port not 0.
    pub fn is_valid(&self) -> bool {
        !self.id.is_empty() && !self.addr.ip().is_unspecified() && self.addr.port() != 0
    }
}

impl fmt::Display for UPID {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
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
