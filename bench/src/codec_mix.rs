//! The real message mix for choosing the codec, built from the protocol types the components
//! exchange: a batch of 100 offers, a status update and an agent registration.

use std::time::{Duration, Instant};

use mesos_api::protocol::framework::AgentInfo;
use mesos_api::protocol::offer::Offer;
use mesos_api::protocol::task::{Source, TaskState, TaskStatus};
use mesos_api::{AgentID, Attributes, ExecutorID, FrameworkID, OfferID, Resources, TaskID};
use serde::{Deserialize, Serialize};

/// OFFERS: 100 offers from 100 agents to one framework.
pub type OfferBatch = Vec<Offer>;

/// A status update as the agent forwards it (Mesos's StatusUpdateMessage shape).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    /// The task's framework.
    pub framework_id: FrameworkID,
    /// The task's executor.
    pub executor_id: Option<ExecutorID>,
    /// The agent forwarding it.
    pub agent_id: AgentID,
    /// The status.
    pub status: TaskStatus,
    /// When it was made.
    pub timestamp: f64,
    /// Its id.
    pub uuid: Vec<u8>,
}

/// An agent registering (Mesos's RegisterSlaveMessage shape).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RegisterAgent {
    /// The agent.
    pub agent: AgentInfo,
    /// Its Mesos version.
    pub version: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Its reservations and volumes.
    pub checkpointed_resources: Resources,
}

const MASTER: &str = "5b1f0c7e-6a43-4b7e-9b8e-1c2d3e4f5a6b";

fn agent_resources() -> Resources {
    Resources::parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]", "*").expect("resources")
}

fn attributes() -> Attributes {
    Attributes::parse("rack:r17;level:10").expect("attributes")
}

/// 100 offers from 100 agents to one framework.
pub fn offer_batch() -> OfferBatch {
    (0..100)
        .map(|i| Offer {
            id: OfferID::new(format!("{MASTER}-O{i}")),
            framework_id: FrameworkID::new(format!("{MASTER}-0000")),
            agent_id: AgentID::new(format!("{MASTER}-S{i}")),
            hostname: format!("agent-{i}.cluster.example"),
            resources: agent_resources(),
            attributes: attributes(),
            executor_ids: Vec::new(),
            unavailability: None,
            allocation_info: None,
            url: None,
            domain: None,
        })
        .collect()
}

/// A TASK_RUNNING update from an executor.
pub fn status_update() -> StatusUpdate {
    let mut status = TaskStatus::new(TaskID::new("task-12345"), TaskState::Running);
    status.source = Some(Source::Executor);
    status.agent_id = Some(AgentID::new(format!("{MASTER}-S42")));
    status.executor_id = Some(ExecutorID::new("task-12345"));
    status.timestamp = Some(1_724_430_000.123);
    status.uuid = Some(vec![7; 16]);
    StatusUpdate {
        framework_id: FrameworkID::new(format!("{MASTER}-0000")),
        executor_id: Some(ExecutorID::new("task-12345")),
        agent_id: AgentID::new(format!("{MASTER}-S42")),
        status,
        timestamp: 1_724_430_000.123,
        uuid: vec![7; 16],
    }
}

/// An agent registering with its resources and attributes.
pub fn register_agent() -> RegisterAgent {
    RegisterAgent {
        agent: AgentInfo {
            hostname: "agent-42.cluster.example".into(),
            port: 5051,
            resources: agent_resources(),
            attributes: attributes(),
            id: None,
            domain: None,
        },
        version: "1.11.0".into(),
        capabilities: vec![
            "MULTI_ROLE".into(),
            "HIERARCHICAL_ROLE".into(),
            "RESERVATION_REFINEMENT".into(),
        ],
        checkpointed_resources: Resources::new(),
    }
}

/// The codecs compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// postcard (the runtime's codec).
    Postcard,
    /// bitcode.
    Bitcode,
    /// bincode 1.3.3, for reference only: unmaintained (RUSTSEC-2025-0141).
    Bincode,
}

impl Codec {
    /// Every codec compared.
    pub const ALL: [Codec; 3] = [Codec::Postcard, Codec::Bitcode, Codec::Bincode];

    /// Its name in the figures.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Postcard => "postcard",
            Codec::Bitcode => "bitcode",
            Codec::Bincode => "bincode1",
        }
    }

    /// Encodes with this codec.
    pub fn encode<T: Serialize>(self, v: &T) -> Vec<u8> {
        match self {
            Codec::Postcard => postcard::to_stdvec(v).expect("postcard encode"),
            Codec::Bitcode => bitcode::serialize(v).expect("bitcode encode"),
            Codec::Bincode => bincode::serialize(v).expect("bincode encode"),
        }
    }

    /// Decodes with this codec.
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
    /// The codec.
    pub codec: Codec,
    /// The message's name.
    pub message: &'static str,
    /// Its encoded size.
    pub bytes: usize,
    /// One encode + decode.
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
        assert_eq!(b.len(), 100);
        let agents: std::collections::HashSet<_> = b.iter().map(|o| &o.agent_id).collect();
        assert_eq!(agents.len(), 100);
    }
}
