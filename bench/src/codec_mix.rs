//! The real message mix for choosing the codec: a batch of 100 offers, a status update and an
//! agent registration, shaped like Mesos's (ids, resources with roles and ranges, attributes).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum ValueType {
    Scalar,
    Ranges,
    Set,
    Text,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Resource {
    pub name: String,
    pub kind: ValueType,
    pub scalar: Option<f64>,
    pub ranges: Vec<(u64, u64)>,
    pub set: Vec<String>,
    pub role: String,
    pub reservations: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub kind: ValueType,
    pub text: Option<String>,
    pub scalar: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Offer {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub hostname: String,
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OfferBatch {
    pub offers: Vec<Offer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum TaskState {
    Staging,
    Starting,
    Running,
    Finished,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    pub framework_id: String,
    pub agent_id: String,
    pub executor_id: Option<String>,
    pub task_id: String,
    pub state: TaskState,
    pub source: u8,
    pub reason: Option<u16>,
    pub message: Option<String>,
    pub timestamp: f64,
    pub uuid: Vec<u8>,
    pub healthy: Option<bool>,
    pub data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AgentInfo {
    pub hostname: String,
    pub port: u16,
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RegisterAgent {
    pub agent: AgentInfo,
    pub version: String,
    pub capabilities: Vec<String>,
    pub checkpointed_resources: Vec<Resource>,
}

fn scalar(name: &str, v: f64, role: &str) -> Resource {
    Resource {
        name: name.into(),
        kind: ValueType::Scalar,
        scalar: Some(v),
        ranges: vec![],
        set: vec![],
        role: role.into(),
        reservations: vec![],
    }
}

fn agent_resources() -> Vec<Resource> {
    vec![
        scalar("cpus", 24.0, "*"),
        scalar("mem", 4096.0, "*"),
        scalar("disk", 4096.0, "*"),
        Resource {
            name: "ports".into(),
            kind: ValueType::Ranges,
            scalar: None,
            ranges: vec![(31000, 32000)],
            set: vec![],
            role: "*".into(),
            reservations: vec![],
        },
    ]
}

fn attributes() -> Vec<Attribute> {
    vec![
        Attribute {
            name: "rack".into(),
            kind: ValueType::Text,
            text: Some("r17".into()),
            scalar: None,
        },
        Attribute {
            name: "level".into(),
            kind: ValueType::Scalar,
            text: None,
            scalar: Some(10.0),
        },
    ]
}

/// 100 offers from 100 agents to one framework.
pub fn offer_batch() -> OfferBatch {
    OfferBatch {
        offers: (0..100)
            .map(|i| Offer {
                id: format!("5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b-O{i}"),
                framework_id: "5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b-0000".into(),
                agent_id: format!("5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b-S{i}"),
                hostname: format!("agent-{i}.cluster.example"),
                resources: agent_resources(),
                attributes: attributes(),
            })
            .collect(),
    }
}

/// A TASK_RUNNING update from an executor.
pub fn status_update() -> StatusUpdate {
    StatusUpdate {
        framework_id: "5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b-0000".into(),
        agent_id: "5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b-S42".into(),
        executor_id: Some("task-12345".into()),
        task_id: "task-12345".into(),
        state: TaskState::Running,
        source: 2,
        reason: None,
        message: None,
        timestamp: 1_724_430_000.123,
        uuid: vec![7; 16],
        healthy: None,
        data: vec![],
    }
}

/// An agent registering with 4 resources and 2 attributes.
pub fn register_agent() -> RegisterAgent {
    RegisterAgent {
        agent: AgentInfo {
            hostname: "agent-42.cluster.example".into(),
            port: 5051,
            resources: agent_resources(),
            attributes: attributes(),
            id: None,
        },
        version: "1.11.0".into(),
        capabilities: vec![
            "MULTI_ROLE".into(),
            "HIERARCHICAL_ROLE".into(),
            "RESERVATION_REFINEMENT".into(),
        ],
        checkpointed_resources: vec![],
    }
}

/// The codecs compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Postcard,
    Bitcode,
    /// bincode 1.3.3, for reference only: unmaintained (RUSTSEC-2025-0141).
    Bincode,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Postcard, Codec::Bitcode, Codec::Bincode];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Postcard => "postcard",
            Codec::Bitcode => "bitcode",
            Codec::Bincode => "bincode1",
        }
    }

    pub fn encode<T: Serialize>(self, v: &T) -> Vec<u8> {
        match self {
            Codec::Postcard => postcard::to_stdvec(v).expect("postcard encode"),
            Codec::Bitcode => bitcode::serialize(v).expect("bitcode encode"),
            Codec::Bincode => bincode::serialize(v).expect("bincode encode"),
        }
    }

    pub fn decode<T: serde::de::DeserializeOwned>(self, b: &[u8]) -> T {
        match self {
            Codec::Postcard => postcard::from_bytes(b).expect("postcard decode"),
            Codec::Bitcode => bitcode::deserialize(b).expect("bitcode decode"),
            Codec::Bincode => bincode::deserialize(b).expect("bincode decode"),
        }
    }
}

/// One codec on one message: encoded size and the time of one encode + decode round trip.
#[derive(Clone, Debug)]
pub struct CodecFigure {
    pub codec: Codec,
    pub message: &'static str,
    pub bytes: usize,
    pub round_trip: Duration,
}

/// Measures encode + decode of `v` with `codec`, best of `rounds` batches of `iters`.
pub fn measure<T>(
    codec: Codec,
    message: &'static str,
    v: &T,
    iters: u32,
    rounds: u32,
) -> CodecFigure
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = codec.encode(v);
    let back: T = codec.decode(&bytes);
    assert_eq!(&back, v, "{} round trip", codec.name());
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            let b = codec.encode(std::hint::black_box(v));
            let d: T = codec.decode(std::hint::black_box(&b));
            std::hint::black_box(d);
        }
        best = best.min(t.elapsed() / iters);
    }
    CodecFigure {
        codec,
        message,
        bytes: bytes.len(),
        round_trip: best,
    }
}

/// Every codec on every message of the mix.
pub fn measure_all(quick: bool) -> Vec<CodecFigure> {
    let (iters, rounds) = if quick { (200, 3) } else { (2000, 5) };
    let batch = offer_batch();
    let update = status_update();
    let reg = register_agent();
    let mut out = Vec::new();
    for c in Codec::ALL {
        out.push(measure(c, "offers_100", &batch, iters / 10, rounds));
        out.push(measure(c, "status_update", &update, iters * 10, rounds));
        out.push(measure(c, "register_agent", &reg, iters * 10, rounds));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_the_whole_mix() {
        for c in Codec::ALL {
            assert_eq!(
                c.decode::<OfferBatch>(&c.encode(&offer_batch())),
                offer_batch()
            );
            assert_eq!(
                c.decode::<StatusUpdate>(&c.encode(&status_update())),
                status_update()
            );
            assert_eq!(
                c.decode::<RegisterAgent>(&c.encode(&register_agent())),
                register_agent()
            );
        }
    }

    #[test]
    fn the_offer_batch_holds_100_offers_from_distinct_agents() {
        let b = offer_batch();
        assert_eq!(b.offers.len(), 100);
        let agents: std::collections::HashSet<_> = b.offers.iter().map(|o| &o.agent_id).collect();
        assert_eq!(agents.len(), 100);
    }
}
