//! Real network partitions for tests (root only): a [`Net`] is a private /24 on a bridge that
//! lives in its own "switch" network namespace; each [`Node`] is a network namespace joined to
//! it by a veth pair, and the test process itself joins it from the root namespace (so an
//! in-process scheduler can talk to the nodes). Binaries run in a node with [`Node::command`]
//! (`ip netns exec`). Links are cut and healed with `nft` rules inside a node's namespace:
//! both ways, or one way ([`Dir`]). Dropping the `Net` deletes every namespace, veth and rule it
//! made, also when the test panics.
//!
//! Nothing leaves the machine: the bridge is not connected to any real interface, and the
//! switch namespace's own (empty) firewall is the only one bridged packets see.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why partition tests cannot run here, if they cannot: not root, or `ip` / `nft` missing.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("network namespaces need root".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("'{tool}' is missing (Debian: iproute2, nftables)"));
        }
    }
    None
}

/// Which traffic of a node a cut drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Nothing passes either way.
    Both,
    /// The node's packets to the peer are dropped (the peer no longer hears it; the node
    /// still hears the peer).
    Out,
    /// The peer's packets to the node are dropped.
    In,
}

/// Runs a command; panics with its output when it fails.
fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A private network: a bridge in its own namespace, nodes and the test process on it.
pub struct Net {
    tag: String,
    prefix: [u8; 3],
    switch: String,
    nodes: Vec<String>,
    host_if: String,
}

/// A network namespace on a [`Net`], with one address.
#[derive(Clone, Debug)]
pub struct Node {
    /// The namespace's name (for `ip netns exec`).
    pub ns: String,
    /// Its address on the net.
    pub ip: Ipv4Addr,
}

impl Net {
    /// A new net, unique to this process and call: `10.<x>.<y>.0/24`, the test process at
    /// `.1` on it.
    pub fn new() -> Net {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("{:04x}{:02x}", pid & 0xffff, n & 0xff);
        let prefix = [10, 100 + (pid % 100) as u8, (n % 250) as u8 + 1];
        let switch = format!("mrs{tag}sw");
        sh(&["ip", "netns", "add", &switch]);
        let net = Net {
            tag: tag.clone(),
            prefix,
            switch: switch.clone(),
            nodes: Vec::new(),
            host_if: format!("h{tag}"),
        };
        net.in_ns(&switch, &["ip", "link", "add", "br0", "type", "bridge"]);
        net.in_ns(&switch, &["ip", "link", "set", "br0", "up"]);
        // The test process's end, in the root namespace.
        let peer = format!("s{tag}h");
        sh(&[
            "ip",
            "link",
            "add",
            &net.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        sh(&["ip", "link", "set", &peer, "netns", &switch]);
        net.in_ns(
            &switch,
            &["ip", "link", "set", &peer, "master", "br0", "up"],
        );
        let addr = format!("{}/24", net.host_ip());
        sh(&["ip", "addr", "add", &addr, "dev", &net.host_if]);
        sh(&["ip", "link", "set", &net.host_if, "up"]);
        net
    }

    fn in_ns(&self, ns: &str, args: &[&str]) {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        sh(&v);
    }

    /// The test process's address on the net.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], 1)
    }

    /// A new node (namespace) on the net, its loopback up.
    pub fn node(&mut self, name: &str) -> Node {
        let i = self.nodes.len() + 2;
        let ns = format!("mrs{}{name}", self.tag);
        sh(&["ip", "netns", "add", &ns]);
        self.nodes.push(ns.clone());
        let (inner, outer) = (format!("n{}{i}", self.tag), format!("s{}{i}", self.tag));
        sh(&[
            "ip", "link", "add", &inner, "type", "veth", "peer", "name", &outer,
        ]);
        sh(&["ip", "link", "set", &inner, "netns", &ns]);
        sh(&["ip", "link", "set", &outer, "netns", &self.switch]);
        self.in_ns(
            &self.switch,
            &["ip", "link", "set", &outer, "master", "br0", "up"],
        );
        let ip = Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], i as u8);
        let addr = format!("{ip}/24");
        self.in_ns(&ns, &["ip", "addr", "add", &addr, "dev", &inner]);
        self.in_ns(&ns, &["ip", "link", "set", &inner, "up"]);
        self.in_ns(&ns, &["ip", "link", "set", "lo", "up"]);
        Node { ns, ip }
    }

    /// Drops `node`'s traffic with `peer` in direction `dir` (rules add up until [`heal`]).
    ///
    /// [`heal`]: Net::heal
    pub fn cut(&self, node: &Node, peer: Ipv4Addr, dir: Dir) {
        let ns = &node.ns;
        self.in_ns(ns, &["nft", "add", "table", "inet", "partition"]);
        let chains = [("out", "output", "daddr"), ("in", "input", "saddr")];
        for (chain, hook, field) in chains {
            let spec = format!("{{ type filter hook {hook} priority 0; }}");
            self.in_ns(
                ns,
                &["nft", "add", "chain", "inet", "partition", chain, &spec],
            );
            let wanted = matches!(
                (dir, chain),
                (Dir::Both, _) | (Dir::Out, "out") | (Dir::In, "in")
            );
            if wanted {
                let p = peer.to_string();
                self.in_ns(
                    ns,
                    &[
                        "nft",
                        "add",
                        "rule",
                        "inet",
                        "partition",
                        chain,
                        "ip",
                        field,
                        &p,
                        "drop",
                    ],
                );
            }
        }
    }

    /// Removes every cut of `node`.
    pub fn heal(&self, node: &Node) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &node.ns,
                "nft",
                "delete",
                "table",
                "inet",
                "partition",
            ])
            .stderr(Stdio::null())
            .status();
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Node {
    /// `program` to be run in this node's namespace (`ip netns exec <ns> program`), its death
    /// signal set as [`crate::command`] does.
    pub fn command(&self, program: &str) -> Command {
        let mut c = crate::command("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and with them their peers.
        for ns in self.nodes.iter().chain(std::iter::once(&self.switch)) {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}
