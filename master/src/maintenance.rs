//! Maintenance schedules (Mesos's maintenance primitives), as data: machines, the windows in
//! which they are unavailable, and each machine's mode (UP, DRAINING while scheduled, DOWN once
//! an operator brought it down). Parsing and validation give Mesos's messages. The master acts
//! on it in `master::maintenance`; the registry stores it whole.

use std::net::Ipv4Addr;

use mesos_api::protocol::offer::{TimeInfo, Unavailability};
use mesos_api::protocol::task::DurationInfo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A machine, by hostname and/or IP (Mesos's `MachineID`; a missing field is ""). Hostnames
/// compare without case, IPs exactly: an agent is on a machine when both match.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct MachineId {
    #[serde(default)]
    pub(crate) hostname: String,
    #[serde(default)]
    pub(crate) ip: String,
}

impl PartialEq for MachineId {
    fn eq(&self, o: &MachineId) -> bool {
        self.hostname.eq_ignore_ascii_case(&o.hostname) && self.ip == o.ip
    }
}

impl Eq for MachineId {}

impl MachineId {
    /// Its JSON form (only the fields that are set, as Mesos writes a `MachineID`).
    pub(crate) fn json(&self) -> Value {
        let mut o = Map::new();
        if !self.hostname.is_empty() {
            o.insert("hostname".into(), json!(self.hostname));
        }
        if !self.ip.is_empty() {
            o.insert("ip".into(), json!(self.ip));
        }
        Value::Object(o)
    }

    /// As Mesos names a machine in its messages.
    fn shown(&self) -> String {
        self.json().to_string()
    }

    fn parse(v: &Value, at: &str) -> Result<MachineId, String> {
        let o = v
            .as_object()
            .ok_or_else(|| format!("'{at}' must be an object"))?;
        let field = |k: &str| match o.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("'{at}.{k}' must be a string")),
        };
        let id = MachineId {
            hostname: field("hostname")?,
            ip: field("ip")?,
        };
        if id.hostname.is_empty() && id.ip.is_empty() {
            return Err("Both 'hostname' and 'ip' for a machine are empty".into());
        }
        if !id.ip.is_empty() && id.ip.parse::<Ipv4Addr>().is_err() {
            return Err(format!("Failed to parse IP '{}'", id.ip));
        }
        Ok(id)
    }
}

/// A window: machines and when they are unavailable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    pub(crate) machine_ids: Vec<MachineId>,
    /// Start, in nanoseconds since the epoch.
    pub(crate) start_ns: i64,
    /// How long (none: indefinitely).
    #[serde(default)]
    pub(crate) duration_ns: Option<i64>,
}

impl Window {
    pub(crate) fn unavailability(&self) -> Unavailability {
        Unavailability {
            start: TimeInfo {
                nanoseconds: self.start_ns,
            },
            duration: self
                .duration_ns
                .map(|nanoseconds| DurationInfo { nanoseconds }),
        }
    }

    fn json(&self) -> Value {
        let mut u = json!({"start": {"nanoseconds": self.start_ns}});
        if let Some(d) = self.duration_ns {
            u["duration"] = json!({"nanoseconds": d});
        }
        json!({
            "machine_ids": self.machine_ids.iter().map(MachineId::json).collect::<Vec<_>>(),
            "unavailability": u,
        })
    }
}

/// A machine's maintenance mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Not scheduled.
    Up,
    /// Scheduled: offers carry its unavailability, frameworks get inverse offers.
    Draining,
    /// Brought down: its agents are shut down and may not register.
    Down,
}

/// The cluster's one schedule and the machines brought down.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Maintenance {
    #[serde(default)]
    pub(crate) windows: Vec<Window>,
    /// DOWN machines (each is in a window).
    #[serde(default)]
    pub(crate) down: Vec<MachineId>,
}

/// Nanoseconds as protobuf's JSON writes an int64: a number or a string of digits.
fn nanos(v: &Value, at: &str) -> Result<i64, String> {
    match &v["nanoseconds"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("Missing or malformed '{at}.nanoseconds'"))
}

impl Maintenance {
    /// The window `m` is in.
    pub(crate) fn window_of(&self, m: &MachineId) -> Option<&Window> {
        self.windows.iter().find(|w| w.machine_ids.contains(m))
    }

    /// When `m` is unavailable, if it is scheduled.
    pub(crate) fn unavailability(&self, m: &MachineId) -> Option<Unavailability> {
        self.window_of(m).map(Window::unavailability)
    }

    pub(crate) fn mode(&self, m: &MachineId) -> Mode {
        if self.down.contains(m) {
            Mode::Down
        } else if self.window_of(m).is_some() {
            Mode::Draining
        } else {
            Mode::Up
        }
    }

    /// Every scheduled machine.
    pub(crate) fn machines(&self) -> impl Iterator<Item = &MachineId> {
        self.windows.iter().flat_map(|w| w.machine_ids.iter())
    }

    /// The schedule as Mesos's `maintenance::Schedule` JSON.
    pub(crate) fn schedule_json(&self) -> Value {
        json!({"windows": self.windows.iter().map(Window::json).collect::<Vec<_>>()})
    }

    /// Parses a `maintenance::Schedule` and checks it as Mesos does: each window has machines
    /// and an unavailability with a non-negative duration, each machine is valid and appears
    /// once.
    pub(crate) fn parse_schedule(v: &Value) -> Result<Vec<Window>, String> {
        let windows = match v.get("windows") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err("'windows' must be an array".into()),
        };
        let mut out: Vec<Window> = Vec::new();
        for (i, w) in windows.iter().enumerate() {
            let at = format!("windows[{i}]");
            let ids = match &w["machine_ids"] {
                Value::Null => Vec::new(),
                Value::Array(a) => a.clone(),
                _ => return Err(format!("'{at}.machine_ids' must be an array")),
            };
            if ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            let u = &w["unavailability"];
            if u.is_null() {
                return Err(format!("Missing required field '{at}.unavailability'"));
            }
            let start_ns = nanos(&u["start"], &format!("{at}.unavailability.start"))?;
            let duration_ns = match &u["duration"] {
                Value::Null => None,
                d => Some(nanos(d, &format!("{at}.unavailability.duration"))?),
            };
            if duration_ns.is_some_and(|d| d < 0) {
                return Err("Unavailability 'duration' is negative".into());
            }
            let mut machine_ids = Vec::new();
            for (j, m) in ids.iter().enumerate() {
                let id = MachineId::parse(m, &format!("{at}.machine_ids[{j}]"))?;
                if machine_ids.contains(&id) || out.iter().any(|w| w.machine_ids.contains(&id)) {
                    return Err(format!(
                        "Machine '{}' appears more than once in the schedule",
                        id.shown()
                    ));
                }
                machine_ids.push(id);
            }
            out.push(Window {
                machine_ids,
                start_ns,
                duration_ns,
            });
        }
        Ok(out)
    }

    /// Replaces the schedule; refused when it drops a DOWN machine (bring it up first).
    pub(crate) fn set_schedule(&mut self, windows: Vec<Window>) -> Result<(), String> {
        let next = Maintenance {
            windows,
            down: self.down.clone(),
        };
        if let Some(m) = self.down.iter().find(|m| next.window_of(m).is_none()) {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                m.shown()
            ));
        }
        *self = next;
        Ok(())
    }

    /// Brings DRAINING machines down (all or none).
    pub(crate) fn start(&mut self, machines: &[MachineId]) -> Result<(), String> {
        for m in machines {
            self.scheduled(m)?;
            if self.mode(m) != Mode::Draining {
                return Err(format!(
                    "Machine '{}' is not in DRAINING mode and cannot be brought down",
                    m.shown()
                ));
            }
        }
        self.down.extend(machines.iter().cloned());
        Ok(())
    }

    /// Brings DOWN machines up, which takes them out of the schedule (all or none).
    pub(crate) fn stop(&mut self, machines: &[MachineId]) -> Result<(), String> {
        for m in machines {
            self.scheduled(m)?;
            if self.mode(m) != Mode::Down {
                return Err(format!(
                    "Machine '{}' is not in DOWN mode and cannot be brought up",
                    m.shown()
                ));
            }
        }
        self.down.retain(|m| !machines.contains(m));
        for w in &mut self.windows {
            w.machine_ids.retain(|m| !machines.contains(m));
        }
        self.windows.retain(|w| !w.machine_ids.is_empty());
        Ok(())
    }

    fn scheduled(&self, m: &MachineId) -> Result<(), String> {
        match self.window_of(m) {
            Some(_) => Ok(()),
            None => Err(format!(
                "Machine '{}' is not part of a maintenance schedule",
                m.shown()
            )),
        }
    }
}

/// Parses a list of machines (`/machine/down`, `START_MAINTENANCE`, ...): not empty, each
/// valid, none twice.
pub(crate) fn parse_machines(v: &Value) -> Result<Vec<MachineId>, String> {
    let list = v.as_array().ok_or("Expecting a JSON array of machines")?;
    if list.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut out: Vec<MachineId> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let id = MachineId::parse(m, &format!("[{i}]"))?;
        if out.contains(&id) {
            return Err(format!(
                "Machine '{}' appears more than once in the schedule",
                id.shown()
            ));
        }
        out.push(id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(v: Value) -> Result<Vec<Window>, String> {
        Maintenance::parse_schedule(&v)
    }

    #[test]
    fn schedules_are_validated_as_mesos_validates_them() {
        let u = json!({"start": {"nanoseconds": 1}, "duration": {"nanoseconds": 10}});
        let ok = schedule(json!({"windows": [
            {"machine_ids": [{"hostname": "a", "ip": "10.0.0.1"}, {"hostname": "b"}], "unavailability": u},
            {"machine_ids": [{"ip": "10.0.0.3"}], "unavailability": {"start": {"nanoseconds": "5"}}}]}))
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].start_ns, 5);
        assert_eq!(ok[1].duration_ns, None);
        let err = |v: Value| schedule(v).unwrap_err();
        assert_eq!(
            err(json!({"windows": [{"machine_ids": [], "unavailability": u}]})),
            "List of machines in the maintenance window is empty"
        );
        assert_eq!(
            err(json!({"windows": [{"machine_ids": [{}], "unavailability": u}]})),
            "Both 'hostname' and 'ip' for a machine are empty"
        );
        assert_eq!(
            err(json!({"windows": [{"machine_ids": [{"ip": "nope"}], "unavailability": u}]})),
            "Failed to parse IP 'nope'"
        );
        assert_eq!(
            err(
                json!({"windows": [{"machine_ids": [{"hostname": "a"}], "unavailability":
                {"start": {"nanoseconds": 0}, "duration": {"nanoseconds": -1}}}]})
            ),
            "Unavailability 'duration' is negative"
        );
        // Hostnames compare without case, across windows too.
        assert_eq!(
            err(json!({"windows": [
                {"machine_ids": [{"hostname": "A"}], "unavailability": u},
                {"machine_ids": [{"hostname": "a"}], "unavailability": u}]})),
            "Machine '{\"hostname\":\"a\"}' appears more than once in the schedule"
        );
        assert!(
            err(json!({"windows": [{"machine_ids": [{"hostname": "a"}]}]}))
                .contains("unavailability")
        );
        assert!(schedule(json!({})).unwrap().is_empty());
    }

    #[test]
    fn machines_go_down_and_up_only_from_the_right_mode() {
        let mut m = Maintenance::default();
        let a = MachineId {
            hostname: "a".into(),
            ip: "10.0.0.1".into(),
        };
        let b = MachineId {
            hostname: "b".into(),
            ip: String::new(),
        };
        let windows = schedule(json!({"windows": [{"machine_ids": [a.json(), b.json()],
            "unavailability": {"start": {"nanoseconds": 7}}}]}))
        .unwrap();
        m.set_schedule(windows.clone()).unwrap();
        assert_eq!(m.mode(&a), Mode::Draining);
        assert_eq!(m.unavailability(&b).unwrap().start.nanoseconds, 7);
        // The IP must match too: the same hostname elsewhere is not scheduled.
        let elsewhere = MachineId {
            hostname: "A".into(),
            ip: "10.0.0.2".into(),
        };
        assert_eq!(m.mode(&elsewhere), Mode::Up);
        assert!(m
            .stop(std::slice::from_ref(&a))
            .unwrap_err()
            .contains("not in DOWN mode"));
        assert!(m
            .start(&[elsewhere])
            .unwrap_err()
            .contains("is not part of a maintenance schedule"));
        m.start(std::slice::from_ref(&a)).unwrap();
        assert_eq!(m.mode(&a), Mode::Down);
        assert!(m
            .start(std::slice::from_ref(&a))
            .unwrap_err()
            .contains("not in DRAINING mode"));
        // A schedule that drops a DOWN machine is refused; one that keeps it is taken.
        let only_b = schedule(json!({"windows": [{"machine_ids": [b.json()],
            "unavailability": {"start": {"nanoseconds": 7}}}]}))
        .unwrap();
        assert!(m
            .set_schedule(only_b)
            .unwrap_err()
            .contains("is deactivated and cannot be removed from the schedule"));
        assert_eq!(m.mode(&a), Mode::Down);
        m.set_schedule(windows).unwrap();
        assert_eq!(m.mode(&a), Mode::Down);
        m.stop(std::slice::from_ref(&a)).unwrap();
        assert_eq!(m.mode(&a), Mode::Up);
        assert_eq!(m.windows.len(), 1);
        assert_eq!(m.windows[0].machine_ids, vec![b]);
        assert_eq!(
            parse_machines(&json!([])).unwrap_err(),
            "List of machines is empty"
        );
        assert!(
            parse_machines(&json!([{"hostname": "x"}, {"hostname": "X"}]))
                .unwrap_err()
                .contains("more than once")
        );
    }
}
