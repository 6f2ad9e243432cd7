//! Serde for [`Resource`] and [`Resources`]: the v1 JSON form (reservations in the refined form)
//! for human-readable formats, a compact field-by-field form for the binary codec.

use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DiskInfo, Reservation, Resource, ResourceFormat, Resources, Value};

#[derive(Serialize)]
struct WireRef<'a> {
    name: &'a str,
    value: &'a Value,
    reservations: &'a [Reservation],
    disk: Option<&'a DiskInfo>,
    revocable: bool,
    shared: bool,
    allocation_role: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireOwned {
    name: String,
    value: Value,
    reservations: Vec<Reservation>,
    disk: Option<DiskInfo>,
    revocable: bool,
    shared: bool,
    allocation_role: Option<String>,
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.to_json(ResourceFormat::Refined).serialize(s)
        } else {
            WireRef {
                name: &self.name,
                value: &self.value,
                reservations: &self.reservations,
                disk: self.disk.as_deref(),
                revocable: self.revocable,
                shared: self.shared,
                allocation_role: self.allocation_role.as_deref(),
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Resource, D::Error> {
        if d.is_human_readable() {
            let v = serde_json::Value::deserialize(d)?;
            Resource::from_json(&v).map_err(D::Error::custom)
        } else {
            let w = WireOwned::deserialize(d)?;
            Ok(Resource {
                name: super::resource_name(&w.name),
                value: w.value,
                reservations: w.reservations,
                disk: w.disk.map(Box::new),
                revocable: w.revocable,
                shared: w.shared,
                allocation_role: w.allocation_role.map(Arc::from),
            })
        }
    }
}

impl Serialize for Resources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Resources, D::Error> {
        let v = Vec::<Resource>::deserialize(d)?;
        Ok(Resources::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_binary_forms_round_trip() {
        let r = Resources::parse("cpus:2;mem(eng):64;ports:[1-5];bugs:{a,b}", "*")
            .unwrap()
            .allocate("eng");
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j, r.to_json(ResourceFormat::Refined));
        assert_eq!(serde_json::from_value::<Resources>(j).unwrap(), r);
        let b = postcard::to_stdvec(&r).unwrap();
        assert_eq!(postcard::from_bytes::<Resources>(&b).unwrap(), r);
    }
}
