//! Reading images from a local `--docker_registry` directory: image names, finding an image
//! (a `docker save` archive `<repo>:<tag>.tar` or an OCI layout directory `<repo>:<tag>`),
//! its layers (with store ids) and its config, and unpacking tarballs with the system `tar`.
//!
//! Errors here ([`ImageError`]) are the "why" of an [`Error::Provision`].

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::ImageConfig;
use crate::error::Error;

/// Why an image could not be named, found or read; shown as the "why" of an
/// [`Error::Provision`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImageError {
    /// The name is empty.
    #[error("the image name is empty")]
    EmptyName,
    /// The name is absolute or holds a NUL or a backslash.
    #[error("an image name must be a relative 'repo[:tag]'")]
    NotRelative,
    /// The name has an empty, `.` or `..` component.
    #[error("an image name may not have empty, '.' or '..' components")]
    BadComponent,
    /// The name ends in `:` or `@`.
    #[error("the image tag is empty")]
    EmptyTag,
    /// No `--docker_registry` to read images from.
    #[error(
        "no --docker_registry is set: images are pulled from a registry \
         (--docker_registry=http(s)://host:port) or read from a local directory of \
         `repo:tag.tar` archives or OCI layouts (--docker_registry=<dir>)"
    )]
    NoRegistry,
    /// The registry holds no such image.
    #[error(
        "not found in --docker_registry '{}' (looked for '{image}.tar' and an OCI layout \
         '{image}/'); it holds: {holds}",
        registry.display()
    )]
    NotFound {
        /// The registry directory.
        registry: PathBuf,
        /// The normalized name.
        image: String,
        /// What the registry holds (see [`list`]), or `nothing`.
        holds: String,
    },
    /// The directory is neither image layout.
    #[error("neither a docker archive (no manifest.json) nor an OCI layout (no index.json)")]
    UnknownLayout,
    /// A manifest, index or descriptor lacks a part it must have (which, in words).
    #[error("{0}")]
    Malformed(&'static str),
    /// A `docker save` archive of several images has none of this name.
    #[error("manifest.json has {count} images and none is tagged '{name}' (tags: {tags})")]
    NotTagged {
        /// How many images the archive holds.
        count: usize,
        /// The name looked for.
        name: String,
        /// The tags it holds, comma separated.
        tags: String,
    },
    /// A layer the manifest names is not in the archive.
    #[error("layer '{0}' is missing from the archive")]
    MissingLayer(String),
    /// A layer blob the OCI manifest names is not in the layout.
    #[error("layer blob '{0}' is missing")]
    MissingBlob(String),
    /// OCI indexes nest more than five deep.
    #[error("the OCI index nests too deeply")]
    TooDeep,
    /// A digest is not `<alg>:<hex>`.
    #[error("bad digest '{0}'")]
    BadDigest(String),
    /// A digest or name does not make a layer id (a plain file name).
    #[error("bad layer id '{0}'")]
    BadLayerId(String),
    /// A path in the image is absolute or climbs out with `..`.
    #[error("path '{0}' leaves the image")]
    Escapes(String),
    /// A file of the image could not be read.
    #[error("cannot read '{path}': {source}")]
    Read {
        /// The file (as the image names it, or the archive's path).
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// A JSON document of the image does not parse.
    #[error("'{path}' is not valid JSON: {source}")]
    Json {
        /// The document, as the image names it.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A helper program (`tar`, `sha256sum`) could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// `sha256sum` failed.
    #[error("sha256sum '{}' failed: {stderr}", path.display())]
    Sha256 {
        /// The file hashed.
        path: PathBuf,
        /// What it printed on stderr.
        stderr: String,
    },
    /// `tar` could not unpack an archive.
    #[error("cannot unpack '{}': {stderr}", archive.display())]
    Unpack {
        /// The archive.
        archive: PathBuf,
        /// What tar printed on stderr.
        stderr: String,
    },
}

impl ImageError {
    /// The containerizer's error: provisioning `image` failed for this reason.
    pub(crate) fn provisioning(self, image: &str) -> Error {
        Error::Provision {
            image: image.to_string(),
            why: self.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, ImageError>;

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
pub(crate) fn normalize(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ImageError::EmptyName);
    }
    if name.starts_with('/') || name.contains('\0') || name.contains('\\') {
        return Err(ImageError::NotRelative);
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(ImageError::BadComponent);
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        if name.ends_with(':') || name.ends_with('@') {
            return Err(ImageError::EmptyTag);
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
pub(crate) fn read(dir: &Path, name: &str) -> Result<Image> {
    if dir.join("manifest.json").is_file() {
        read_docker(dir, name)
    } else if dir.join("index.json").is_file() {
        read_oci(dir, name)
    } else {
        Err(ImageError::UnknownLayout)
    }
}

/// A `docker save` archive: `manifest.json` names the config and the layer tars.
fn read_docker(dir: &Path, name: &str) -> Result<Image> {
    let manifest = read_json(dir, "manifest.json")?;
    let entries = manifest
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or(ImageError::Malformed(
            "manifest.json is not a non-empty array",
        ))?;
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
            return Err(ImageError::NotTagged {
                count: entries.len(),
                name: name.to_string(),
                tags: all.join(", "),
            });
        }
    };
    let config_path = entry
        .get("Config")
        .and_then(Value::as_str)
        .ok_or(ImageError::Malformed(
            "manifest.json: the entry has no \"Config\"",
        ))?;
    let config = read_json(dir, config_path)?;
    let (config, diff_ids) = parse_config(&config);
    let paths: Vec<&str> = entry
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or(ImageError::Malformed(
            "manifest.json: the entry has no \"Layers\" array",
        ))?
        .iter()
        .map(|l| {
            l.as_str().ok_or(ImageError::Malformed(
                "manifest.json: a layer is not a string",
            ))
        })
        .collect::<Result<_>>()?;
    let mut layers = Vec::with_capacity(paths.len());
    for (i, p) in paths.iter().enumerate() {
        let tar = inside(dir, p)?;
        if !tar.is_file() {
            return Err(ImageError::MissingLayer(p.to_string()));
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
fn read_oci(dir: &Path, name: &str) -> Result<Image> {
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
            .ok_or(ImageError::Malformed("the OCI index has no manifests"))?;
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
    Err(ImageError::TooDeep)
}

/// Whether a descriptor's `platform` is linux on this machine's architecture.
pub(crate) fn platform_matches(desc: &Value) -> bool {
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
fn oci_manifest(dir: &Path, manifest: &Value) -> Result<Image> {
    let config = manifest
        .get("config")
        .ok_or(ImageError::Malformed("the OCI manifest has no config"))?;
    let (config, _) = parse_config(&read_json(dir, &blob_path(config)?)?);
    let mut layers = Vec::new();
    for l in manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or(ImageError::Malformed(
            "the OCI manifest's layers are not an array",
        ))?
    {
        let digest = l
            .get("digest")
            .and_then(Value::as_str)
            .ok_or(ImageError::Malformed("an OCI layer has no digest"))?;
        let tar = inside(dir, &blob_path(l)?)?;
        if !tar.is_file() {
            return Err(ImageError::MissingBlob(digest.to_string()));
        }
        layers.push(Layer {
            id: layer_id(digest)?,
            tar,
        });
    }
    Ok(Image { layers, config })
}

/// `blobs/<alg>/<hex>` for a descriptor's digest.
fn blob_path(desc: &Value) -> Result<String> {
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or(ImageError::Malformed("a descriptor has no digest"))?;
    let bad = || ImageError::BadDigest(digest.to_string());
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok(alg) || !ok(hex) {
        return Err(bad());
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

/// A layer's store id from a digest or a name: `sha256:<hex>` -> `<hex>`, other algorithms
/// keep theirs (`sha512-<hex>`); the result is a plain file name.
pub(crate) fn layer_id(raw: &str) -> Result<String> {
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
        Err(ImageError::BadLayerId(raw.to_string()))
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// `rel` under `dir`, refusing absolute paths and `..`.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ImageError::Escapes(rel.to_string()));
    }
    Ok(dir.join(p))
}

fn read_json(dir: &Path, rel: &str) -> Result<Value> {
    let path = inside(dir, rel)?;
    let text = fs::read(&path).map_err(|source| ImageError::Read {
        path: rel.to_string(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| ImageError::Json {
        path: rel.to_string(),
        source,
    })
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
fn sha256(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ImageError::Spawn {
            program: "sha256sum",
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(h) if out.status.success() && is_hex64(h) => Ok(h.to_string()),
        _ => Err(ImageError::Sha256 {
            path: path.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Unpacks a tarball (plain, gzip, bzip2, xz or zstd, told by its magic bytes) into `into`
/// with the system `tar`, keeping numeric owners.
pub(crate) fn untar(archive: &Path, into: &Path) -> Result<()> {
    let mut magic = [0u8; 6];
    let n = fs::File::open(archive)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|source| ImageError::Read {
            path: archive.display().to_string(),
            source,
        })?;
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
        .map_err(|source| ImageError::Spawn {
            program: "tar",
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ImageError::Unpack {
            archive: archive.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
