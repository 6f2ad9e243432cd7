//! Agent attributes: `rack:abc;zone:west;level:10;keys:[1000-1500];tags:{a,b}`.

use serde_json::{json, Value as Json};

use super::json::{scalar_json, value_from_json};
use super::parse::{parse_value_token, split_tokens};
use super::{Scalar, Value};
use crate::error::{ApiError, Result};

/// An attribute's value: text, or a scalar, ranges or set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// `rack:abc`.
    Text(String),
    /// `level:10`, `ranges`, `set` as for resources.
    Value(Value),
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The name.
    pub name: String,
    /// The value.
    pub value: AttributeValue,
}

/// An agent's attributes, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes(pub Vec<Attribute>);

impl Attributes {
    /// Parses the `--attributes` grammar. A value is a scalar if it parses as a number, ranges in
    /// `[..]`, a set in `{..}`, else text.
    pub fn parse(text: &str) -> Result<Attributes> {
        let mut out = Vec::new();
        for (pos, token) in split_tokens(text) {
            let err = |why: &str| ApiError::Parse {
                what: "attributes",
                pos,
                token: token.to_string(),
                why: why.to_string(),
            };
            let (name, value) = token
                .split_once(':')
                .ok_or_else(|| err("expected name:value"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(err("empty attribute name"));
            }
            let value = value.trim();
            let value = if value.starts_with('[') || value.starts_with('{') {
                AttributeValue::Value(parse_value_token(value).map_err(|why| err(&why))?)
            } else if let Ok(v) = value.parse::<f64>() {
                let s = Scalar::checked_from_f64(v)
                    .ok_or_else(|| err("scalar is not finite or out of range"))?;
                AttributeValue::Value(Value::Scalar(s))
            } else if value.is_empty() {
                return Err(err("empty attribute value"));
            } else {
                AttributeValue::Text(value.to_string())
            };
            out.push(Attribute {
                name: name.to_string(),
                value,
            });
        }
        Ok(Attributes(out))
    }

    /// The v1 JSON form: `[{"name":"rack","type":"TEXT","text":{"value":"r1"}}, ...]`.
    pub fn to_json(&self) -> Json {
        Json::Array(self.0.iter().map(Attribute::to_json).collect())
    }

    /// Reads the v1 JSON form.
    pub fn from_json(v: &Json) -> Result<Attributes> {
        let arr = v.as_array().ok_or_else(|| ApiError::Json {
            what: "attributes",
            why: "expected an array".into(),
        })?;
        arr.iter()
            .map(Attribute::from_json)
            .collect::<Result<_>>()
            .map(Attributes)
    }

    /// The classic endpoints' object form: `{"rack":"r1","level":10,"keys":"[1000-1500]"}`.
    pub fn to_json_object(&self) -> Json {
        let mut o = serde_json::Map::new();
        for a in &self.0 {
            let v = match &a.value {
                AttributeValue::Text(t) => json!(t),
                AttributeValue::Value(Value::Scalar(s)) => scalar_json(*s),
                AttributeValue::Value(Value::Ranges(r)) => {
                    let parts: Vec<String> = r.iter().map(|(b, e)| format!("{b}-{e}")).collect();
                    json!(format!("[{}]", parts.join(", ")))
                }
                AttributeValue::Value(Value::Set(s)) => {
                    let parts: Vec<&str> = s.iter().map(String::as_str).collect();
                    json!(format!("{{{}}}", parts.join(", ")))
                }
            };
            o.insert(a.name.clone(), v);
        }
        Json::Object(o)
    }

    /// Looks an attribute up by name.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.0.iter().find(|a| a.name == name)
    }
}

impl Attribute {
    /// The v1 JSON form of one attribute.
    pub fn to_json(&self) -> Json {
        match &self.value {
            AttributeValue::Text(t) => {
                json!({"name": self.name, "type": "TEXT", "text": {"value": t}})
            }
            AttributeValue::Value(Value::Scalar(s)) => {
                json!({"name": self.name, "type": "SCALAR", "scalar": {"value": scalar_json(*s)}})
            }
            AttributeValue::Value(Value::Ranges(r)) => json!({
                "name": self.name, "type": "RANGES",
                "ranges": {"range": r.iter().map(|(b, e)| json!({"begin": b, "end": e})).collect::<Vec<_>>()}
            }),
            AttributeValue::Value(Value::Set(s)) => {
                json!({"name": self.name, "type": "SET", "set": {"item": s.iter().collect::<Vec<_>>()}})
            }
        }
    }

    /// Reads one attribute's v1 JSON form.
    pub fn from_json(v: &Json) -> Result<Attribute> {
        let err = |why: String| ApiError::Json {
            what: "attribute",
            why,
        };
        let name = v["name"]
            .as_str()
            .ok_or_else(|| err("missing 'name'".into()))?
            .to_string();
        let value = if v["type"] == "TEXT" {
            AttributeValue::Text(
                v["text"]["value"]
                    .as_str()
                    .ok_or_else(|| err(format!("'{name}': missing text.value")))?
                    .to_string(),
            )
        } else {
            AttributeValue::Value(value_from_json(v).map_err(|e| err(format!("'{name}': {e}")))?)
        };
        Ok(Attribute { name, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_example() {
        let a = Attributes::parse("rack:abc;zone:west;level:10;keys:[1000-1500]").unwrap();
        assert_eq!(a.0.len(), 4);
        assert_eq!(
            a.get("rack").unwrap().value,
            AttributeValue::Text("abc".into())
        );
        assert_eq!(
            a.get("level").unwrap().value,
            AttributeValue::Value(Value::Scalar(Scalar(10_000)))
        );
        assert_eq!(
            a.to_json()[0],
            json!({"name":"rack","type":"TEXT","text":{"value":"abc"}})
        );
        assert_eq!(a.to_json()[2]["scalar"]["value"], json!(10));
        assert_eq!(Attributes::from_json(&a.to_json()).unwrap(), a);
    }

    #[test]
    fn bad_attributes_name_the_token_and_position() {
        let e = Attributes::parse("rack:abc;zone").unwrap_err().to_string();
        assert!(e.contains("position 9") && e.contains("'zone'"), "{e}");
        assert!(Attributes::parse("keys:[5-1x]").is_err());
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
enum AttrWire {
    Text(String),
    Value(Value),
}

impl serde::Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.to_json().serialize(s)
        } else {
            s.collect_seq(self.0.iter().map(|a| {
                (
                    a.name.as_str(),
                    match &a.value {
                        AttributeValue::Text(t) => AttrWire::Text(t.clone()),
                        AttributeValue::Value(v) => AttrWire::Value(v.clone()),
                    },
                )
            }))
        }
    }
}

impl<'de> serde::Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Attributes, D::Error> {
        use serde::de::Error as _;
        if d.is_human_readable() {
            let v = Json::deserialize(d)?;
            Attributes::from_json(&v).map_err(D::Error::custom)
        } else {
            let v = Vec::<(String, AttrWire)>::deserialize(d)?;
            Ok(Attributes(
                v.into_iter()
                    .map(|(name, w)| Attribute {
                        name,
                        value: match w {
                            AttrWire::Text(t) => AttributeValue::Text(t),
                            AttrWire::Value(v) => AttributeValue::Value(v),
                        },
                    })
                    .collect(),
            ))
        }
    }
}
