//! Credentials and HTTP authentication realms, as Mesos names them.
//!
//! A credentials file (`--credentials` on the master, `--http_credentials` on the agent) is
//! Mesos's JSON, `{"credentials": [{"principal": "ops", "secret": "..."}]}`, or its older text
//! form, one `principal secret` pair per line. The flag names a path, with or without
//! `file://`.

use std::path::Path;

use serde::Deserialize;

/// The agent's realm for the executor API (executors prove themselves with their token).
pub const AGENT_EXECUTOR: &str = "mesos-agent-executor";

/// The master's realm for read-only endpoints (`/state`, `/metrics/snapshot`, ...).
pub const MASTER_READONLY: &str = "mesos-master-readonly";
/// The master's realm for endpoints that change things (`/api/v1`, `/teardown`, `/quota`, ...).
pub const MASTER_READWRITE: &str = "mesos-master-readwrite";
/// The master's realm for the v1 scheduler API.
pub const MASTER_SCHEDULER: &str = "mesos-master-scheduler";
/// The agent's realm for read-only endpoints (`/state`, `/files/*`, ...).
pub const AGENT_READONLY: &str = "mesos-agent-readonly";
/// The agent's realm for endpoints that change things (`/api/v1`).
pub const AGENT_READWRITE: &str = "mesos-agent-readwrite";

/// One principal and its secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credential {
    /// Who.
    pub principal: String,
    /// The shared secret.
    #[serde(default)]
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "Credential({})", self.principal)
    }
}

#[derive(Deserialize)]
struct CredentialsJson {
    credentials: Vec<Credential>,
}

/// Reads a credentials file named as a flag names it (`/path` or `file:///path`); the error
/// says which file and what is wrong with it.
pub fn read_credentials(flag: &str) -> Result<Vec<Credential>, String> {
    let path = flag.strip_prefix("file://").unwrap_or(flag);
    let text = std::fs::read_to_string(Path::new(path))
        .map_err(|e| format!("cannot read credentials file '{path}': {e}"))?;
    parse_credentials(&text).map_err(|e| format!("credentials file '{path}': {e}"))
}

/// Parses credentials: Mesos's JSON form, or text lines of `principal secret`.
pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, String> {
    let trimmed = text.trim_start();
    let creds = if trimmed.starts_with('{') {
        serde_json::from_str::<CredentialsJson>(trimmed)
            .map_err(|e| format!("invalid JSON: {e}"))?
            .credentials
    } else {
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            let Some(principal) = words.next() else {
                continue;
            };
            let (Some(secret), None) = (words.next(), words.next()) else {
                return Err(format!("line {}: expected 'principal secret'", i + 1));
            };
            v.push(Credential {
                principal: principal.to_string(),
                secret: secret.to_string(),
            });
        }
        v
    };
    if let Some(c) = creds.iter().find(|c| c.principal.is_empty()) {
        return Err(format!("a credential has an empty principal: {c:?}"));
    }
    Ok(creds)
}

/// The one SASL mechanism of the binary transport's authentication (Mesos's default
/// authenticator): the secret never travels, only an HMAC of the master's challenge.
pub const CRAM_MD5: &str = "CRAM-MD5";

/// A CRAM-MD5 response (RFC 2195): `principal`, a space, and the lowercase hex HMAC-MD5 of the
/// challenge keyed with the secret.
pub fn cram_md5_response(principal: &str, secret: &str, challenge: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(challenge);
    let digest = mac.finalize().into_bytes();
    let mut out = format!("{principal} ").into_bytes();
    for b in digest {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out
}

/// The principal a CRAM-MD5 `response` to `challenge` proves against `credentials`, if it
/// proves one.
pub fn cram_md5_check(
    credentials: &[Credential],
    challenge: &[u8],
    response: &[u8],
) -> Option<String> {
    let text = std::str::from_utf8(response).ok()?;
    let (principal, _) = text.split_once(' ')?;
    let c = credentials.iter().find(|c| c.principal == principal)?;
    let want = cram_md5_response(&c.principal, &c.secret, challenge);
    // Compared in time that depends only on the lengths.
    let same = want.len() == response.len()
        && want
            .iter()
            .zip(response)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then(|| c.principal.clone())
}

/// A JSON Web Token signed with HMAC-SHA256 (`HS256`) over `claims`: what an agent with
/// `--authenticate_http_executors` gives each executor (Mesos's executor secret).
pub fn jwt_sign(key: &[u8], claims: &serde_json::Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    let signing = format!("{head}.{body}");
    format!("{signing}.{}", b64.encode(hs256(key, signing.as_bytes())))
}

/// The claims of `token` if it is an `HS256` JWT signed with `key`.
pub fn jwt_verify(key: &[u8], token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signing, sig) = token.rsplit_once('.')?;
    let (head, body) = signing.split_once('.')?;
    let header: serde_json::Value = serde_json::from_slice(&b64.decode(head).ok()?).ok()?;
    if header["alg"] != "HS256" {
        return None;
    }
    let want = hs256(key, signing.as_bytes());
    let got = b64.decode(sig).ok()?;
    let same = want.len() == got.len()
        && want.iter().zip(&got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return None;
    }
    serde_json::from_slice(&b64.decode(body).ok()?).ok()
}

fn hs256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Reads one credential (`--credential` of the agent, `mesos-execute`'s file): Mesos's JSON
/// `{"principal": .., "secret": ..}` or a `principal secret` line, from a path with or without
/// `file://`.
pub fn read_credential(flag: &str) -> Result<Credential, String> {
    let path = flag.strip_prefix("file://").unwrap_or(flag);
    let text = std::fs::read_to_string(Path::new(path))
        .map_err(|e| format!("cannot read credential file '{path}': {e}"))?;
    let t = text.trim_start();
    let c = if t.starts_with('{') {
        serde_json::from_str::<Credential>(t)
            .map_err(|e| format!("credential file '{path}': invalid JSON: {e}"))?
    } else {
        let mut all =
            parse_credentials(&text).map_err(|e| format!("credential file '{path}': {e}"))?;
        if all.len() != 1 {
            return Err(format!(
                "credential file '{path}': expected one 'principal secret' line, found {}",
                all.len()
            ));
        }
        all.remove(0)
    };
    if c.principal.is_empty() {
        return Err(format!("credential file '{path}': empty principal"));
    }
    Ok(c)
}

/// Checks `--http_authenticators` (and the like): Mesos's built-in `basic` is the one
/// authenticator there is (Mesos loads others as modules, which we do not).
pub fn check_authenticators(flag: &str, v: &str) -> Result<(), String> {
    match v.split(',').map(str::trim).find(|a| *a != "basic") {
        None => Ok(()),
        Some(other) => Err(format!(
            "Flag '--{flag}': unknown HTTP authenticator '{other}' (only 'basic' is built in; modules are not supported)"
        )),
    }
}

/// The credentials HTTP authentication needs: those of `flag_value` (a file) if given, none
/// when no realm authenticates, and an error naming `flag` when one does but no file is given.
pub fn credentials_for(
    flag: &str,
    flag_value: Option<&str>,
    needed_by: Option<&str>,
) -> Result<Vec<Credential>, String> {
    match (flag_value, needed_by) {
        (Some(v), _) => read_credentials(v).map_err(|e| format!("Flag '--{flag}': {e}")),
        (None, Some(by)) => Err(format!(
            "--{by} needs credentials: give them with --{flag}=<file> (no credentials for the 'basic' HTTP authenticator)"
        )),
        (None, None) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_matches_rfc_2195_and_proves_only_the_right_secret() {
        // RFC 2195's example.
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        let r = cram_md5_response("tim", "tanstaaftanstaaf", challenge);
        assert_eq!(r, b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec());
        let creds = vec![Credential {
            principal: "tim".into(),
            secret: "tanstaaftanstaaf".into(),
        }];
        assert_eq!(
            cram_md5_check(&creds, challenge, &r).as_deref(),
            Some("tim")
        );
        let wrong = cram_md5_response("tim", "guess", challenge);
        assert_eq!(cram_md5_check(&creds, challenge, &wrong), None);
        let replayed = cram_md5_response("tim", "tanstaaftanstaaf", b"<another@challenge>");
        assert_eq!(cram_md5_check(&creds, challenge, &replayed), None);
        assert_eq!(cram_md5_check(&creds, challenge, b"nobody 00"), None);
        assert_eq!(cram_md5_check(&creds, challenge, &[0xff, 0xfe]), None);
    }

    #[test]
    fn a_jwt_verifies_only_with_its_key_and_unchanged() {
        let claims = serde_json::json!({"fid": "F", "eid": "E", "cid": "C"});
        let t = jwt_sign(b"k3y", &claims);
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(jwt_verify(b"k3y", &t), Some(claims));
        assert_eq!(jwt_verify(b"other", &t), None);
        // Another executor's claims under the same signature.
        let (_, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        use base64::Engine;
        let forged_body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"fid":"F","eid":"X","cid":"C"}"#);
        let head = t.split('.').next().unwrap();
        assert_eq!(
            jwt_verify(b"k3y", &format!("{head}.{forged_body}.{sig}")),
            None
        );
        // alg none is not a signature.
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert_eq!(jwt_verify(b"k3y", &format!("{none}.{forged_body}.")), None);
        assert_eq!(jwt_verify(b"k3y", "garbage"), None);
    }

    #[test]
    fn both_forms_parse_and_bad_ones_say_why() {
        let j = parse_credentials(
            r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b","secret":"y"}]}"#,
        )
        .unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!((j[1].principal.as_str(), j[1].secret.as_str()), ("b", "y"));
        let t = parse_credentials("a x\n\n  b   y\n").unwrap();
        assert_eq!(t, j);
        assert!(parse_credentials("a x extra")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse_credentials("{\"credentials\": 3}")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(parse_credentials(r#"{"credentials":[{"principal":""}]}"#).is_err());
        assert!(!format!("{:?}", j[0]).contains('x'));
    }
}
