//! Frameworks, masters and agents: `FrameworkInfo` (with capabilities), `MasterInfo`,
//! `AgentInfo`, `Address`.

use serde::{Deserialize, Serialize};

use super::enums::proto_enum;
use super::task::Labels;
use crate::ids::{AgentID, FrameworkID};
use crate::resources::attributes::Attributes;
use crate::resources::Resources;

proto_enum!(
    /// What a framework can do (FrameworkInfo.Capability.Type).
    FrameworkCapabilityType {
        Unknown = 0 => "UNKNOWN",
        RevocableResources = 1 => "REVOCABLE_RESOURCES",
        TaskKillingState = 2 => "TASK_KILLING_STATE",
        GpuResources = 3 => "GPU_RESOURCES",
        SharedResources = 4 => "SHARED_RESOURCES",
        PartitionAware = 5 => "PARTITION_AWARE",
        MultiRole = 6 => "MULTI_ROLE",
        ReservationRefinement = 7 => "RESERVATION_REFINEMENT",
        RegionAware = 8 => "REGION_AWARE",
    } fallback Unknown
);

/// One capability (`{"type":"MULTI_ROLE"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkCapability {
    /// Which.
    #[serde(rename = "type", default)]
    pub kind: Option<FrameworkCapabilityType>,
}

/// A framework's description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// The user tasks run as by default.
    pub user: String,
    /// A name.
    pub name: String,
    /// Set when resubscribing.
    #[serde(default)]
    pub id: Option<FrameworkID>,
    /// Seconds the master waits for a disconnected framework before removing it (default 0).
    #[serde(default)]
    pub failover_timeout: f64,
    /// Whether agents checkpoint its tasks (default false).
    #[serde(default)]
    pub checkpoint: bool,
    /// Deprecated single role (non-MULTI_ROLE frameworks); written only when set.
    #[serde(default)]
    pub role: Option<String>,
    /// Roles (MULTI_ROLE frameworks).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Principal.
    #[serde(default)]
    pub principal: Option<String>,
    /// Web UI.
    #[serde(default)]
    pub webui_url: Option<String>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Vec<FrameworkCapability>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
}

impl FrameworkInfo {
    /// A framework with a name and a user, everything else at its default.
    pub fn new(name: impl Into<String>, user: impl Into<String>) -> FrameworkInfo {
        FrameworkInfo {
            user: user.into(),
            name: name.into(),
            id: None,
            failover_timeout: 0.0,
            checkpoint: false,
            role: None,
            roles: Vec::new(),
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: Vec::new(),
            labels: None,
        }
    }

    /// Whether it declares a capability.
    pub fn has_capability(&self, c: FrameworkCapabilityType) -> bool {
        self.capabilities.iter().any(|x| x.kind == Some(c))
    }

    /// Its roles: `roles` for MULTI_ROLE frameworks, else `role` (default `*`).
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability(FrameworkCapabilityType::MultiRole) {
            self.roles.clone()
        } else {
            vec![self.role.clone().unwrap_or_else(|| "*".to_string())]
        }
    }
}

/// A network address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// Hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// IP as text.
    #[serde(default)]
    pub ip: Option<String>,
    /// Port.
    pub port: i32,
}

fn master_port() -> u32 {
    5050
}

/// The master's description (in SUBSCRIBED and in ZooKeeper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    /// The master's UUID.
    pub id: String,
    /// IPv4 as a number in network byte order read as little-endian (Mesos's form:
    /// 127.0.0.1 is 16777343).
    pub ip: u32,
    /// Port (default 5050).
    #[serde(default = "master_port")]
    pub port: u32,
    /// Its UPID.
    #[serde(default)]
    pub pid: Option<String>,
    /// Hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Version.
    #[serde(default)]
    pub version: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<Address>,
    /// Its fault domain (`--domain`).
    #[serde(default)]
    pub domain: Option<DomainInfo>,
}

/// A node's domain (Mesos's `DomainInfo`): its fault domain, a region and a zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    /// The fault domain.
    #[serde(default)]
    pub fault_domain: Option<FaultDomain>,
}

/// A fault domain: the region, and the zone within it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultDomain {
    /// The region (a data center, a cloud region).
    pub region: DomainName,
    /// The zone (a rack, an availability zone).
    pub zone: DomainName,
}

/// A region's or a zone's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainName {
    /// The name.
    pub name: String,
}

impl DomainInfo {
    /// The region, when there is a fault domain.
    pub fn region(&self) -> Option<&str> {
        self.fault_domain.as_ref().map(|f| f.region.name.as_str())
    }

    /// Reads `--domain`: Mesos's JSON (`{"fault_domain": {"region": {"name": "eu"}, "zone":
    /// {"name": "rack1"}}}`) inline, or a file holding it (with or without `file://`). A
    /// domain needs its fault domain, with names.
    pub fn from_flag(text: &str) -> Result<DomainInfo, String> {
        let json = if text.trim_start().starts_with('{') {
            text.to_string()
        } else {
            let p = text.strip_prefix("file://").unwrap_or(text);
            std::fs::read_to_string(p)
                .map_err(|e| format!("Flag '--domain': cannot read '{p}': {e}"))?
        };
        let d: DomainInfo =
            serde_json::from_str(&json).map_err(|e| format!("Flag '--domain': {e}"))?;
        match &d.fault_domain {
            None => Err("Flag '--domain': no 'fault_domain'".into()),
            Some(f) if f.region.name.is_empty() || f.zone.name.is_empty() => {
                Err("Flag '--domain': the region and the zone need names".into())
            }
            Some(_) => Ok(d),
        }
    }
}

/// Mesos's `ip` field: the IPv4 octets read as a little-endian u32.
pub fn ipv4_as_mesos_u32(ip: std::net::Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

fn agent_port() -> i32 {
    5051
}

/// An agent's description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Hostname.
    pub hostname: String,
    /// Port (default 5051).
    #[serde(default = "agent_port")]
    pub port: i32,
    /// Total resources.
    #[serde(default)]
    pub resources: Resources,
    /// Attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Its id once registered.
    #[serde(default)]
    pub id: Option<AgentID>,
    /// Its fault domain (`--domain`).
    #[serde(default)]
    pub domain: Option<DomainInfo>,
}
