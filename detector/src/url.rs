//! Where the master is, as `--master` / `--zk` give it: `host:port`, `master@host:port`,
//! `zk://[user:pass@]host:port[,host:port...]/path`, or `file:///path` holding one of those.

use std::net::ToSocketAddrs;

use libprocess::UPID;

use crate::DetectorError;

/// A ZooKeeper ensemble and the znode under which the masters contend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port[,host:port...]` as the client library takes it.
    pub servers: String,
    /// The absolute znode path (e.g. `/mesos`), without a trailing `/`.
    pub path: String,
    /// `user:pass` for ZooKeeper's `digest` scheme, when the URL has them.
    pub credentials: Option<(String, String)>,
}

/// How to find the leading master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterSpec {
    /// One fixed master.
    Fixed(UPID),
    /// Whoever leads in this ZooKeeper group.
    ZooKeeper(ZkUrl),
}

fn bad(url: &str, why: impl Into<String>) -> DetectorError {
    DetectorError::Url {
        url: url.to_string(),
        why: why.into(),
    }
}

impl ZkUrl {
    /// Parses `zk://[user:pass@]host:port[,host:port...]/path` (or `file:///path` holding it).
    pub fn parse(url: &str) -> Result<ZkUrl, DetectorError> {
        let url = url.trim();
        if let Some(file) = url.strip_prefix("file://") {
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(url, format!("cannot read '{file}': {e}")))?;
            return ZkUrl::parse(text.trim());
        }
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| bad(url, "expected 'zk://host:port[,host:port...]/path'"))?;
        let (auth, rest) = match rest.split_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let credentials = match auth {
            Some(a) => {
                let (u, p) = a
                    .split_once(':')
                    .ok_or_else(|| bad(url, "credentials must be 'user:pass@'"))?;
                if u.is_empty() {
                    return Err(bad(url, "the user name is empty"));
                }
                Some((u.to_string(), p.to_string()))
            }
            None => None,
        };
        let (servers, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => {
                return Err(bad(
                    url,
                    "a znode path is required (e.g. zk://host:2181/mesos)",
                ))
            }
        };
        if servers.is_empty() {
            return Err(bad(url, "no ZooKeeper servers given"));
        }
        for s in servers.split(',') {
            let ok = s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(bad(url, format!("'{s}' is not host:port")));
            }
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(bad(url, "the znode path must not be '/'"));
        }
        if path.contains("//") {
            return Err(bad(url, format!("'{path}' is not a valid znode path")));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            credentials,
        })
    }
}

impl std::fmt::Display for ZkUrl {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.credentials {
            Some((u, _)) => write!(f, "zk://{u}:***@{}{}", self.servers, self.path),
            None => write!(f, "zk://{}{}", self.servers, self.path),
        }
    }
}

impl MasterSpec {
    /// Parses `--master`: `host:port`, `master@host:port`, `zk://...` or `file:///path`.
    pub fn parse(flag: &str) -> Result<MasterSpec, DetectorError> {
        let flag = flag.trim();
        if let Some(file) = flag.strip_prefix("file://") {
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(flag, format!("cannot read '{file}': {e}")))?;
            let text = text.trim();
            if text.starts_with("file://") {
                return Err(bad(flag, "the file names another file"));
            }
            return MasterSpec::parse(text);
        }
        if flag.starts_with("zk://") {
            return Ok(MasterSpec::ZooKeeper(ZkUrl::parse(flag)?));
        }
        let (id, hostport) = flag.split_once('@').unwrap_or(("master", flag));
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| bad(flag, format!("cannot resolve '{hostport}': {e}")))?
            .find(|a| a.is_ipv4())
            .ok_or_else(|| bad(flag, format!("'{hostport}' has no IPv4 address")))?;
        Ok(MasterSpec::Fixed(UPID::new(id, addr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zk_urls_parse_as_mesos_writes_them() {
        let u = ZkUrl::parse("zk://h1:2181,h2:2182/mesos/").unwrap();
        assert_eq!(u.servers, "h1:2181,h2:2182");
        assert_eq!(u.path, "/mesos");
        assert_eq!(u.credentials, None);
        let u = ZkUrl::parse("zk://jo:s3cret@127.0.0.1:2181/a/b").unwrap();
        assert_eq!(u.credentials, Some(("jo".into(), "s3cret".into())));
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.to_string(), "zk://jo:***@127.0.0.1:2181/a/b");
        for bad in [
            "zk://h1:2181",
            "zk:///mesos",
            "zk://h1/mesos",
            "zk://h1:2181/",
            "zk://:pw@h:1/m",
            "http://h:1/m",
            "zk://h:1//m",
        ] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn master_flags_fixed_zk_and_file() {
        let MasterSpec::Fixed(u) = MasterSpec::parse("127.0.0.1:5050").unwrap() else {
            panic!("fixed")
        };
        assert_eq!(u.to_string(), "master@127.0.0.1:5050");
        let MasterSpec::Fixed(u) = MasterSpec::parse("m2@127.0.0.1:5051").unwrap() else {
            panic!("fixed")
        };
        assert_eq!(u.id(), "m2");
        let dir = std::env::temp_dir().join(format!("detector-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("master");
        std::fs::write(&f, "zk://127.0.0.1:2181/mesos\n").unwrap();
        let spec = MasterSpec::parse(&format!("file://{}", f.display())).unwrap();
        assert!(matches!(spec, MasterSpec::ZooKeeper(z) if z.path == "/mesos"));
        assert!(MasterSpec::parse("file:///no/such/file")
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
