//! HTTP authentication by realm, as libprocess's `http::authentication`: a route declared in a
//! realm ([`Context::route_in`](crate::Context::route_in)) is answered `401` unless the
//! runtime's [`Authenticator`] for that realm accepts the request, and the principal it proves
//! reaches the route as [`HttpRequest::principal`](crate::HttpRequest). A realm without an
//! authenticator is open (authentication is off for it). The runtime's own endpoints
//! (`/metrics/snapshot`) are in the realm set by
//! [`Runtime::set_builtin_realm`](crate::Runtime::set_builtin_realm), none by default.

use std::collections::HashMap;

use base64::Engine;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};

use crate::{HttpRequest, HttpResponse};

/// Decides who sent a request in one realm.
pub trait Authenticator: Send + Sync {
    /// The principal the request proves, or the response (a `401`) to answer it with.
    fn authenticate(&self, req: &HttpRequest) -> Result<String, HttpResponse>;
}

/// HTTP Basic authentication (RFC 7617) against a table of principals and secrets: Mesos's
/// `basic` HTTP authenticator.
pub struct BasicAuthenticator {
    realm: String,
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for BasicAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("BasicAuthenticator")
            .field("realm", &self.realm)
            .field("principals", &self.secrets.len())
            .finish()
    }
}

impl BasicAuthenticator {
    /// An authenticator for `realm` that knows these (principal, secret) pairs.
    pub fn new(
        realm: impl Into<String>,
        credentials: impl IntoIterator<Item = (String, String)>,
    ) -> BasicAuthenticator {
        BasicAuthenticator {
            realm: realm.into(),
            secrets: credentials.into_iter().collect(),
        }
    }

    fn unauthorized(&self, why: &str) -> HttpResponse {
        let mut r = HttpResponse::text(401, why);
        let challenge = format!("Basic realm=\"{}\"", self.realm);
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers.push((WWW_AUTHENTICATE, v));
        }
        r
    }
}

impl Authenticator for BasicAuthenticator {
    fn authenticate(&self, req: &HttpRequest) -> Result<String, HttpResponse> {
        let Some(h) = req.headers.get(AUTHORIZATION) else {
            return Err(self.unauthorized("Missing credentials"));
        };
        let h = h.to_str().unwrap_or("");
        let (scheme, encoded) = h.trim().split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(self.unauthorized("Expected 'Basic' credentials"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((principal, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(self.unauthorized("Malformed 'Basic' credentials"));
        };
        match self.secrets.get(principal) {
            Some(s) if same(s.as_bytes(), secret.as_bytes()) => Ok(principal.to_string()),
            _ => Err(self.unauthorized("Invalid credentials")),
        }
    }
}

/// Makes each realm of `realms` authenticate with HTTP Basic against `credentials` (principal,
/// secret) on `rt`; with `builtin`, the runtime's own endpoints join that realm.
pub fn install_basic(
    rt: &crate::Runtime,
    realms: &[&str],
    credentials: &[(String, String)],
    builtin: Option<&str>,
) {
    for realm in realms {
        let a = BasicAuthenticator::new(*realm, credentials.iter().cloned());
        rt.set_authenticator(realm, Some(std::sync::Arc::new(a)));
    }
    if let Some(b) = builtin {
        rt.set_builtin_realm(Some(b.to_string()));
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> HttpRequest {
        let mut headers = hyper::HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        HttpRequest {
            method: hyper::Method::GET,
            path: "/x".into(),
            route: "x".into(),
            query: String::new(),
            headers,
            body: bytes::Bytes::new(),
            body_stream: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            principal: None,
        }
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn basic_accepts_a_known_principal_with_its_secret_only() {
        let a = BasicAuthenticator::new("r", [("ops".to_string(), "s3cret".to_string())]);
        assert_eq!(
            a.authenticate(&request(Some(&basic("ops:s3cret"))))
                .ok()
                .as_deref(),
            Some("ops")
        );
        for bad in [
            None,
            Some(basic("ops:wrong")),
            Some(basic("ops:s3cret2")),
            Some(basic("eve:s3cret")),
            Some(basic("ops")),
            Some("Basic !!!".to_string()),
            Some("Bearer abc".to_string()),
        ] {
            let r = a.authenticate(&request(bad.as_deref())).unwrap_err();
            assert_eq!(r.status, 401, "{bad:?}");
            let challenge = r.headers.iter().find(|(k, _)| k == WWW_AUTHENTICATE);
            assert_eq!(challenge.unwrap().1, "Basic realm=\"r\"", "{bad:?}");
        }
    }

    #[test]
    fn a_secret_may_contain_colons() {
        let a = BasicAuthenticator::new("r", [("u".to_string(), "a:b".to_string())]);
        assert_eq!(
            a.authenticate(&request(Some(&basic("u:a:b"))))
                .ok()
                .as_deref(),
            Some("u")
        );
    }
}
