//! The `--resources` text grammar (`cpus:24;mem:24576;ports:[21000-24000,30000-34000];
//! bugs(debug_role):{a,b,c}`), its JSON array form, and `file://` indirection.

use std::collections::BTreeSet;

use super::{Ranges, Reservation, Resource, Resources, Scalar, Value};
use crate::error::{ApiError, Result};
use crate::roles::{self, DEFAULT_ROLE};

/// Splits `a;b; c` into trimmed non-empty tokens with their byte offsets. Separators inside
/// `[..]` or `{..}` do not split.
pub(crate) fn split_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    fn push<'a>(text: &'a str, out: &mut Vec<(usize, &'a str)>, from: usize, to: usize) {
        let raw = &text[from..to];
        let lead = raw.len() - raw.trim_start().len();
        let t = raw.trim();
        if !t.is_empty() {
            out.push((from + lead, t));
        }
    }
    for (i, c) in text.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ';' if depth <= 0 => {
                push(text, &mut out, start, i);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(text, &mut out, start, text.len());
    out
}

/// Parses a value token: `[a-b,c-d]`, `{x,y}` or a scalar.
pub(crate) fn parse_value_token(v: &str) -> std::result::Result<Value, String> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("ranges must end with ']'")?;
        let mut ranges = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, e) = part
                .split_once('-')
                .ok_or_else(|| format!("range '{part}' is not begin-end"))?;
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|_| format!("range begin '{}' is not a number", b.trim()))?;
            let e: u64 = e
                .trim()
                .parse()
                .map_err(|_| format!("range end '{}' is not a number", e.trim()))?;
            if b > e {
                return Err(format!("range '{part}' has begin > end"));
            }
            ranges.push((b, e));
        }
        return Ok(Value::Ranges(Ranges::new(ranges)));
    }
    if let Some(inner) = v.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or("sets must end with '}'")?;
        let items: BTreeSet<String> = inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(Value::Set(items));
    }
    let x: f64 = v
        .parse()
        .map_err(|_| format!("'{v}' is not a scalar, [ranges] or {{set}}"))?;
    match Scalar::checked_from_f64(x).filter(|_| x >= 0.0) {
        Some(s) => Ok(Value::Scalar(s)),
        None => Err(format!(
            "scalar '{v}' must be a number from 0 to {}",
            Scalar::MAX_VALUE
        )),
    }
}

impl Resources {
    /// Parses the `--resources` text grammar `name[(role)]:value;...`; resources without a role
    /// get `default_role` (a role other than `*` makes a static reservation). Also accepts the
    /// JSON array form. Duplicate names merge. Errors name the token and its position.
    pub fn parse(text: &str, default_role: &str) -> Result<Resources> {
        let t = text.trim_start();
        if t.starts_with('[') {
            let v: serde_json::Value = serde_json::from_str(t).map_err(|e| ApiError::Json {
                what: "resources",
                why: e.to_string(),
            })?;
            let r = Resources::from_json(&v)?;
            r.validate()?;
            return Ok(r);
        }
        roles::validate(default_role)?;
        let mut out = Resources::new();
        for (pos, token) in split_tokens(text) {
            let err = |at: usize, tok: &str, why: String| ApiError::Parse {
                what: "resources",
                pos: at,
                token: tok.to_string(),
                why,
            };
            let colon = token
                .find(':')
                .ok_or_else(|| err(pos, token, "expected name[(role)]:value".into()))?;
            let head = token[..colon].trim();
            let (name, role) = match head.find('(') {
                Some(open) => {
                    let close = head
                        .rfind(')')
                        .filter(|&c| c == head.len() - 1)
                        .ok_or_else(|| err(pos, head, "unbalanced '(' in role".into()))?;
                    (head[..open].trim(), head[open + 1..close].trim())
                }
                None => (head, default_role),
            };
            if name.is_empty() {
                return Err(err(pos, token, "empty resource name".into()));
            }
            if name
                .chars()
                .any(|c| c.is_whitespace() || "()[]{}:;".contains(c))
            {
                return Err(err(
                    pos,
                    name,
                    "resource name has a reserved character".into(),
                ));
            }
            roles::validate(role).map_err(|e| err(pos, role, e.to_string()))?;
            let vpos = pos + colon + 1;
            let vtok = &token[colon + 1..];
            let value = parse_value_token(vtok).map_err(|why| err(vpos, vtok.trim(), why))?;
            let mut r = Resource::new(name, value);
            if role != DEFAULT_ROLE {
                r.reservations.push(Reservation::static_for(role));
            }
            out.add(&r);
        }
        Ok(out)
    }

    /// Parses a flag value: `file://<path>` reads the file first; then [`Resources::parse`].
    pub fn parse_flag(text: &str, default_role: &str) -> Result<Resources> {
        match text.strip_prefix("file://") {
            Some(path) => {
                let body = std::fs::read_to_string(path).map_err(|e| ApiError::File {
                    path: path.to_string(),
                    why: e.to_string(),
                })?;
                Resources::parse(&body, default_role)
            }
            None => Resources::parse(text, default_role),
        }
    }
}
