//! Offer constraints (Mesos 1.11): which agents a framework is offered, per role, as a predicate
//! on the agents' attributes and pseudoattributes.
//!
//! A role with constraints is offered an agent only if at least one of its groups holds, a
//! group holding when every constraint in it does. A role without constraints is offered every
//! agent. A constraint reads the first attribute of its name, or a pseudoattribute: HOSTNAME,
//! or REGION and ZONE (fault domains are not supported, so those never exist). The text
//! predicates hold for any attribute that is not TEXT (the scheduler filters those itself), and
//! a regex must match the whole text.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use mesos_api::protocol::scheduler::{
    AttributeConstraint, OfferConstraints, Predicate, PseudoattributeType,
};
use mesos_api::resources::attributes::AttributeValue;
use mesos_api::Attributes;
use regex::bytes::Regex;

/// The default of `--offer_constraints_re2_max_mem`: the most memory one compiled regex may
/// take, in bytes.
pub const DEFAULT_REGEX_MAX_MEM: usize = 4096;

/// A framework's offer constraints, checked and compiled (the regexes built once).
#[derive(Clone, Debug)]
pub struct OfferConstraintsFilter {
    source: Arc<OfferConstraints>,
    roles: Arc<HashMap<String, Vec<Vec<Constraint>>>>,
}

impl PartialEq for OfferConstraintsFilter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[derive(Debug)]
enum Selected {
    Hostname,
    /// REGION or ZONE: an agent has no fault domain here, so never present.
    Domain,
    Attribute(String),
}

#[derive(Debug)]
enum Test {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    Matches(Regex),
    NotMatches(Regex),
}

#[derive(Debug)]
struct Constraint {
    selector: Selected,
    test: Test,
}

/// What a selector found on an agent.
enum Found<'a> {
    Missing,
    Text(&'a str),
    /// An attribute that is not TEXT.
    Other,
}

impl Test {
    fn holds(&self, found: Found<'_>) -> bool {
        match (self, found) {
            (Test::Exists, Found::Missing) | (Test::NotExists, Found::Text(_) | Found::Other) => {
                false
            }
            (Test::Exists, _) | (Test::NotExists, _) => true,
            (_, Found::Other) => true,
            (Test::Equals(_) | Test::Matches(_), Found::Missing) => false,
            (Test::NotEquals(_) | Test::NotMatches(_), Found::Missing) => true,
            (Test::Equals(v), Found::Text(t)) => t == v,
            (Test::NotEquals(v), Found::Text(t)) => t != v,
            (Test::Matches(r), Found::Text(t)) => r.is_match(t.as_bytes()),
            (Test::NotMatches(r), Found::Text(t)) => !r.is_match(t.as_bytes()),
        }
    }
}

fn compile(regex: &str, max_mem: usize) -> Result<Regex, String> {
    // Anchored: the whole text must match, as RE2::FullMatch; `\d`, `\w`, `\s` and word
    // boundaries are ASCII, as in RE2.
    regex::bytes::RegexBuilder::new(&format!("^(?:{regex})$"))
        .unicode(false)
        .size_limit(max_mem)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => format!(
                "Regex '{regex}' is too complex: it needs more than the {limit} bytes \
                 --offer_constraints_re2_max_mem allows"
            ),
            e => format!("Failed to construct regex from pattern '{regex}': {e}"),
        })
}

fn constraint(c: &AttributeConstraint, max_mem: usize) -> Result<Constraint, String> {
    let s = c
        .selector
        .as_ref()
        .ok_or("An attribute constraint has no 'selector'")?;
    let selector = match (&s.pseudoattribute_type, &s.attribute_name) {
        (Some(PseudoattributeType::Hostname), None) => Selected::Hostname,
        (Some(PseudoattributeType::Region | PseudoattributeType::Zone), None) => Selected::Domain,
        (Some(PseudoattributeType::Unknown), None) => {
            return Err("Unknown pseudoattribute type".into())
        }
        (None, Some(name)) => Selected::Attribute(name.clone()),
        _ => {
            return Err("Exactly one of 'AttributeConstraint::Selector::name' or \
                 'AttributeConstraint::Selector::pseudoattribute_type' must be set"
                .into())
        }
    };
    let p: &Predicate = c.predicate.as_ref().ok_or("Unknown predicate type")?;
    let tests = [
        p.exists.as_ref().map(|_| Ok(Test::Exists)),
        p.not_exists.as_ref().map(|_| Ok(Test::NotExists)),
        p.text_equals
            .as_ref()
            .map(|t| Ok(Test::Equals(t.value.clone()))),
        p.text_not_equals
            .as_ref()
            .map(|t| Ok(Test::NotEquals(t.value.clone()))),
        p.text_matches
            .as_ref()
            .map(|t| compile(&t.regex, max_mem).map(Test::Matches)),
        p.text_not_matches
            .as_ref()
            .map(|t| compile(&t.regex, max_mem).map(Test::NotMatches)),
    ];
    let mut set = tests.into_iter().flatten();
    let test = match (set.next(), set.next()) {
        (Some(t), None) => t?,
        (None, _) => return Err("Unknown predicate type".into()),
        (Some(_), Some(_)) => return Err("A predicate sets more than one of its fields".into()),
    };
    Ok(Constraint { selector, test })
}

impl OfferConstraintsFilter {
    /// Checks and compiles `c` for a framework in `roles` (constraints may name only those),
    /// with regexes of at most `max_mem` bytes. The error says what is wrong, as Mesos says it.
    pub fn new(
        c: &OfferConstraints,
        roles: &BTreeSet<String>,
        max_mem: usize,
    ) -> Result<OfferConstraintsFilter, String> {
        let mut out = HashMap::new();
        for (role, rc) in &c.role_constraints {
            if !roles.contains(role) {
                return Err(format!(
                    "Offer constraints specify `role_constraints` for a role '{role}' not \
                     contained in the set of roles"
                ));
            }
            if rc.groups.is_empty() {
                return Err(format!(
                    "'OfferConstraints::role_constraints' has an empty \
                     'RoleConstraints::groups' for role {role}"
                ));
            }
            let mut groups = Vec::new();
            for g in &rc.groups {
                if g.attribute_constraints.is_empty() {
                    return Err(format!(
                        "'OfferConstraints::RoleConstraints::groups' for role {role} contains \
                         an empty RoleConstraints::Group"
                    ));
                }
                groups.push(
                    g.attribute_constraints
                        .iter()
                        .map(|c| constraint(c, max_mem))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            out.insert(role.clone(), groups);
        }
        Ok(OfferConstraintsFilter {
            source: Arc::new(c.clone()),
            roles: Arc::new(out),
        })
    }

    /// The constraints as given.
    pub fn constraints(&self) -> &OfferConstraints {
        &self.source
    }

    /// Whether an agent (`hostname`, `attributes`) is kept from the framework in `role`.
    pub fn excludes(&self, role: &str, hostname: &str, attributes: &Attributes) -> bool {
        let Some(groups) = self.roles.get(role) else {
            return false;
        };
        !groups.iter().any(|g| {
            g.iter().all(|c| {
                let found = match &c.selector {
                    Selected::Hostname => Found::Text(hostname),
                    Selected::Domain => Found::Missing,
                    Selected::Attribute(name) => {
                        match attributes.0.iter().find(|a| &a.name == name) {
                            None => Found::Missing,
                            Some(a) => match &a.value {
                                AttributeValue::Text(t) => Found::Text(t),
                                AttributeValue::Value(_) => Found::Other,
                            },
                        }
                    }
                };
                c.test.holds(found)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: serde_json::Value) -> Result<OfferConstraintsFilter, String> {
        let c: OfferConstraints = mesos_api::protocol::from_json(&v).unwrap();
        let roles = ["web", "batch"].map(String::from).into_iter().collect();
        OfferConstraintsFilter::new(&c, &roles, DEFAULT_REGEX_MAX_MEM)
    }

    fn one(selector: serde_json::Value, predicate: serde_json::Value) -> OfferConstraintsFilter {
        filter(
            json!({"role_constraints": {"web": {"groups": [{"attribute_constraints": [
            {"selector": selector, "predicate": predicate}]}]}}}),
        )
        .unwrap()
    }

    fn attrs(text: &str) -> Attributes {
        Attributes::parse(text).unwrap()
    }

    #[test]
    fn every_predicate_on_text_attributes_and_missing_ones() {
        let rack = json!({"attribute_name": "rack"});
        let a = attrs("rack:r1;level:7");
        let none = attrs("zone:z");
        let cases = [
            (json!({"exists": {}}), true, false),
            (json!({"not_exists": {}}), false, true),
            (json!({"text_equals": {"value": "r1"}}), true, false),
            (json!({"text_equals": {"value": "r2"}}), false, false),
            (json!({"text_not_equals": {"value": "r1"}}), false, true),
            (json!({"text_not_equals": {"value": "r2"}}), true, true),
            (json!({"text_matches": {"regex": "r[0-9]"}}), true, false),
            // The whole text must match.
            (json!({"text_matches": {"regex": "r"}}), false, false),
            (
                json!({"text_not_matches": {"regex": "r[0-9]"}}),
                false,
                true,
            ),
            (json!({"text_not_matches": {"regex": "x.*"}}), true, true),
        ];
        for (predicate, on_r1, on_missing) in cases {
            let f = one(rack.clone(), predicate.clone());
            assert_eq!(!f.excludes("web", "h", &a), on_r1, "{predicate} on rack:r1");
            assert_eq!(
                !f.excludes("web", "h", &none),
                on_missing,
                "{predicate} on no rack"
            );
            // Other roles are not constrained.
            assert!(!f.excludes("batch", "h", &none), "{predicate}");
        }
    }

    #[test]
    fn text_predicates_hold_for_attributes_that_are_not_text() {
        let level = json!({"attribute_name": "level"});
        let a = attrs("level:7");
        for predicate in [
            json!({"text_equals": {"value": "8"}}),
            json!({"text_not_equals": {"value": "7"}}),
            json!({"text_matches": {"regex": "x"}}),
            json!({"text_not_matches": {"regex": ".*"}}),
        ] {
            assert!(
                !one(level.clone(), predicate.clone()).excludes("web", "h", &a),
                "{predicate}"
            );
        }
        assert!(one(level, json!({"not_exists": {}})).excludes("web", "h", &a));
    }

    #[test]
    fn pseudoattributes_hostname_and_the_missing_domain() {
        let host = one(
            json!({"pseudoattribute_type": "HOSTNAME"}),
            json!({"text_matches": {"regex": "web-[0-9]+"}}),
        );
        assert!(!host.excludes("web", "web-12", &Attributes::default()));
        // RE2's classes are ASCII, and fit the default memory bound.
        let word = one(
            json!({"pseudoattribute_type": "HOSTNAME"}),
            json!({"text_matches": {"regex": "\\w+-\\d+"}}),
        );
        assert!(!word.excludes("web", "web-12", &Attributes::default()));
        assert!(word.excludes("web", "web-١٢", &Attributes::default()));
        assert!(host.excludes("web", "db-1", &Attributes::default()));
        let zone = one(
            json!({"pseudoattribute_type": "ZONE"}),
            json!({"not_exists": {}}),
        );
        assert!(!zone.excludes("web", "h", &Attributes::default()));
    }

    #[test]
    fn groups_are_or_and_constraints_in_a_group_are_and() {
        let f = filter(json!({"role_constraints": {"web": {"groups": [
            {"attribute_constraints": [
                {"selector": {"attribute_name": "rack"}, "predicate": {"text_equals": {"value": "r1"}}},
                {"selector": {"attribute_name": "ssd"}, "predicate": {"exists": {}}}]},
            {"attribute_constraints": [
                {"selector": {"pseudoattribute_type": "HOSTNAME"}, "predicate": {"text_equals": {"value": "special"}}}]}
        ]}}}))
        .unwrap();
        assert!(!f.excludes("web", "h", &attrs("rack:r1;ssd:yes")));
        assert!(f.excludes("web", "h", &attrs("rack:r1")));
        assert!(f.excludes("web", "h", &attrs("rack:r2;ssd:yes")));
        assert!(!f.excludes("web", "special", &attrs("rack:r2")));
    }

    #[test]
    fn invalid_constraints_are_refused_with_mesos_s_reasons() {
        let c = |v| filter(v).unwrap_err();
        let group = |constraint| json!({"role_constraints": {"web": {"groups": [{"attribute_constraints": [constraint]}]}}});
        assert!(c(json!({"role_constraints": {"other": {"groups": [
            {"attribute_constraints": [{"selector": {"attribute_name": "a"}, "predicate": {"exists": {}}}]}]}}}))
        .contains("not contained in the set of roles"));
        assert!(c(json!({"role_constraints": {"web": {"groups": []}}})).contains("empty"));
        assert!(c(json!({"role_constraints": {"web": {"groups": [{}]}}}))
            .contains("empty RoleConstraints::Group"));
        assert!(
            c(group(json!({"selector": {}, "predicate": {"exists": {}}})))
                .contains("Exactly one of")
        );
        assert!(c(group(
            json!({"selector": {"pseudoattribute_type": "UNKNOWN"}, "predicate": {"exists": {}}})
        ))
        .contains("Unknown pseudoattribute type"));
        assert!(c(group(
            json!({"selector": {"attribute_name": "a"}, "predicate": {}})
        ))
        .contains("Unknown predicate type"));
        assert!(c(group(json!({"selector": {"attribute_name": "a"}, "predicate": {"text_matches": {"regex": "("}}})))
            .contains("Failed to construct regex"));
        // A regex too big for the memory limit.
        assert!(c(group(json!({"selector": {"attribute_name": "a"}, "predicate": {"text_matches": {"regex": "(abc|def){200}"}}})))
            .contains("too complex"));
    }
}
