//! The master's flags (Mesos's names and defaults), declared once: `mesos-master --help`, the
//! `MESOS_*` environment and this struct all come from the table below.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::flags::check::positive;
use mesos_api::acls::Acls;
use mesos_api::auth::{check_authenticators, credentials_for, Credential};

libprocess::flags! {
    /// Flags of `mesos-master`.
    #[derive(Clone, Debug)]
    pub struct MasterFlags {
        /// The hostname the master advertises
        pub hostname: String = "localhost";
        /// Where the master keeps its registry (unused while the registry is in memory)
        pub work_dir: Option<PathBuf>;
        /// Registry backend: in_memory (lost on restart), or replicated_log (Mesos's name): durable, in ZooKeeper with --zk, else in <work_dir>/registry.json
        pub registry: String = "in_memory", check registry_kind;
        /// Longest time a registry write may take (then the master aborts)
        pub registry_store_timeout: Duration = "20secs", check positive;
        /// Longest time reading the registry at election may take (then the master aborts)
        pub registry_fetch_timeout: Duration = "1mins", check positive;
        /// How long unreachable and gone agents stay in the registry
        pub registry_max_agent_age: Duration = "2weeks", check positive;
        /// How many unreachable (and gone) agents the registry keeps at most
        pub registry_max_agent_count: usize = "102400";
        /// Time agents have to reregister after a failover before they are marked unreachable (Mesos's minimum is 10mins; ours is not enforced)
        pub agent_reregister_timeout | slave_reregister_timeout: Duration = "10mins", check positive;
        /// Largest share of the registry's agents that may be marked unreachable after a failover, e.g. 100%
        pub recovery_agent_removal_limit | recovery_slave_removal_limit: String = "100%", check percent;
        /// ZooKeeper group for leader election: zk://[user:pass@]host:port[,...]/path or file:///path
        pub zk: Option<String>, check zk_url;
        /// Size of the registry's quorum; accepted with --zk for Mesos command lines (the ZooKeeper ensemble's own quorum makes writes durable)
        pub quorum: Option<u32>, check positive_count;
        /// ZooKeeper session timeout: a leader cut off from ZooKeeper this long steps down
        pub zk_session_timeout: Duration = "10secs", check positive;
        /// Time between batch allocations
        pub allocation_interval: Duration = "1secs", check positive;
        /// Policy for allocating resources between roles: drf (dominant resource fairness) or random (weighted random order)
        pub role_sorter: String = "drf", check sorter;
        /// Policy for allocating resources between the frameworks of a role: drf or random
        pub framework_sorter: String = "drf", check sorter;
        /// Time between pings to an agent
        pub agent_ping_timeout | slave_ping_timeout: Duration = "15secs", check positive;
        /// Missed pings before an agent is unreachable
        pub max_agent_ping_timeouts | max_slave_ping_timeouts: u32 = "5";
        /// Agents one remote node (one connection, one advertised ip:port) may register; more
        /// are refused (0: no limit). Agents in the master's own process are not counted
        pub max_agents_per_connection: usize = "1";
        /// Most memory one regex of a framework's offer constraints may take (RE2 syntax; a bigger one makes the SUBSCRIBE or UPDATE_FRAMEWORK invalid)
        pub offer_constraints_re2_max_mem: libprocess::flags::Bytes = "4KB";
        /// Time after which an unused offer is rescinded (default: none)
        pub offer_timeout: Option<Duration>, check positive;
        /// Completed frameworks kept in memory for the state endpoints
        pub max_completed_frameworks: usize = "50";
        /// Publish metrics for each framework (master/frameworks/<name>/<id>/...: subscribed, calls, events, offers, tasks by state)
        pub publish_per_framework_metrics: bool = "true";
        /// Completed tasks kept in memory per framework for the state endpoints
        pub max_completed_tasks_per_framework: usize = "1000";
        /// Require agents to authenticate (CRAM-MD5 against --credentials) before they register
        pub authenticate_agents | authenticate_slaves: bool = "false";
        /// Require frameworks on the binary transport to authenticate (CRAM-MD5 against --credentials) before they subscribe
        pub authenticate_frameworks: bool = "false";
        /// Authenticators of the binary transport (only 'crammd5' is built in)
        pub authenticators: String = "crammd5", check only_crammd5;
        /// Time a client has to answer the authentication challenge
        pub authentication_v0_timeout: Duration = "15secs", check positive;
        /// File of credentials: JSON {"credentials":[{"principal":..,"secret":..}]} or 'principal secret' lines (with or without file://)
        pub credentials: Option<String>;
        /// Require HTTP authentication (realm mesos-master-readonly) for read-only endpoints: /state, /tasks, /flags, /metrics/snapshot, ...
        pub authenticate_http_readonly: bool = "false";
        /// Require HTTP authentication (realm mesos-master-readwrite) for endpoints that change state: /api/v1, /teardown, /quota, /weights, /reserve, ...
        pub authenticate_http_readwrite: bool = "false";
        /// HTTP authenticators for the two realms above (only 'basic' is built in)
        pub http_authenticators: String = "basic", check check_authenticators;
        /// Require HTTP frameworks to authenticate (realm mesos-master-scheduler); a framework's principal must then match its FrameworkInfo's
        pub authenticate_http_frameworks: bool = "false";
        /// HTTP framework authenticators (only 'basic'); required with --authenticate_http_frameworks
        pub http_framework_authenticators: Option<String>, check framework_authenticators;
        /// ACLs (Mesos's JSON, or a path to a file of it, with or without file://) for the local authorizer; without it everything is allowed
        pub acls: Option<String>;
        /// Time between HEARTBEAT events to each framework (binary transport and HTTP) and operator event stream (fixed at 15secs in Mesos)
        pub heartbeat_interval: Duration = "15secs", check positive;
        /// This master's fault domain: JSON {"fault_domain": {"region": {"name": ..}, "zone": {"name": ..}}} or a file of it; agents in another region are offered only to REGION_AWARE frameworks
        pub domain: Option<String>;
        /// Ignore registrations of agents without a domain (needs --domain)
        pub require_agent_domain: bool = "false";
    }
    extra |_f| {
        /// The domain of `--domain`, read at start.
        pub domain_info: Option<mesos_api::protocol::framework::DomainInfo> = match domain.as_deref() {
            Some(d) => Some(mesos_api::protocol::framework::DomainInfo::from_flag(d)?),
            None if require_agent_domain => {
                return Err("Flag '--require_agent_domain' needs --domain: a master without a domain cannot tell where agents are".into())
            }
            None => None,
        },
        /// The ACLs of `--acls`, read at start.
        pub acl_rules: Option<Acls> = acls
            .as_deref()
            .map(Acls::from_flag)
            .transpose()
            .map_err(|e| format!("Flag '--acls': {e}"))?,
        /// The principals and secrets of `--credentials`, read at start.
        pub credential_list: Vec<Credential> = credentials_for(
            "credentials",
            credentials.as_deref(),
            [
                (authenticate_agents, "authenticate_agents"),
                (authenticate_frameworks, "authenticate_frameworks"),
                (authenticate_http_readonly, "authenticate_http_readonly"),
                (authenticate_http_readwrite, "authenticate_http_readwrite"),
                (authenticate_http_frameworks, "authenticate_http_frameworks"),
            ]
            .into_iter()
            .find_map(|(on, name)| on.then_some(name)),
        )?,
    }
}

impl MasterFlags {
    /// How long an agent may go without answering pings (`agent_ping_timeout` x
    /// `max_agent_ping_timeouts`). Agents are told it and take the master for lost after as long
    /// without a ping; the master's runtime takes any peer that leaves its data unacknowledged
    /// this long for cut off (its send timeout), which is how it notices a partitioned framework.
    pub fn total_ping_timeout(&self) -> Duration {
        self.agent_ping_timeout
            .saturating_mul(self.max_agent_ping_timeouts)
    }
}

impl Default for MasterFlags {
    fn default() -> MasterFlags {
        MasterFlags::from_defaults(&[]).expect("the master's defaults parse")
    }
}

fn only_crammd5(name: &str, v: &str) -> Result<(), String> {
    match v.split(',').map(str::trim).find(|a| *a != "crammd5") {
        None => Ok(()),
        Some(other) => Err(format!(
            "Flag '--{name}': unknown authenticator '{other}' (only 'crammd5' is built in; modules are not supported)"
        )),
    }
}

fn framework_authenticators(name: &str, v: &Option<String>) -> Result<(), String> {
    v.as_deref()
        .map_or(Ok(()), |v| check_authenticators(name, v))
}

/// `--role_sorter`, `--framework_sorter`: `drf` or `random`.
fn sorter(name: &str, v: &str) -> Result<(), String> {
    v.parse::<mesos_allocator::SorterKind>()
        .map(|_| ())
        .map_err(|e| format!("Flag '--{name}': {e}"))
}

/// `--registry`: `in_memory` or `replicated_log` (the durable store; Mesos's name).
fn registry_kind(name: &str, v: &str) -> Result<(), String> {
    match v {
        "in_memory" | "replicated_log" => Ok(()),
        _ => Err(format!(
            "Flag '--{name}': '{v}' is not a supported option for registry persistence (in_memory, replicated_log)"
        )),
    }
}

/// `--recovery_agent_removal_limit`: a percentage in [0, 100].
fn percent(name: &str, v: &str) -> Result<(), String> {
    parse_percent(v)
        .map(|_| ())
        .ok_or_else(|| format!("Flag '--{name}': '{v}' is not a percentage in [0%, 100%]"))
}

/// `"50%"` as 0.5.
pub(crate) fn parse_percent(v: &str) -> Option<f64> {
    let n: f64 = v.strip_suffix('%')?.trim().parse().ok()?;
    (0.0..=100.0).contains(&n).then_some(n / 100.0)
}

impl MasterFlags {
    /// Checks across flags: the durable registry needs somewhere to live.
    pub fn validate(&self) -> Result<(), String> {
        if self.registry == "replicated_log" && self.zk.is_none() && self.work_dir.is_none() {
            return Err("--work_dir needed for replicated log based registry (or give --zk to keep it in ZooKeeper)".into());
        }
        if self.authenticate_http_frameworks && self.http_framework_authenticators.is_none() {
            return Err("Missing `--http_framework_authenticators` flag. This must be used in conjunction with `--authenticate_http_frameworks`".into());
        }
        if self.quorum.is_some() && self.zk.is_none() {
            return Err("Flag '--quorum' only applies with --zk".into());
        }
        Ok(())
    }
}

/// `--zk`: a ZooKeeper URL (or a file holding one).
fn zk_url(name: &str, v: &Option<String>) -> Result<(), String> {
    match v {
        Some(v) => mesos_detector::ZkUrl::parse(v)
            .map(|_| ())
            .map_err(|e| format!("Flag '--{name}': {e}")),
        None => Ok(()),
    }
}

fn positive_count(name: &str, v: &Option<u32>) -> Result<(), String> {
    match v {
        Some(0) => Err(format!("Flag '--{name}' must be at least 1")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libprocess::flags::load;

    fn parse(args: &[&str]) -> Result<MasterFlags, String> {
        let f = load(
            "mesos-master",
            MasterFlags::FLAGS,
            args.iter().map(|s| s.to_string()),
            |_| None,
        )
        .map_err(|e| e.to_string())?;
        MasterFlags::from_flags(&f)
    }

    #[test]
    fn defaults_are_mesos_s() {
        let d = MasterFlags::default();
        assert_eq!(d.allocation_interval, Duration::from_secs(1));
        assert_eq!(d.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(d.max_agent_ping_timeouts, 5);
        assert_eq!(d.offer_timeout, None);
        assert_eq!(d.max_completed_tasks_per_framework, 1000);
        assert_eq!(d.heartbeat_interval, Duration::from_secs(15));
        assert_eq!(d.hostname, "localhost");
    }

    #[test]
    fn aliases_checks_and_bad_values() {
        let f = parse(&["--slave_ping_timeout=3secs", "--offer_timeout=1mins"]).unwrap();
        assert_eq!(f.agent_ping_timeout, Duration::from_secs(3));
        assert_eq!(f.offer_timeout, Some(Duration::from_secs(60)));
        assert!(parse(&["--role_sorter=fifo"])
            .unwrap_err()
            .contains("'--role_sorter': unknown sorter 'fifo'"));
        assert!(parse(&["--framework_sorter=random"]).is_ok());
        assert!(parse(&["--allocation_interval=0secs"])
            .unwrap_err()
            .contains("'--allocation_interval' must be positive"));
        assert!(parse(&["--max_agent_ping_timeouts=many"])
            .unwrap_err()
            .contains("--max_agent_ping_timeouts"));
        assert!(parse(&["--registry=log"])
            .unwrap_err()
            .contains("not a supported option"));
        let f = parse(&["--registry=replicated_log"]).unwrap();
        assert!(f.validate().unwrap_err().contains("--work_dir needed"));
        assert!(parse(&["--recovery_agent_removal_limit=120%"]).is_err());
        assert_eq!(parse_percent("50%"), Some(0.5));
        let f = parse(&["--slave_reregister_timeout=3secs"]).unwrap();
        assert_eq!(f.agent_reregister_timeout, Duration::from_secs(3));
    }
}
