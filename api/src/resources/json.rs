//! The Mesos v1 JSON forms of Resource and Value, written as stout writes them: snake_case field
//! names, enums as strings, integral scalars as integers, `role` always present (its proto
//! default is `*`). Two reservation forms: *legacy* (`role` + `reservation`) for frameworks
//! without RESERVATION_REFINEMENT, and *refined* (`reservations[]`).

use serde_json::{json, Map, Value as Json};

use super::{
    DiskInfo, Persistence, Ranges, Reservation, ReservationType, Resource, Resources, Scalar,
    Value, Volume, VolumeMode,
};
use crate::error::{ApiError, Result};
use crate::roles::DEFAULT_ROLE;

/// Which reservation form to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceFormat {
    /// `role` and `reservation` (frameworks without RESERVATION_REFINEMENT).
    Legacy,
    /// `reservations[]` (RESERVATION_REFINEMENT frameworks, operator API).
    Refined,
}

/// A scalar as a JSON number: `4`, not `4.0`.
pub(crate) fn scalar_json(s: Scalar) -> Json {
    if s.0 % 1000 == 0 {
        Json::from(s.0 / 1000)
    } else {
        Json::from(s.as_f64())
    }
}

fn labels_json(labels: &[(String, String)]) -> Json {
    json!({"labels": labels.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
}

fn labels_from(v: &Json) -> Vec<(String, String)> {
    v["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some((
                        l["key"].as_str()?.to_string(),
                        l["value"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the `type` and value fields of a value into `m`.
fn put_value(m: &mut Map<String, Json>, v: &Value) {
    match v {
        Value::Scalar(s) => {
            m.insert("type".into(), "SCALAR".into());
            m.insert("scalar".into(), json!({"value": scalar_json(*s)}));
        }
        Value::Ranges(r) => {
            m.insert("type".into(), "RANGES".into());
            let range: Vec<Json> = r
                .iter()
                .map(|(b, e)| json!({"begin": b, "end": e}))
                .collect();
            m.insert("ranges".into(), json!({ "range": range }));
        }
        Value::Set(s) => {
            m.insert("type".into(), "SET".into());
            m.insert("set".into(), json!({"item": s.iter().collect::<Vec<_>>()}));
        }
    }
}

/// Reads a value from an object with `type` and `scalar` / `ranges` / `set`.
pub(crate) fn value_from_json(v: &Json) -> std::result::Result<Value, String> {
    match v["type"].as_str() {
        Some("SCALAR") => {
            let x = v["scalar"]["value"]
                .as_f64()
                .ok_or("missing scalar.value")?;
            Scalar::checked_from_f64(x)
                .map(Value::Scalar)
                .ok_or_else(|| format!("scalar {x} is not finite or beyond {}", Scalar::MAX_VALUE))
        }
        Some("RANGES") => {
            let mut out = Vec::new();
            if let Some(arr) = v["ranges"]["range"].as_array() {
                for r in arr {
                    let b = r["begin"].as_u64().ok_or("range begin is not a number")?;
                    let e = r["end"].as_u64().ok_or("range end is not a number")?;
                    if b > e {
                        return Err(format!("range {b}-{e} has begin > end"));
                    }
                    out.push((b, e));
                }
            }
            Ok(Value::Ranges(Ranges::new(out)))
        }
        Some("SET") => Ok(Value::Set(
            v["set"]["item"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )),
        Some(other) => Err(format!("unknown type '{other}'")),
        None => Err("missing 'type'".into()),
    }
}

impl Resource {
    /// The v1 JSON form.
    pub fn to_json(&self, format: ResourceFormat) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), Json::from(&*self.name));
        put_value(&mut m, &self.value);
        match format {
            ResourceFormat::Legacy => {
                m.insert("role".into(), Json::from(self.role()));
                if let Some(r) = self.reservations.last() {
                    if r.kind == ReservationType::Dynamic {
                        let mut res = Map::new();
                        if let Some(p) = &r.principal {
                            res.insert("principal".into(), Json::from(p.as_str()));
                        }
                        if !r.labels.is_empty() {
                            res.insert("labels".into(), labels_json(&r.labels));
                        }
                        m.insert("reservation".into(), Json::Object(res));
                    }
                }
            }
            ResourceFormat::Refined => {
                m.insert("role".into(), Json::from(DEFAULT_ROLE));
                if !self.reservations.is_empty() {
                    let list: Vec<Json> = self
                        .reservations
                        .iter()
                        .map(|r| {
                            let mut o = Map::new();
                            o.insert(
                                "type".into(),
                                Json::from(match r.kind {
                                    ReservationType::Static => "STATIC",
                                    ReservationType::Dynamic => "DYNAMIC",
                                }),
                            );
                            o.insert("role".into(), Json::from(r.role.as_str()));
                            if let Some(p) = &r.principal {
                                o.insert("principal".into(), Json::from(p.as_str()));
                            }
                            if !r.labels.is_empty() {
                                o.insert("labels".into(), labels_json(&r.labels));
                            }
                            Json::Object(o)
                        })
                        .collect();
                    m.insert("reservations".into(), Json::Array(list));
                }
            }
        }
        if let Some(a) = &self.allocation_role {
            m.insert("allocation_info".into(), json!({"role": &**a}));
        }
        if let Some(d) = &self.disk {
            let mut o = Map::new();
            if let Some(p) = &d.persistence {
                let mut po = Map::new();
                po.insert("id".into(), Json::from(p.id.as_str()));
                if let Some(pr) = &p.principal {
                    po.insert("principal".into(), Json::from(pr.as_str()));
                }
                o.insert("persistence".into(), Json::Object(po));
            }
            if let Some(v) = &d.volume {
                let mut vo = Map::new();
                vo.insert(
                    "container_path".into(),
                    Json::from(v.container_path.as_str()),
                );
                if let Some(h) = &v.host_path {
                    vo.insert("host_path".into(), Json::from(h.as_str()));
                }
                vo.insert(
                    "mode".into(),
                    Json::from(match v.mode {
                        VolumeMode::Rw => "RW",
                        VolumeMode::Ro => "RO",
                    }),
                );
                o.insert("volume".into(), Json::Object(vo));
            }
            m.insert("disk".into(), Json::Object(o));
        }
        if self.revocable {
            m.insert("revocable".into(), json!({}));
        }
        if self.shared {
            m.insert("shared".into(), json!({}));
        }
        Json::Object(m)
    }

    /// Reads either form: `reservations[]` if present, else a legacy `role` other than `*` (with
    /// `reservation` meaning dynamic, without it static).
    pub fn from_json(v: &Json) -> Result<Resource> {
        let err = |why: String| ApiError::Json {
            what: "resource",
            why,
        };
        let name = v["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| err("missing 'name'".into()))?;
        let value = value_from_json(v).map_err(|e| err(format!("'{name}': {e}")))?;
        let mut r = Resource::new(name, value);
        if let Some(list) = v["reservations"].as_array() {
            for x in list {
                let kind = match x["type"].as_str() {
                    Some("STATIC") => ReservationType::Static,
                    Some("DYNAMIC") | None => ReservationType::Dynamic,
                    Some(o) => return Err(err(format!("unknown reservation type '{o}'"))),
                };
                let role = x["role"]
                    .as_str()
                    .ok_or_else(|| err(format!("'{name}': reservation without 'role'")))?;
                r.reservations.push(Reservation {
                    kind,
                    role: role.to_string(),
                    principal: x["principal"].as_str().map(str::to_string),
                    labels: labels_from(&x["labels"]),
                });
            }
        } else if let Some(role) = v["role"].as_str().filter(|r| *r != DEFAULT_ROLE) {
            let res = &v["reservation"];
            r.reservations.push(if res.is_object() {
                Reservation {
                    kind: ReservationType::Dynamic,
                    role: role.to_string(),
                    principal: res["principal"].as_str().map(str::to_string),
                    labels: labels_from(&res["labels"]),
                }
            } else {
                Reservation::static_for(role)
            });
        }
        if let Some(role) = v["allocation_info"]["role"].as_str() {
            r.allocation_role = Some(role.into());
        }
        if v["disk"].is_object() {
            let d = &v["disk"];
            r.disk = Some(Box::new(DiskInfo {
                persistence: d["persistence"]["id"].as_str().map(|id| Persistence {
                    id: id.to_string(),
                    principal: d["persistence"]["principal"].as_str().map(str::to_string),
                }),
                volume: d["volume"]["container_path"].as_str().map(|p| Volume {
                    container_path: p.to_string(),
                    host_path: d["volume"]["host_path"].as_str().map(str::to_string),
                    mode: if d["volume"]["mode"] == "RO" {
                        VolumeMode::Ro
                    } else {
                        VolumeMode::Rw
                    },
                }),
            }));
        }
        r.revocable = v["revocable"].is_object();
        r.shared = v["shared"].is_object();
        Ok(r)
    }
}

impl Resources {
    /// The v1 JSON array form.
    pub fn to_json(&self, format: ResourceFormat) -> Json {
        Json::Array(self.iter().map(|r| r.to_json(format)).collect())
    }

    /// The classic endpoints' summary object: scalars summed by name (`cpus`, `mem`, `disk` and
    /// `gpus` always present), ranges as `"[31000-32000]"`, sets as `"{a, b}"`.
    pub fn to_summary_json(&self) -> Json {
        serde_json::to_value(Summary(self)).unwrap_or(Json::Null)
    }

    /// Reads a v1 JSON array (either reservation form).
    pub fn from_json(v: &Json) -> Result<Resources> {
        let arr = v.as_array().ok_or_else(|| ApiError::Json {
            what: "resources",
            why: "expected an array".into(),
        })?;
        let mut out = Resources::new();
        for x in arr {
            out.add(&Resource::from_json(x)?);
        }
        Ok(out)
    }
}

/// Serializes resources as the classic endpoints' summary object without building a JSON tree
/// (see [`Resources::to_summary_json`]); `/master/state` writes one per task.
pub struct Summary<'a>(pub &'a Resources);

/// Serializes resources as their refined v1 JSON array, the same as
/// `to_json(ResourceFormat::Refined)`, without building a JSON tree for the common resource
/// (unreserved, no disk info, not revocable or shared). `/master/state` writes several per agent.
pub struct Full<'a>(pub &'a Resources);

struct SimpleValue<'a>(&'a Value);

impl serde::Serialize for SimpleValue<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Range(u64, u64);
        impl serde::Serialize for Range {
            fn serialize<S: serde::Serializer>(
                &self,
                ser: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut m = ser.serialize_map(Some(2))?;
                m.serialize_entry("begin", &self.0)?;
                m.serialize_entry("end", &self.1)?;
                m.end()
            }
        }
        struct List<'a>(&'a Ranges);
        impl serde::Serialize for List<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                ser: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut q = ser.serialize_seq(None)?;
                for (b, e) in self.0.iter() {
                    q.serialize_element(&Range(*b, *e))?;
                }
                q.end()
            }
        }
        let mut m = ser.serialize_map(Some(1))?;
        match self.0 {
            Value::Scalar(x) => m.serialize_entry("value", &scalar_json(*x))?,
            Value::Ranges(r) => m.serialize_entry("range", &List(r))?,
            Value::Set(items) => m.serialize_entry("item", items)?,
        }
        m.end()
    }
}

impl serde::Serialize for Full<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Alloc<'a>(&'a str);
        impl serde::Serialize for Alloc<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                ser: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut m = ser.serialize_map(Some(1))?;
                m.serialize_entry("role", self.0)?;
                m.end()
            }
        }
        struct One<'a>(&'a Resource);
        impl serde::Serialize for One<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                ser: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let r = self.0;
                let simple =
                    r.reservations.is_empty() && r.disk.is_none() && !r.revocable && !r.shared;
                if !simple {
                    return serde::Serialize::serialize(&r.to_json(ResourceFormat::Refined), ser);
                }
                // The keys in the sorted order a JSON object tree writes them.
                let mut m = ser.serialize_map(None)?;
                if let Some(a) = &r.allocation_role {
                    m.serialize_entry("allocation_info", &Alloc(a))?;
                }
                m.serialize_entry("name", &*r.name)?;
                let (key, kind) = match &r.value {
                    Value::Scalar(_) => ("scalar", "SCALAR"),
                    Value::Ranges(_) => ("ranges", "RANGES"),
                    Value::Set(_) => ("set", "SET"),
                };
                if key == "ranges" {
                    m.serialize_entry(key, &SimpleValue(&r.value))?;
                    m.serialize_entry("role", DEFAULT_ROLE)?;
                } else {
                    m.serialize_entry("role", DEFAULT_ROLE)?;
                    m.serialize_entry(key, &SimpleValue(&r.value))?;
                }
                m.serialize_entry("type", kind)?;
                m.end()
            }
        }
        let mut q = ser.serialize_seq(None)?;
        for r in self.0.iter() {
            q.serialize_element(&One(r))?;
        }
        q.end()
    }
}

impl serde::Serialize for Summary<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        const BASIC: [&str; 4] = ["cpus", "mem", "disk", "gpus"];
        // The common case (only the four basic scalars, as most tasks hold) without the heap.
        let mut basic = [0i64; 4];
        let only_basic = self.0.iter().all(|r| match &r.value {
            Value::Scalar(v) => {
                let i = match &*r.name {
                    "cpus" => 0,
                    "mem" => 1,
                    "disk" => 2,
                    "gpus" => 3,
                    _ => return false,
                };
                basic[i] += v.0;
                true
            }
            _ => false,
        });
        if only_basic {
            let mut m = ser.serialize_map(Some(4))?;
            for (n, v) in BASIC.iter().zip(basic) {
                if v % 1000 == 0 {
                    m.serialize_entry(n, &(v / 1000))?;
                } else {
                    m.serialize_entry(n, &Scalar(v).as_f64())?;
                }
            }
            return m.end();
        }
        let mut scalars: Vec<(&str, i64)> = BASIC.iter().map(|n| (*n, 0)).collect();
        let mut others: Vec<(&str, &Value)> = Vec::new();
        for r in self.0.iter() {
            match &r.value {
                Value::Scalar(v) => match scalars.iter_mut().find(|(n, _)| *n == &*r.name) {
                    Some(e) => e.1 += v.0,
                    None => scalars.push((&r.name, v.0)),
                },
                other => others.push((&r.name, other)),
            }
        }
        let mut ranges: Vec<(&str, Ranges)> = Vec::new();
        let mut sets: Vec<(&str, std::collections::BTreeSet<&str>)> = Vec::new();
        for (name, v) in others {
            match v {
                Value::Ranges(x) => match ranges.iter_mut().find(|(n, _)| *n == name) {
                    Some(e) => e.1.add(x),
                    None => ranges.push((name, x.clone())),
                },
                Value::Set(x) => {
                    let items = x.iter().map(String::as_str);
                    match sets.iter_mut().find(|(n, _)| *n == name) {
                        Some(e) => e.1.extend(items),
                        None => sets.push((name, items.collect())),
                    }
                }
                Value::Scalar(_) => {}
            }
        }
        let mut m = ser.serialize_map(Some(scalars.len() + ranges.len() + sets.len()))?;
        for (n, v) in scalars {
            if v % 1000 == 0 {
                m.serialize_entry(n, &(v / 1000))?;
            } else {
                m.serialize_entry(n, &Scalar(v).as_f64())?;
            }
        }
        for (n, v) in ranges {
            let parts: Vec<String> = v.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            m.serialize_entry(n, &format!("[{}]", parts.join(", ")))?;
        }
        for (n, v) in sets {
            let parts: Vec<&str> = v.into_iter().collect();
            m.serialize_entry(n, &format!("{{{}}}", parts.join(", ")))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_writes_what_the_refined_tree_writes() {
        let plain = Resources::parse(
            "cpus:2.5;mem:1024;disk:100;ports:[31000-31005,32000-32001];zones:{a,b}",
            "*",
        )
        .unwrap();
        let reserved = Resources::parse("cpus(web):1;mem(web):64", "*").unwrap();
        let mut volume = Resources::from_json(&json!([{"name": "disk", "type": "SCALAR",
            "scalar": {"value": 10}, "reservations": [{"type": "DYNAMIC", "role": "db",
            "principal": "ops"}], "disk": {"persistence": {"id": "v1"},
            "volume": {"container_path": "data", "mode": "RW"}}}]))
        .unwrap();
        volume.add_all(
            &Resources::from_json(&json!([{"name": "cpus", "type": "SCALAR",
            "scalar": {"value": 1}, "revocable": {}}]))
            .unwrap(),
        );
        for r in [
            Resources::new(),
            plain.clone(),
            plain.allocate("web"),
            reserved.clone(),
            reserved.allocate("web"),
            volume,
        ] {
            let tree = r.to_json(ResourceFormat::Refined);
            let bytes = serde_json::to_vec(&Full(&r)).unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), tree.to_string(), "{r}");
        }
    }

    #[test]
    fn summary_writes_what_the_summary_tree_writes() {
        for text in [
            "",
            "cpus:0.1;mem:32",
            "cpus:2;mem:1024;disk:10;gpus:1",
            "cpus:1;ports:[31000-31005];zones:{a,b};foo:3",
        ] {
            let r = Resources::parse(text, "*").unwrap().allocate("web");
            let bytes = serde_json::to_vec(&Summary(&r)).unwrap();
            let back: Json = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, r.to_summary_json(), "{text}");
        }
    }
}
