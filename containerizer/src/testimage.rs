//! Tiny local images for tests, demos and benchmarks: a `docker save` archive holding the
//! host's `/bin/sh` and the shared libraries it needs (found with `ldd`), plus a marker file.
//! No registry or Docker daemon is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

fn fail(why: impl Into<String>) -> Error {
    Error::Provision {
        image: "test image".into(),
        why: why.into(),
    }
}

/// The files `/bin/sh` needs: itself and what `ldd` lists.
fn shell_files() -> Result<Vec<PathBuf>> {
    let sh =
        std::fs::canonicalize("/bin/sh").map_err(|e| Error::io("cannot resolve", "/bin/sh", e))?;
    let out = Command::new("ldd")
        .arg(&sh)
        .output()
        .map_err(|e| fail(format!("cannot run ldd: {e}")))?;
    let mut files = vec![sh];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
        let path = line
            .split("=>")
            .last()
            .and_then(|r| r.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(p) = path {
            files.push(PathBuf::from(p));
        }
    }
    Ok(files)
}

/// Writes `<registry>/<name>.tar`: one layer with `/bin/sh`, its libraries, `/etc/marker`
/// holding `marker`, and `/tmp`; the config sets `PATH` and `IMAGE_MARKER`.
pub fn write_shell_image(registry: &Path, name: &str, marker: &str) -> Result<PathBuf> {
    let config = serde_json::json!({
        "Env": ["PATH=/usr/bin:/bin", format!("IMAGE_MARKER={marker}")],
        "Cmd": ["/bin/sh"],
    });
    write_shell_image_with(registry, name, marker, config)
}

/// As [`write_shell_image`], with `config` as the image config's `config` object (its `Env`,
/// `Entrypoint`, `Cmd`, `WorkingDir`, `User`).
pub fn write_shell_image_with(
    registry: &Path,
    name: &str,
    marker: &str,
    config: serde_json::Value,
) -> Result<PathBuf> {
    let work = registry.join(format!(".build-{}", std::process::id()));
    let layer = work.join("layer");
    mk(&layer.join("etc"))?;
    mk(&layer.join("tmp"))?;
    mk(&layer.join("bin"))?;
    for f in shell_files()? {
        let to = layer.join(f.strip_prefix("/").unwrap_or(&f));
        if let Some(p) = to.parent() {
            mk(p)?;
        }
        std::fs::copy(&f, &to).map_err(|e| Error::io("cannot copy", &f, e))?;
    }
    let sh =
        std::fs::canonicalize("/bin/sh").map_err(|e| Error::io("cannot resolve", "/bin/sh", e))?;
    if sh != Path::new("/bin/sh") {
        let _ = std::os::unix::fs::symlink(&sh, layer.join("bin/sh"));
    }
    std::fs::write(layer.join("etc/marker"), format!("{marker}\n"))
        .map_err(|e| Error::io("cannot write", layer.join("etc/marker"), e))?;
    pack(registry, &work, name, &[layer], config)
}

/// Writes `<registry>/<name>.tar` holding the host's static `/bin/busybox` (Debian's
/// `busybox-static`) with a link for each of its applets in `/bin`, `/etc/marker` holding
/// `marker`, and `/tmp`; `config` is the image config's `config` object. `Ok(None)` when the
/// host has no `/bin/busybox`.
pub fn write_busybox_image(
    registry: &Path,
    name: &str,
    marker: &str,
    config: serde_json::Value,
) -> Result<Option<PathBuf>> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return Ok(None);
    }
    let work = registry.join(format!(".build-bb-{}", std::process::id()));
    let layer = work.join("layer");
    for d in ["etc", "tmp", "bin"] {
        mk(&layer.join(d))?;
    }
    std::fs::copy(busybox, layer.join("bin/busybox"))
        .map_err(|e| Error::io("cannot copy", busybox, e))?;
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| fail(format!("cannot run busybox --list: {e}")))?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            let _ = std::os::unix::fs::symlink("busybox", layer.join("bin").join(applet));
        }
    }
    std::fs::write(layer.join("etc/marker"), format!("{marker}\n"))
        .map_err(|e| Error::io("cannot write", layer.join("etc/marker"), e))?;
    pack(registry, &work, name, &[layer], config).map(Some)
}

/// Writes `<registry>/<name>.tar` with `layers` layers of `bytes` random (incompressible)
/// bytes each, in `/data/<n>` (for pull benchmarks: what is moved is all payload).
pub fn write_layered_image(
    registry: &Path,
    name: &str,
    layers: usize,
    bytes: usize,
) -> Result<PathBuf> {
    let work = registry.join(format!(".build-{}", std::process::id()));
    let mut dirs = Vec::new();
    let mut random = std::fs::File::open("/dev/urandom")
        .map_err(|e| Error::io("cannot open", "/dev/urandom", e))?;
    for n in 0..layers {
        let dir = work.join(format!("layer{n}"));
        mk(&dir.join("data"))?;
        let mut data = vec![0u8; bytes];
        std::io::Read::read_exact(&mut random, &mut data)
            .map_err(|e| Error::io("cannot read", "/dev/urandom", e))?;
        let file = dir.join("data").join(n.to_string());
        std::fs::write(&file, &data).map_err(|e| Error::io("cannot write", &file, e))?;
        dirs.push(dir);
    }
    pack(
        registry,
        &work,
        name,
        &dirs,
        serde_json::json!({"Cmd": ["/bin/sh"]}),
    )
}

fn mk(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io("cannot create", p, e))
}

fn tar(dir: &Path, out: &Path) -> Result<()> {
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .map_err(|e| fail(format!("cannot run tar: {e}")))?;
    if !st.success() {
        return Err(fail(format!("tar failed to pack {}", dir.display())));
    }
    Ok(())
}

/// Packs the layer directories (bottom first) and `config` into the docker archive
/// `<registry>/<name>.tar`, with the layers' digests in the config (so that registry tools
/// such as skopeo take it as it is); removes `work`.
fn pack(
    registry: &Path,
    work: &Path,
    name: &str,
    layers: &[PathBuf],
    config: serde_json::Value,
) -> Result<PathBuf> {
    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let archive = work.join("archive");
    let mut paths = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let rel = format!("l{i}/layer.tar");
        mk(&archive.join(format!("l{i}")))?;
        let out = archive.join(&rel);
        tar(layer, &out)?;
        let bytes = std::fs::read(&out).map_err(|e| Error::io("cannot read", &out, e))?;
        let hex: String = <sha2::Sha256 as sha2::Digest>::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        diff_ids.push(format!("sha256:{hex}"));
        paths.push(rel);
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [format!("{repo}:{tag}")],
        "Layers": paths,
    }]);
    let w = |p: PathBuf, v: &serde_json::Value| {
        std::fs::write(&p, v.to_string()).map_err(|e| Error::io("cannot write", p, e))
    };
    w(archive.join("config.json"), &config)?;
    w(archive.join("manifest.json"), &manifest)?;
    let out = registry.join(format!("{repo}:{tag}.tar"));
    if let Some(p) = out.parent() {
        mk(p)?;
    }
    let packed = tar(&archive, &out);
    let _ = std::fs::remove_dir_all(work);
    packed.map(|()| out)
}
