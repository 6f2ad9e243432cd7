//! Reading images from a local `--docker_registry` directory: image names, finding an image
//! (a `docker save` archive `<repo>:<tag>.tar` or an OCI layout directory `<repo>:<tag>`),
//! its layers (with store ids) and its config, and unpacking tarballs with the system `tar`.
//!
//! Errors here are the "why" of an [`Error::Provision`](crate::error::Error::Provision).

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::ImageConfig;

/// Where an image is in the registry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Source {
    /// A (possibly compressed) tarball: a `docker save` archive, or an OCI layout in a tar.
    Archive(PathBuf),
    /// A directory: an OCI layout, or an unpacked `docker save` archive.
    Dir(PathBuf),
}

/// An image as read from the registry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Image {
    /// Its layers, bottom to top.
    pub layers: Vec<Layer>,
    /// Its config.
    pub config: ImageConfig,
}

/// One layer of an [`Image`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layer {
    /// The store id (sanitized: a file name).
    pub id: String,
    /// The layer's tarball (possibly compressed).
    pub tar: PathBuf,
}

/// Normalizes an image name to `repo:tag` (`:latest` when there is no tag; a `repo@digest`
/// is kept as it is) and refuses names that could leave the registry directory.
pub(crate) fn normalize(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the image name is empty".into());
    }
    if name.starts_with('/') || name.contains('\0') || name.contains('\\') {
        return Err("an image name must be a relative 'repo[:tag]'".into());
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("an image name may not have empty, '.' or '..' components".into());
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        if name.ends_with(':') || name.ends_with('@') {
            return Err("the image tag is empty".into());
        }
        Ok(name.to_string())
    } else {
        Ok(format!("{name}:latest"))
    }
}

/// Finds `name` (normalized) in `registry`: `<name>.tar`, or a directory `<name>` holding an
/// OCI layout or an unpacked docker archive. `busybox:latest` and `library/busybox:latest`
/// stand for each other.
pub(crate) fn locate(registry: &Path, name: &str) -> Option<Source> {
    let mut names = vec![name.to_string()];
    match name.strip_prefix("library/") {
        Some(short) => names.push(short.to_string()),
        None if !name.contains('/') => names.push(format!("library/{name}")),
        None => {}
    }
    for n in &names {
        let tar = registry.join(format!("{n}.tar"));
        if tar.is_file() {
            return Some(Source::Archive(tar));
        }
        let dir = registry.join(n);
        if dir.join("index.json").is_file() || dir.join("manifest.json").is_file() {
            return Some(Source::Dir(dir));
        }
    }
    None
}

/// The image names the registry holds (for "not found" errors), sorted, at most 50.
pub(crate) fn list(registry: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().to_string();
            if path.is_dir() {
                if path.join("index.json").is_file() || path.join("manifest.json").is_file() {
                    out.push(rel);
                } else if depth < 4 {
                    walk(root, &path, depth + 1, out);
                }
            } else if let Some(n) = rel.strip_suffix(".tar") {
                out.push(n.to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(registry, registry, 0, &mut out);
    out.sort();
    if out.len() > 50 {
        let more = out.len() - 50;
        out.truncate(50);
        out.push(format!("... and {more} more"));
    }
    out
}

/// Reads the image in `dir` (an unpacked docker archive or an OCI layout).
pub(crate) fn read(dir: &Path, name: &str) -> Result<Image, String> {
    if dir.join("manifest.json").is_file() {
        read_docker(dir, name)
    } else if dir.join("index.json").is_file() {
        read_oci(dir, name)
    } else {
        Err("neither a docker archive (no manifest.json) nor an OCI layout (no index.json)".into())
    }
}

/// A `docker save` archive: `manifest.json` names the config and the layer tars.
fn read_docker(dir: &Path, name: &str) -> Result<Image, String> {
    let manifest = read_json(dir, "manifest.json")?;
    let entries = manifest
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("manifest.json is not a non-empty array")?;
    let tags = |e: &Value| -> Vec<String> {
        e.get("RepoTags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let same = |tag: &str| {
        normalize(tag).is_ok_and(|t| {
            t == name
                || t.strip_prefix("library/") == Some(name)
                || name.strip_prefix("library/") == Some(t.as_str())
        })
    };
    let entry = match entries.iter().find(|e| tags(e).iter().any(|t| same(t))) {
        Some(e) => e,
        None if entries.len() == 1 => &entries[0],
        None => {
            let all: Vec<String> = entries.iter().flat_map(tags).collect();
            return Err(format!(
                "manifest.json has {} images and none is tagged '{name}' (tags: {})",
                entries.len(),
                all.join(", ")
            ));
        }
    };
    let config_path = entry
        .get("Config")
        .and_then(Value::as_str)
        .ok_or("manifest.json: the entry has no \"Config\"")?;
    let config = read_json(dir, config_path)?;
    let (config, diff_ids) = parse_config(&config);
    let paths: Vec<&str> = entry
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or("manifest.json: the entry has no \"Layers\" array")?
        .iter()
        .map(|l| l.as_str().ok_or("manifest.json: a layer is not a string"))
        .collect::<Result<_, _>>()?;
    let mut layers = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        let tar = inside(dir, p)?;
        if !tar.is_file() {
            return Err(format!("layer '{p}' is missing from the archive"));
        }
        let id = if diff_ids.len() == paths.len() {
            layer_id(&diff_ids[i])?
        } else {
            // Docker's layer directories are content-derived 64-hex ids; anything else
            // (a hand-made archive) is named by the hash of its content, so two images with
            // a layer called `l0` never share a store entry by accident.
            let derived = match p.strip_suffix("/layer.tar") {
                Some(d) => d.rsplit('/').next().unwrap_or(d),
                None => p.rsplit('/').next().unwrap_or(p),
            };
            if is_hex64(derived) {
                derived.to_string()
            } else {
                sha256(&tar)?
            }
        };
        layers.push(Layer { id, tar });
    }
    Ok(Image { layers, config })
}

/// An OCI image layout: `index.json` -> (index ->)* manifest -> config and layer blobs.
fn read_oci(dir: &Path, name: &str) -> Result<Image, String> {
    let mut doc = read_json(dir, "index.json")?;
    let tag = name.rsplit(':').next().unwrap_or("latest");
    for _ in 0..5 {
        if doc.get("layers").is_some() {
            return oci_manifest(dir, &doc);
        }
        let manifests = doc
            .get("manifests")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or("the OCI index has no manifests")?;
        let pick = manifests
            .iter()
            .find(|m| {
                let r = m
                    .pointer("/annotations/org.opencontainers.image.ref.name")
                    .and_then(Value::as_str);
                r == Some(tag) || r == Some(name)
            })
            .or_else(|| manifests.iter().find(|m| platform_matches(m)))
            .unwrap_or(&manifests[0]);
        doc = read_json(dir, &blob_path(pick)?)?;
    }
    Err("the OCI index nests too deeply".into())
}

/// Whether a descriptor's `platform` is linux on this machine's architecture.
fn platform_matches(desc: &Value) -> bool {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        a => a,
    };
    desc.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
        && desc
            .pointer("/platform/architecture")
            .and_then(Value::as_str)
            == Some(arch)
}

/// An OCI image manifest's config and layers.
fn oci_manifest(dir: &Path, manifest: &Value) -> Result<Image, String> {
    let config = manifest
        .get("config")
        .ok_or("the OCI manifest has no config")?;
    let (config, _) = parse_config(&read_json(dir, &blob_path(config)?)?);
    let mut layers = Vec::new();
    for l in manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("the OCI manifest's layers are not an array")?
    {
        let digest = l
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("an OCI layer has no digest")?;
        let tar = inside(dir, &blob_path(l)?)?;
        if !tar.is_file() {
            return Err(format!("layer blob '{digest}' is missing"));
        }
        layers.push(Layer {
            id: layer_id(digest)?,
            tar,
        });
    }
    Ok(Image { layers, config })
}

/// `blobs/<alg>/<hex>` for a descriptor's digest.
fn blob_path(desc: &Value) -> Result<String, String> {
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or("a descriptor has no digest")?;
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("bad digest '{digest}'"))?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok(alg) || !ok(hex) {
        return Err(format!("bad digest '{digest}'"));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

/// A layer's store id from a digest or a name: `sha256:<hex>` -> `<hex>`, other algorithms
/// keep theirs (`sha512-<hex>`); the result is a plain file name.
pub(crate) fn layer_id(raw: &str) -> Result<String, String> {
    let id = match raw.split_once(':') {
        Some(("sha256", hex)) => hex.to_string(),
        Some((alg, hex)) => format!("{alg}-{hex}"),
        None => raw.to_string(),
    };
    let ok = !id.is_empty()
        && id.len() <= 160
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(id)
    } else {
        Err(format!("bad layer id '{raw}'"))
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// `rel` under `dir`, refusing absolute paths and `..`.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("path '{rel}' leaves the image"));
    }
    Ok(dir.join(p))
}

fn read_json(dir: &Path, rel: &str) -> Result<Value, String> {
    let path = inside(dir, rel)?;
    let text = fs::read(&path).map_err(|e| format!("cannot read '{rel}': {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("'{rel}' is not valid JSON: {e}"))
}

/// The `config` object of an image config JSON, and its `rootfs.diff_ids`.
pub(crate) fn parse_config(v: &Value) -> (ImageConfig, Vec<String>) {
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let nonempty = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let c = v.get("config");
    let field = |k: &str| c.and_then(|c| c.get(k));
    let env = strings(field("Env"))
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    let config = ImageConfig {
        env,
        entrypoint: strings(field("Entrypoint")),
        cmd: strings(field("Cmd")),
        working_dir: nonempty(field("WorkingDir")),
        user: nonempty(field("User")),
    };
    let diff_ids = strings(v.pointer("/rootfs/diff_ids"));
    (config, diff_ids)
}

/// The sha256 of a file, in hex (by the system `sha256sum`).
fn sha256(path: &Path) -> Result<String, String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(h) if out.status.success() && is_hex64(h) => Ok(h.to_string()),
        _ => Err(format!(
            "sha256sum '{}' failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Unpacks a tarball (plain, gzip, bzip2, xz or zstd, told by its magic bytes) into `into`
/// with the system `tar`, keeping numeric owners.
pub(crate) fn untar(archive: &Path, into: &Path) -> Result<(), String> {
    let mut magic = [0u8; 6];
    let n = fs::File::open(archive)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| format!("cannot read '{}': {e}", archive.display()))?;
    let magic = &magic[..n];
    let filter = if magic.starts_with(&[0x1f, 0x8b]) {
        Some("-z")
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("--zstd")
    } else if magic.starts_with(b"BZh") {
        Some("-j")
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("-J")
    } else {
        None
    };
    let mut cmd = Command::new("tar");
    cmd.arg("-x").arg("--numeric-owner");
    if let Some(f) = filter {
        cmd.arg(f);
    }
    let out = cmd
        .arg("-f")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cannot unpack '{}': {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
