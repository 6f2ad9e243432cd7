//! Pulling images from a Docker registry through the Registry HTTP API v2 (Mesos's "docker
//! registry puller"): `--docker_registry=http(s)://host[:port]`.
//!
//! The manifest is asked for in every form we read (Docker schema 2 and OCI manifests, and the
//! manifest lists and OCI indexes above them, from which the entry for linux on this machine's
//! architecture is taken). The config and the layers are blobs, downloaded concurrently and
//! checked against their digests as they arrive; a layer the store already has is not
//! downloaded at all. A registry that answers 401 is followed as Docker's client follows it:
//! `Bearer` (a token from the realm it names, asked for with the credentials of
//! `--docker_config` when there are some) or `Basic` (those credentials). A registry's error
//! comes back in its own words (`MANIFEST_UNKNOWN: manifest unknown`).
//!
//! Each pull runs on a runtime of its own (the provisioner is synchronous) and logs its
//! progress: the manifest, then each layer as it starts and ends, with sizes and times.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::http_client;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::image::{layer_id, parse_config, platform_matches, Image, Layer};

/// How long one response may take to start, and a body may stall.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most bytes a manifest or a config may take.
const MAX_DOCUMENT: usize = 4 << 20;

/// Manifest lists and indexes nest at most this deep.
const MAX_DEPTH: usize = 4;

/// The most layers downloaded at once.
const PARALLEL: usize = 4;

/// The media types asked for, best first.
const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json";

/// A registry: its base URL and the credentials `--docker_config` holds for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// `http://host:port` or `https://host:port` (no path).
    pub base: String,
    /// User and password for this registry, from `--docker_config`.
    pub credentials: Option<(String, String)>,
}

impl Remote {
    /// The registry at `url` (`http(s)://host[:port]`), with its credentials from
    /// `docker_config` (Docker's `config.json`: `{"auths": {"<host[:port]>": {"auth":
    /// base64("user:password")} or {"username": ..., "password": ...}}}`), inline JSON or a
    /// file (with or without `file://`).
    pub fn new(url: &str, docker_config: Option<&str>) -> Result<Remote, String> {
        let base = url.trim_end_matches('/').to_string();
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| format!("'{url}' is not an http:// or https:// URL"))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "'{url}' must be http(s)://host[:port], without a path"
            ));
        }
        let credentials = match docker_config {
            Some(c) => credentials_for(rest, &read_config(c)?)?,
            None => None,
        };
        Ok(Remote { base, credentials })
    }

    /// The host (and port) of the registry.
    fn authority(&self) -> &str {
        self.base.split_once("://").map_or("", |(_, a)| a)
    }

    /// Docker Hub keeps official images under `library/`.
    fn repository(&self, repo: &str) -> String {
        let hub = ["registry-1.docker.io", "index.docker.io", "docker.io"]
            .iter()
            .any(|h| self.authority().starts_with(h));
        if hub && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_string()
        }
    }
}

fn read_config(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let json = if t.starts_with('{') {
        t.to_string()
    } else {
        let path = t.strip_prefix("file://").unwrap_or(t);
        std::fs::read_to_string(path)
            .map_err(|e| format!("Flag '--docker_config': cannot read '{path}': {e}"))?
    };
    serde_json::from_str(&json).map_err(|e| format!("Flag '--docker_config': not JSON: {e}"))
}

/// The credentials a Docker `config.json` holds for `authority` (`host[:port]`; an entry may
/// be written as a URL).
fn credentials_for(authority: &str, config: &Value) -> Result<Option<(String, String)>, String> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    for (key, entry) in auths {
        let host = key
            .split_once("://")
            .map_or(key.as_str(), |(_, r)| r)
            .split('/')
            .next()
            .unwrap_or_default();
        if host != authority {
            continue;
        }
        if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
            let raw = mesos_api::serde_util::base64_decode(auth).map_err(|_| {
                format!("Flag '--docker_config': the auth of '{key}' is not base64")
            })?;
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (user, pass) = text.split_once(':').ok_or_else(|| {
                format!("Flag '--docker_config': the auth of '{key}' is not 'user:password'")
            })?;
            return Ok(Some((user.to_string(), pass.to_string())));
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            return Ok(Some((u.to_string(), p.to_string())));
        }
    }
    Ok(None)
}

/// `repo:tag` or `repo@digest` split into the repository and the reference.
fn split_reference(image: &str) -> (&str, &str) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, digest);
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// Pulls every blob of `image` into `into` (nothing is unpacked) and returns the bytes of its
/// layers: what `skopeo copy docker://... dir:...` does, for the benchmark beside it.
pub fn pull_blobs(remote: &Remote, image: &str, into: &Path) -> Result<u64, String> {
    let got = pull(remote, image, into, &|_| false)?;
    Ok(got
        .layers
        .iter()
        .filter_map(|l| std::fs::metadata(&l.tar).ok())
        .map(|m| m.len())
        .sum())
}

/// Pulls `image` (`repo:tag` or `repo@digest`) from `remote` into `into` (blobs under
/// `into/blobs/sha256/`); layers for which `have(id)` is true are not downloaded (their `tar`
/// is not there). Errors say what the registry said.
pub(crate) fn pull(
    remote: &Remote,
    image: &str,
    into: &Path,
    have: &dyn Fn(&str) -> bool,
) -> Result<Image, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the registry client: {e}"))?;
    rt.block_on(pull_async(remote, image, into, have))
}

async fn pull_async(
    remote: &Remote,
    image: &str,
    into: &Path,
    have: &dyn Fn(&str) -> bool,
) -> Result<Image, String> {
    let started = Instant::now();
    let (repo, reference) = split_reference(image);
    let repo = remote.repository(repo);
    let mut client = Client {
        remote: remote.clone(),
        authorization: None,
    };
    // The manifest, through lists and indexes.
    let mut path = format!("/v2/{repo}/manifests/{reference}");
    let mut want_digest = reference
        .starts_with("sha256:")
        .then(|| reference.to_string());
    let mut manifest = None;
    for _ in 0..MAX_DEPTH {
        let (body, media) = client.document(&path, ACCEPT).await?;
        if let Some(d) = &want_digest {
            check_digest(d, &body)?;
        }
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the manifest of '{image}' is not JSON: {e}"))?;
        let media = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(media);
        if media.contains("prettyjws") || doc.get("schemaVersion") == Some(&Value::from(1)) {
            return Err(format!(
                "'{image}' has a schema 1 manifest, which is not supported (push it again \
                 with a current client)"
            ));
        }
        if let Some(list) = doc.get("manifests").and_then(Value::as_array) {
            let pick = list.iter().find(|m| platform_matches(m)).ok_or_else(|| {
                format!(
                    "'{image}' has no manifest for linux/{} (it has {})",
                    std::env::consts::ARCH,
                    list.iter()
                        .filter_map(|m| {
                            let os = m.pointer("/platform/os")?.as_str()?;
                            let arch = m.pointer("/platform/architecture")?.as_str()?;
                            Some(format!("{os}/{arch}"))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let digest = pick
                .get("digest")
                .and_then(Value::as_str)
                .ok_or("a manifest list entry has no digest")?;
            path = format!("/v2/{repo}/manifests/{digest}");
            want_digest = Some(digest.to_string());
            continue;
        }
        manifest = Some(doc);
        break;
    }
    let manifest = manifest.ok_or(format!("the manifest lists of '{image}' nest too deeply"))?;
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or("the manifest has no config")?
        .to_string();
    let (config, _) = {
        let path = format!("/v2/{repo}/blobs/{config_digest}");
        let (body, _) = client.document(&path, "*/*").await?;
        check_digest(&config_digest, &body)?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the config of '{image}' is not JSON: {e}"))?;
        parse_config(&v)
    };
    let descriptors = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("the manifest's layers are not an array")?;
    let blobs = into.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)
        .map_err(|e| format!("cannot create '{}': {e}", blobs.display()))?;
    let mut layers = Vec::new();
    let mut todo = Vec::new();
    for d in descriptors {
        let digest = d
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("a layer has no digest")?
            .to_string();
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| format!("bad digest '{digest}'"))?;
        if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("layer digest '{digest}' is not a sha256 digest"));
        }
        let id = layer_id(&digest).map_err(|e| e.to_string())?;
        let tar = blobs.join(hex);
        if !have(&id)
            && !todo
                .iter()
                .any(|(dg, _, _): &(String, PathBuf, u64)| *dg == digest)
        {
            let size = d.get("size").and_then(Value::as_u64).unwrap_or(0);
            todo.push((digest.clone(), tar.clone(), size));
        }
        layers.push(Layer { id, tar });
    }
    tracing::info!(
        image,
        registry = %remote.base,
        layers = layers.len(),
        download = todo.len(),
        "pulling: {} of {} layers to download",
        todo.len(),
        layers.len()
    );
    let auth = client.authorization.clone();
    let mut set = tokio::task::JoinSet::new();
    let mut queue = todo.into_iter();
    let mut bytes = 0u64;
    loop {
        while set.len() < PARALLEL {
            let Some((digest, tar, size)) = queue.next() else {
                break;
            };
            let c = Client {
                remote: remote.clone(),
                authorization: auth.clone(),
            };
            let path = format!("/v2/{repo}/blobs/{digest}");
            set.spawn(async move { c.blob(&path, &digest, &tar, size).await });
        }
        match set.join_next().await {
            None => break,
            Some(Ok(Ok(n))) => bytes += n,
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(format!("a layer download failed: {e}")),
        }
    }
    tracing::info!(
        image,
        registry = %remote.base,
        bytes,
        secs = started.elapsed().as_secs_f64(),
        "pulled"
    );
    Ok(Image { layers, config })
}

fn check_digest(digest: &str, body: &[u8]) -> Result<(), String> {
    let got = format!("sha256:{}", hex(&Sha256::digest(body)));
    if got != digest {
        return Err(format!("digest mismatch: expected {digest}, got {got}"));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One registry conversation: the authorization it earned so far.
struct Client {
    remote: Remote,
    /// The `Authorization` header value that worked (a bearer token, or basic credentials).
    authorization: Option<String>,
}

impl Client {
    /// GETs `path`, answering one 401 challenge; redirects (to blob storage) are followed,
    /// without the registry's authorization when they leave it.
    async fn get(
        &mut self,
        path: &str,
        accept: &str,
    ) -> Result<(http_client::Head, http_client::Body), String> {
        let mut challenged = false;
        let mut target = (self.remote.base.clone(), path.to_string());
        let mut redirects = 0;
        loop {
            let same_host = target.0 == self.remote.base;
            let mut headers = vec![("Accept", accept), ("User-Agent", "mesos-rs")];
            let auth = self.authorization.clone();
            if let (Some(a), true) = (&auth, same_host) {
                headers.push(("Authorization", a.as_str()));
            }
            let sent = http_client::stream(&target.0, "GET", &target.1, &headers, b"");
            let (head, body) = tokio::time::timeout(TIMEOUT, sent)
                .await
                .map_err(|_| format!("{}{}: no answer within {TIMEOUT:?}", target.0, target.1))?
                .map_err(|e| format!("{}{}: {e}", target.0, target.1))?;
            match head.status {
                401 if same_host && !challenged => {
                    challenged = true;
                    let challenge = head.header("www-authenticate").unwrap_or("").to_string();
                    self.authorization = Some(self.answer(&challenge).await?);
                }
                301 | 302 | 303 | 307 | 308 if redirects < 5 => {
                    redirects += 1;
                    let location = head
                        .header("location")
                        .ok_or("a redirect without a Location")?
                        .to_string();
                    target = split_url(&location).unwrap_or((target.0, location));
                }
                200..=299 => return Ok((head, body)),
                _ => {
                    let mut body = body;
                    let text = tokio::time::timeout(TIMEOUT, body.read_all())
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    return Err(registry_error(head.status, &head.reason, &text));
                }
            }
        }
    }

    /// A manifest or config: the body (bounded) and its content type.
    async fn document(&mut self, path: &str, accept: &str) -> Result<(Vec<u8>, String), String> {
        let (head, mut body) = self.get(path, accept).await?;
        let media = head.header("content-type").unwrap_or("").to_string();
        let mut out = Vec::new();
        while let Some(piece) = tokio::time::timeout(TIMEOUT, body.next_piece())
            .await
            .map_err(|_| format!("{path}: the body stalled"))?
            .map_err(|e| format!("{path}: {e}"))?
        {
            out.extend_from_slice(&piece);
            if out.len() > MAX_DOCUMENT {
                return Err(format!("{path}: larger than {MAX_DOCUMENT} bytes"));
            }
        }
        Ok((out, media))
    }

    /// A layer into `tar`, checked against `digest` as it arrives; its size.
    async fn blob(
        mut self,
        path: &str,
        digest: &str,
        tar: &Path,
        size: u64,
    ) -> Result<u64, String> {
        let started = Instant::now();
        tracing::info!(layer = digest, bytes = size, "pulling a layer");
        let (_, mut body) = self.get(path, "*/*").await?;
        let part = tar.with_extension("partial");
        let mut file =
            File::create(&part).map_err(|e| format!("cannot create '{}': {e}", part.display()))?;
        let mut hash = Sha256::new();
        let mut n = 0u64;
        while let Some(piece) = tokio::time::timeout(TIMEOUT, body.next_piece())
            .await
            .map_err(|_| format!("layer {digest}: the download stalled"))?
            .map_err(|e| format!("layer {digest}: {e}"))?
        {
            hash.update(&piece);
            n += piece.len() as u64;
            file.write_all(&piece)
                .map_err(|e| format!("cannot write '{}': {e}", part.display()))?;
        }
        let got = format!("sha256:{}", hex(&hash.finalize()));
        if got != digest {
            let _ = std::fs::remove_file(&part);
            return Err(format!("layer {digest}: digest mismatch (got {got})"));
        }
        std::fs::rename(&part, tar)
            .map_err(|e| format!("cannot move '{}': {e}", part.display()))?;
        tracing::info!(
            layer = digest,
            bytes = n,
            secs = started.elapsed().as_secs_f64(),
            "pulled a layer"
        );
        Ok(n)
    }

    /// The `Authorization` value answering a 401's `WWW-Authenticate` challenge.
    async fn answer(&mut self, challenge: &str) -> Result<String, String> {
        let basic = self.remote.credentials.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                mesos_api::serde_util::base64_encode(format!("{u}:{p}").as_bytes())
            )
        });
        let (scheme, params) = challenge
            .trim()
            .split_once(' ')
            .unwrap_or((challenge.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return basic.ok_or_else(|| {
                format!(
                    "{} asks for credentials (HTTP Basic): give them in --docker_config",
                    self.remote.base
                )
            });
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "{} answered 401 with an unknown challenge '{challenge}'",
                self.remote.base
            ));
        }
        let params = challenge_params(params);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or("a Bearer challenge without a realm")?;
        let mut query = Vec::new();
        for key in ["service", "scope"] {
            if let Some((_, v)) = params.iter().find(|(k, _)| k == key) {
                query.push(format!("{key}={}", query_encode(v)));
            }
        }
        let (base, path) =
            split_url(&realm).ok_or(format!("the token realm '{realm}' is not a URL"))?;
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = if query.is_empty() {
            path
        } else {
            format!("{path}{sep}{}", query.join("&"))
        };
        let mut headers = vec![("Accept", "application/json")];
        if let Some(b) = &basic {
            headers.push(("Authorization", b.as_str()));
        }
        let (head, mut body) = tokio::time::timeout(
            TIMEOUT,
            http_client::stream(&base, "GET", &path, &headers, b""),
        )
        .await
        .map_err(|_| format!("{realm}: no answer within {TIMEOUT:?}"))?
        .map_err(|e| format!("{realm}: {e}"))?;
        let text = tokio::time::timeout(TIMEOUT, body.read_all())
            .await
            .map_err(|_| format!("{realm}: the body stalled"))?
            .map_err(|e| format!("{realm}: {e}"))?;
        if !(200..300).contains(&head.status) {
            return Err(format!(
                "the token service refused: {}",
                registry_error(head.status, &head.reason, &text)
            ));
        }
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("the token service's answer is not JSON: {e}"))?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .ok_or("the token service's answer has no token")?;
        Ok(format!("Bearer {token}"))
    }
}

/// An absolute URL as `scheme://host[:port]` and its path (`/` when it has none); `None` for a
/// relative one.
fn split_url(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    Some((format!("{scheme}://{host}"), path.to_string()))
}

/// `key="value", key=value` pairs of a challenge.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((key, value.to_string()));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn query_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A registry's error in its words: `CODE: message` from its JSON `errors`, else the status.
fn registry_error(status: u16, reason: &str, body: &[u8]) -> String {
    let errors = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let list = v.get("errors")?.as_array()?.clone();
        let parts: Vec<String> = list
            .iter()
            .map(|e| {
                let code = e.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN");
                let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                format!("{code}: {msg}")
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    });
    match errors {
        Some(e) => format!("the registry answered {status} {reason}: {e}"),
        None => format!("the registry answered {status} {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_base_and_path() {
        assert_eq!(
            split_url("https://auth.example/token?x=1"),
            Some(("https://auth.example".into(), "/token?x=1".into()))
        );
        assert_eq!(
            split_url("http://h:5000"),
            Some(("http://h:5000".into(), "/".into()))
        );
        assert_eq!(split_url("/v2/blobs/x"), None);
    }

    #[test]
    fn references_split_into_repository_and_tag_or_digest() {
        assert_eq!(split_reference("a/b:1.0"), ("a/b", "1.0"));
        assert_eq!(
            split_reference("host:5000/a/b"),
            ("host:5000/a/b", "latest")
        );
        assert_eq!(split_reference("a@sha256:00"), ("a", "sha256:00"));
    }

    #[test]
    fn challenges_and_docker_configs_are_read() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            p,
            vec![
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".to_string(), "registry.example".to_string()),
                ("scope".to_string(), "repository:a/b:pull".to_string()),
            ]
        );
        let config = serde_json::json!({"auths": {
            "https://127.0.0.1:5000": {"auth": mesos_api::serde_util::base64_encode(b"ops:s3cret")},
            "other:1": {"username": "u", "password": "p"}}});
        let r = Remote::new("http://127.0.0.1:5000", Some(&config.to_string())).unwrap();
        assert_eq!(r.credentials, Some(("ops".into(), "s3cret".into())));
        let r = Remote::new("http://other:1/", Some(&config.to_string())).unwrap();
        assert_eq!(r.credentials, Some(("u".into(), "p".into())));
        assert!(Remote::new("ftp://x", None).is_err());
        assert!(Remote::new("http://x/path", None).is_err());
    }

    #[test]
    fn registry_errors_are_given_in_its_words() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(
            registry_error(404, "Not Found", body),
            "the registry answered 404 Not Found: MANIFEST_UNKNOWN: manifest unknown"
        );
    }
}
