//! The master's flags (Mesos's names and defaults), declared once: `mesos-master --help`, the
//! `MESOS_*` environment and this struct all come from the table below.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::flags::check::positive;

libprocess::flags! {
    /// Flags of `mesos-master`.
    #[derive(Clone, Debug)]
    pub struct MasterFlags {
        /// The hostname the master advertises
        pub hostname: String = "localhost";
        /// Where the master keeps its registry (unused while the registry is in memory)
        pub work_dir: Option<PathBuf>;
        /// Registry backend: in_memory (the durable registry is not built yet)
        pub registry: String = "in_memory", check in_memory;
        /// Time between batch allocations
        pub allocation_interval: Duration = "1secs", check positive;
        /// Time between pings to an agent
        pub agent_ping_timeout | slave_ping_timeout: Duration = "15secs", check positive;
        /// Missed pings before an agent is unreachable
        pub max_agent_ping_timeouts | max_slave_ping_timeouts: u32 = "5";
        /// Time after which an unused offer is rescinded (default: none)
        pub offer_timeout: Option<Duration>, check positive;
        /// Completed frameworks kept in memory for the state endpoints
        pub max_completed_frameworks: usize = "50";
        /// Completed tasks kept in memory per framework for the state endpoints
        pub max_completed_tasks_per_framework: usize = "1000";
    }
    extra |_f| {
        /// Heartbeat period announced to frameworks (15 s; not a flag in Mesos either).
        pub heartbeat_interval: Duration = Duration::from_secs(15),
    }
}

impl Default for MasterFlags {
    fn default() -> MasterFlags {
        MasterFlags::from_defaults(&[]).expect("the master's defaults parse")
    }
}

/// `--registry`: only `in_memory` until the durable registry lands (never accepted and
/// ignored).
fn in_memory(name: &str, v: &str) -> Result<(), String> {
    if v != "in_memory" {
        return Err(format!(
            "Flag '--{name}': '{v}' is not supported yet; only 'in_memory' is"
        ));
    }
    Ok(())
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
        assert!(parse(&["--allocation_interval=0secs"])
            .unwrap_err()
            .contains("'--allocation_interval' must be positive"));
        assert!(parse(&["--max_agent_ping_timeouts=many"])
            .unwrap_err()
            .contains("--max_agent_ping_timeouts"));
        assert!(parse(&["--registry=replicated_log"])
            .unwrap_err()
            .contains("not supported yet"));
    }
}
