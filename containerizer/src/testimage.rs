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
    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let work = registry.join(format!(".build-{}", std::process::id()));
    let layer = work.join("layer");
    let mk = |p: &Path| std::fs::create_dir_all(p).map_err(|e| Error::io("cannot create", p, e));
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
    let archive = work.join("archive");
    mk(&archive.join("l0"))?;
    let st = Command::new("tar")
        .arg("-C")
        .arg(&layer)
        .arg("-cf")
        .arg(archive.join("l0/layer.tar"))
        .arg(".")
        .status()
        .map_err(|e| fail(format!("cannot run tar: {e}")))?;
    if !st.success() {
        return Err(fail("tar failed to pack the layer"));
    }
    // The layer's digest, so that registry tools (skopeo) take the archive as it is.
    let tar = archive.join("l0/layer.tar");
    let bytes = std::fs::read(&tar).map_err(|e| Error::io("cannot read", &tar, e))?;
    let diff_id: String =
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [format!("{repo}:{tag}")],
        "Layers": ["l0/layer.tar"],
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
    let st = Command::new("tar")
        .arg("-C")
        .arg(&archive)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .map_err(|e| fail(format!("cannot run tar: {e}")))?;
    let _ = std::fs::remove_dir_all(&work);
    if !st.success() {
        return Err(fail("tar failed to pack the archive"));
    }
    Ok(out)
}
