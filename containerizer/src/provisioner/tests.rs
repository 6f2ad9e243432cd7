//! Tests of the provisioner on images built at test time (layer dirs tarred with the system
//! `tar`, a `docker save`-style archive or an OCI layout around them).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::*;

/// A unique directory under the system temp dir, unmounted and removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "mesos-provisioner-{name}-{}-{}",
            std::process::id(),
            &uuid()[..8]
        ));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        for m in overlay::mounts_under(&self.0) {
            let _ = overlay::unmount(&m);
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `content` at `root/rel` (parents made) with `mode`.
fn file(root: &Path, rel: &str, content: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, content).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The two layers of the main test image: the upper one overrides `etc/motd`, whites out
/// `etc/gone` and makes `opq` opaque.
fn two_layers(work: &Path) -> Vec<PathBuf> {
    let lower = work.join("lower");
    file(&lower, "bin/sh", "#!/bin/true\n", 0o755);
    file(&lower, "etc/motd", "lower", 0o644);
    file(&lower, "etc/gone", "bye", 0o644);
    file(&lower, "opq/old", "old", 0o644);
    file(&lower, "opq/sub/deep", "deep", 0o600);
    file(&lower, "keep", "keep", 0o640);
    std::os::unix::fs::symlink("etc/motd", lower.join("link")).unwrap();
    let upper = work.join("upper");
    file(&upper, "etc/motd", "upper", 0o644);
    file(&upper, "etc/.wh.gone", "", 0o644);
    file(&upper, "opq/.wh..wh..opq", "", 0o644);
    file(&upper, "opq/new", "new", 0o644);
    file(&upper, "added", "added", 0o644);
    vec![lower, upper]
}

fn image_config() -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin:/bin", "GREETING=a=b"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo hi"],
            "WorkingDir": "/work",
            "User": "nobody"
        }
    })
}

/// Builds `<registry>/<name>.tar` as `docker save` would, from layer directories.
fn docker_archive(registry: &Path, name: &str, layers: &[PathBuf], config: &Value) -> PathBuf {
    let work = registry.join(format!(".build-{}", uuid()));
    fs::create_dir_all(&work).unwrap();
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        fs::create_dir_all(work.join(format!("l{i}"))).unwrap();
        let tar = work.join(format!("l{i}/layer.tar"));
        run(Command::new("tar")
            .arg("-C")
            .arg(l)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        paths.push(format!("l{i}/layer.tar"));
    }
    fs::write(work.join("cfg.json"), config.to_string()).unwrap();
    let manifest = json!([{"Config": "cfg.json", "RepoTags": [name], "Layers": paths}]);
    fs::write(work.join("manifest.json"), manifest.to_string()).unwrap();
    let out = registry.join(format!("{name}.tar"));
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-cf")
        .arg(&out)
        .arg("."));
    fs::remove_dir_all(&work).unwrap();
    out
}

/// Moves `file` into `layout/blobs/sha256/<hex>` and returns `sha256:<hex>` and its size.
fn blob(layout: &Path, file: &Path) -> (String, u64) {
    let hex = sha256(file);
    let size = fs::metadata(file).unwrap().len();
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).unwrap();
    fs::rename(file, dir.join(&hex)).unwrap();
    (format!("sha256:{hex}"), size)
}

/// Builds an OCI layout `<registry>/<name>/` whose layers are gzip'd tarballs.
fn oci_layout(registry: &Path, name: &str, layers: &[PathBuf], config: &Value) -> PathBuf {
    let layout = registry.join(name);
    fs::create_dir_all(&layout).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut descs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let tgz = layout.join(format!("layer{i}.tar.gz"));
        run(Command::new("tar")
            .arg("-C")
            .arg(l)
            .arg("-czf")
            .arg(&tgz)
            .arg("."));
        let (digest, size) = blob(&layout, &tgz);
        descs.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": size
        }));
    }
    let cfg = layout.join("config.json");
    fs::write(&cfg, config.to_string()).unwrap();
    let (cdigest, csize) = blob(&layout, &cfg);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cdigest, "size": csize},
        "layers": descs
    });
    let m = layout.join("manifest.json.tmp");
    fs::write(&m, manifest.to_string()).unwrap();
    let (mdigest, msize) = blob(&layout, &m);
    let tag = name.rsplit(':').next().unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": mdigest, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    });
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    layout
}

fn provisioner(t: &TempDir, backend: Backend) -> Provisioner {
    Provisioner::new(ProvisionerConfig {
        docker_registry: Some(t.path().join("registry")),
        remote: None,
        store_dir: t.path().join("store"),
        rootfs_dir: t.path().join("provisioner"),
        backend,
    })
    .unwrap()
}

/// Everything under `root` (not `root` itself): path -> kind, mode and content.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let mode = m.mode() & 0o7777;
            let desc = if m.is_dir() {
                walk(root, &p, out);
                format!("dir {mode:o}")
            } else if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if m.file_type().is_char_device() {
                format!("char {}", m.rdev())
            } else {
                format!("file {mode:o} {}", fs::read_to_string(&p).unwrap())
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn expected_two_layer_tree() -> BTreeMap<String, String> {
    [
        ("added", "file 644 added"),
        ("bin", "dir 755"),
        ("bin/sh", "file 755 #!/bin/true\n"),
        ("etc", "dir 755"),
        ("etc/motd", "file 644 upper"),
        ("keep", "file 640 keep"),
        ("link", "link etc/motd"),
        ("opq", "dir 755"),
        ("opq/new", "file 644 new"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn backend_parse_accepts_copy_and_overlay() {
    assert_eq!(Backend::parse("copy").unwrap(), Backend::Copy);
    assert_eq!(Backend::parse("overlay").unwrap(), Backend::Overlay);
    assert!(matches!(Backend::parse("bind"), Err(Error::Unsupported(_))));
    assert!(matches!(Backend::parse("zfs"), Err(Error::Invalid(_))));
    assert_eq!(Backend::Overlay.to_string(), "overlay");
}

#[test]
fn image_names_default_to_latest_and_refuse_escapes() {
    assert_eq!(image::normalize("busybox").unwrap(), "busybox:latest");
    assert_eq!(
        image::normalize("library/busybox:1.36").unwrap(),
        "library/busybox:1.36"
    );
    assert_eq!(
        image::normalize("localhost:5000/app").unwrap(),
        "localhost:5000/app:latest"
    );
    for bad in ["", "/abs:1", "../up:1", "a/../b", "a//b", "img:"] {
        assert!(image::normalize(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn image_errors_read_as_one_line_naming_the_cause() {
    for (bad, why) in [
        ("", "the image name is empty"),
        ("/abs:1", "an image name must be a relative 'repo[:tag]'"),
        (
            "a//b",
            "an image name may not have empty, '.' or '..' components",
        ),
        ("img:", "the image tag is empty"),
    ] {
        assert_eq!(image::normalize(bad).unwrap_err().to_string(), why);
    }
    assert_eq!(
        image::layer_id("a/b").unwrap_err().to_string(),
        "bad layer id 'a/b'"
    );
    let e = ImageError::NoRegistry.provisioning("busybox:latest");
    assert_eq!(
        e.to_string(),
        "failed to provision image 'busybox:latest': no --docker_registry is set: images are \
         pulled from a registry (--docker_registry=http(s)://host:port) or read from a local \
         directory of `repo:tag.tar` archives or OCI layouts (--docker_registry=<dir>)"
    );
    let e = ImageError::NotFound {
        registry: PathBuf::from("/r"),
        image: "a:1".into(),
        holds: "nothing".into(),
    };
    assert_eq!(
        e.to_string(),
        "not found in --docker_registry '/r' (looked for 'a:1.tar' and an OCI layout 'a:1/'); \
         it holds: nothing"
    );
}

#[test]
fn layer_ids_are_sanitized() {
    assert_eq!(image::layer_id("sha256:abc123").unwrap(), "abc123");
    assert_eq!(image::layer_id("sha512:ff").unwrap(), "sha512-ff");
    for bad in ["..", "a/b", "sha256:../x", ".hidden", "", "sha256:"] {
        assert!(image::layer_id(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn copy_backend_applies_layers_with_whiteouts_and_opaque_dirs() {
    let t = TempDir::new("copy");
    let layers = two_layers(&t.path().join("src"));
    let archive = docker_archive(
        &t.path().join("registry"),
        "test/img:1",
        &layers,
        &image_config(),
    );
    let p = provisioner(&t, Backend::Copy);
    let got = p.provision("c1", "test/img:1", true).unwrap();
    assert_eq!(got.backend, Backend::Copy);
    assert!(!got.cache_hit);
    assert!(got.rootfs.starts_with(
        t.path()
            .join("provisioner/containers/c1/backends/copy/rootfses")
    ));
    assert_eq!(tree(&got.rootfs), expected_two_layer_tree());
    // Hand-made layer directories (`l0`, `l1`) are named by their content's hash.
    let work = TempDir::new("copy-unpacked");
    run(Command::new("tar")
        .arg("-C")
        .arg(work.path())
        .arg("-xf")
        .arg(&archive));
    let want: Vec<String> = ["l0", "l1"]
        .iter()
        .map(|l| sha256(&work.path().join(l).join("layer.tar")))
        .collect();
    assert_eq!(got.layers, want);
    assert_eq!(
        got.config,
        ImageConfig {
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("GREETING".into(), "a=b".into())
            ],
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec!["echo hi".into()],
            working_dir: Some("/work".into()),
            user: Some("nobody".into()),
        }
    );
    // The store holds each layer as it is in its tarball, whiteouts included.
    assert!(t
        .path()
        .join("store/layers")
        .join(&got.layers[1])
        .join("rootfs/etc/.wh.gone")
        .exists());
    assert!(t.path().join("store/images/test/img:1.json").is_file());
}

#[test]
fn second_provision_is_a_cache_hit_without_the_archive() {
    let t = TempDir::new("cache");
    let layers = two_layers(&t.path().join("src"));
    let archive = docker_archive(
        &t.path().join("registry"),
        "test/img:1",
        &layers,
        &image_config(),
    );
    let p = provisioner(&t, Backend::Copy);
    let first = p.provision("c1", "test/img:1", true).unwrap();
    assert!(!first.cache_hit);
    fs::remove_file(&archive).unwrap();
    let second = p.provision("c2", "test/img:1", true).unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.layers, first.layers);
    assert_eq!(second.config, first.config);
    assert_ne!(second.rootfs, first.rootfs);
    assert_eq!(tree(&second.rootfs), expected_two_layer_tree());
    // A fresh provisioner on the same store (an agent restart) still hits the cache.
    let again = provisioner(&t, Backend::Copy);
    assert!(again.provision("c3", "test/img:1", true).unwrap().cache_hit);
    // cached=false re-reads the registry, where the image is gone now.
    match p.provision("c4", "test/img:1", false) {
        Err(Error::Provision { image, why }) => {
            assert_eq!(image, "test/img:1");
            assert!(why.contains("not found"), "{why}");
        }
        other => panic!("expected a provision error, got {other:?}"),
    }
}

#[test]
fn oci_layout_with_gzip_layer_provisions() {
    let t = TempDir::new("oci");
    let layers = two_layers(&t.path().join("src"));
    let mut config = image_config();
    config["config"]["Entrypoint"] = Value::Null;
    let layout = oci_layout(&t.path().join("registry"), "oci/img:2", &layers, &config);
    let p = provisioner(&t, Backend::Copy);
    let got = p.provision("c1", "oci/img:2", true).unwrap();
    assert_eq!(tree(&got.rootfs), expected_two_layer_tree());
    assert!(got.config.entrypoint.is_empty());
    assert_eq!(got.config.cmd, vec!["echo hi".to_string()]);
    // OCI layers are named by their blob digest.
    for id in &got.layers {
        assert!(layout.join("blobs/sha256").join(id).is_file());
    }
    // Without a tag the name means `:latest`, which is not there.
    assert!(matches!(
        p.provision("c2", "oci/img", true),
        Err(Error::Provision { .. })
    ));
}

#[test]
fn layers_shared_between_images_are_unpacked_once() {
    let t = TempDir::new("shared");
    let layers = two_layers(&t.path().join("src"));
    let registry = t.path().join("registry");
    docker_archive(&registry, "a:1", &layers, &image_config());
    docker_archive(&registry, "b:1", &layers[..1], &image_config());
    let p = provisioner(&t, Backend::Copy);
    let a = p.provision("c1", "a:1", true).unwrap();
    let b = p.provision("c2", "b:1", true).unwrap();
    assert_eq!(b.layers[..], a.layers[..1]);
    assert_eq!(
        fs::read_dir(t.path().join("store/layers")).unwrap().count(),
        2
    );
    assert_eq!(
        fs::read_to_string(b.rootfs.join("etc/motd")).unwrap(),
        "lower"
    );
    assert!(b.rootfs.join("opq/old").exists());
}

#[test]
fn pruning_keeps_the_images_of_live_containers_and_excluded_ones() {
    let t = TempDir::new("prune");
    let layers = two_layers(&t.path().join("src"));
    let registry = t.path().join("registry");
    docker_archive(&registry, "a:1", &layers, &image_config());
    docker_archive(&registry, "b:1", &layers[..1], &image_config());
    let p = provisioner(&t, Backend::Copy);
    p.provision("c1", "b:1", true).unwrap();
    p.provision("c2", "a:1", true).unwrap();
    p.destroy("c2").unwrap();
    let layer_count = || fs::read_dir(t.path().join("store/layers")).unwrap().count();
    assert_eq!(layer_count(), 2);
    // a:1 is used by no container: it goes, with the layer only it had.
    let pruned = p.prune(&[]).unwrap();
    assert_eq!(pruned.images, vec!["a:1".to_string()]);
    assert_eq!(pruned.layers, 1);
    assert_eq!(layer_count(), 1);
    // b:1 is c1's; once c1 is gone, an excluded name still keeps it.
    p.destroy("c1").unwrap();
    let pruned = p.prune(&["b:1".to_string()]).unwrap();
    assert_eq!(pruned, Pruned::default());
    let again = p.provision("c3", "b:1", true).unwrap();
    assert!(again.cache_hit, "the kept image is still in the store");
    p.destroy("c3").unwrap();
    let pruned = p.prune(&[]).unwrap();
    assert_eq!(pruned.images, vec!["b:1".to_string()]);
    assert_eq!(layer_count(), 0);
}

#[test]
fn unknown_image_error_names_the_image_and_lists_the_registry() {
    let t = TempDir::new("unknown");
    let layers = two_layers(&t.path().join("src"));
    let registry = t.path().join("registry");
    docker_archive(&registry, "test/img:1", &layers, &image_config());
    let p = provisioner(&t, Backend::Copy);
    match p.provision("c1", "nope:3", true) {
        Err(e @ Error::Provision { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("nope:3"), "{msg}");
            assert!(msg.contains(&registry.display().to_string()), "{msg}");
            assert!(msg.contains("test/img:1"), "{msg}");
        }
        other => panic!("expected a provision error, got {other:?}"),
    }
    assert!(p.containers().is_empty());
}

#[test]
fn no_registry_flag_is_a_provision_error() {
    let t = TempDir::new("noregistry");
    let p = Provisioner::new(ProvisionerConfig {
        docker_registry: None,
        remote: None,
        store_dir: t.path().join("store"),
        rootfs_dir: t.path().join("provisioner"),
        backend: Backend::Copy,
    })
    .unwrap();
    match p.provision("c1", "busybox", true) {
        Err(Error::Provision { image, why }) => {
            assert_eq!(image, "busybox:latest");
            assert!(why.contains("--docker_registry"), "{why}");
        }
        other => panic!("expected a provision error, got {other:?}"),
    }
}

#[test]
fn corrupt_archive_and_manifest_are_provision_errors() {
    let t = TempDir::new("corrupt");
    let registry = t.path().join("registry");
    fs::create_dir_all(&registry).unwrap();
    fs::write(registry.join("junk:1.tar"), b"this is not a tarball at all").unwrap();
    let bad = t.path().join("bad");
    fs::create_dir_all(&bad).unwrap();
    fs::write(bad.join("manifest.json"), b"{not json").unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&bad)
        .arg("-cf")
        .arg(registry.join("bad:1.tar"))
        .arg("."));
    let escape = t.path().join("escape");
    fs::create_dir_all(&escape).unwrap();
    let m = json!([{"Config": "../../etc/passwd", "RepoTags": ["esc:1"], "Layers": []}]);
    fs::write(escape.join("manifest.json"), m.to_string()).unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&escape)
        .arg("-cf")
        .arg(registry.join("esc:1.tar"))
        .arg("."));
    let p = provisioner(&t, Backend::Copy);
    for (name, want) in [("junk:1", "unpack"), ("bad:1", "JSON"), ("esc:1", "leaves")] {
        match p.provision("c1", name, true) {
            Err(Error::Provision { image, why }) => {
                assert_eq!(image, name);
                assert!(why.contains(want), "{name}: {why}");
            }
            other => panic!("{name}: expected a provision error, got {other:?}"),
        }
    }
    assert!(matches!(
        p.provision("../x", "junk:1", true),
        Err(Error::Invalid(_))
    ));
    // Nothing was left half-made.
    assert_eq!(
        fs::read_dir(t.path().join("store/staging"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(t.path().join("store/layers")).unwrap().count(),
        0
    );
}

#[test]
fn destroy_removes_the_rootfs_and_missing_is_ok() {
    let t = TempDir::new("destroy");
    let layers = two_layers(&t.path().join("src"));
    docker_archive(
        &t.path().join("registry"),
        "test/img:1",
        &layers,
        &image_config(),
    );
    let p = provisioner(&t, Backend::Copy);
    let a = p.provision("c1", "test/img:1", true).unwrap();
    let b = p.provision("c2", "test/img:1", true).unwrap();
    assert_eq!(p.containers(), vec!["c1".to_string(), "c2".to_string()]);
    // Recovery: a new provisioner sees the rootfses on disk.
    assert_eq!(provisioner(&t, Backend::Copy).containers().len(), 2);
    p.destroy("c1").unwrap();
    assert!(!a.rootfs.exists());
    assert!(!t.path().join("provisioner/containers/c1").exists());
    assert!(b.rootfs.join("etc/motd").exists());
    assert_eq!(p.containers(), vec!["c2".to_string()]);
    p.destroy("c1").unwrap();
    p.destroy("never").unwrap();
    // The store is untouched.
    assert!(p.provision("c3", "test/img:1", true).unwrap().cache_hit);
}

#[test]
fn overlay_backend_shows_the_same_tree_and_destroy_unmounts() {
    let t = TempDir::new("overlay");
    let layers = two_layers(&t.path().join("src"));
    docker_archive(
        &t.path().join("registry"),
        "test/img:1",
        &layers,
        &image_config(),
    );
    let p = provisioner(&t, Backend::Overlay);
    if !p.overlay_supported() {
        eprintln!("skipping: overlay mounts are not supported here (not root, or no overlayfs)");
        return;
    }
    let copy = provisioner(&t, Backend::Copy)
        .provision("copy", "test/img:1", true)
        .unwrap();
    let got = p.provision("c1", "test/img:1", true).unwrap();
    assert_eq!(got.backend, Backend::Overlay);
    assert!(got.cache_hit);
    assert!(overlay::is_mount_point(&got.rootfs));
    assert_eq!(tree(&got.rootfs), tree(&copy.rootfs));
    assert_eq!(tree(&got.rootfs), expected_two_layer_tree());
    // The store's converted layer has overlayfs whiteouts.
    let converted = t
        .path()
        .join("store/layers")
        .join(&got.layers[1])
        .join("overlay");
    let wh = fs::symlink_metadata(converted.join("etc/gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    // Writes go to the upper dir, never to the store.
    fs::write(got.rootfs.join("etc/motd"), "written").unwrap();
    fs::remove_file(got.rootfs.join("keep")).unwrap();
    let lower = t.path().join("store/layers").join(&got.layers[0]);
    assert_eq!(
        fs::read_to_string(lower.join("rootfs/etc/motd")).unwrap(),
        "lower"
    );
    assert!(lower.join("overlay/keep").exists());
    // A single-layer image mounts with one lower dir.
    docker_archive(
        &t.path().join("registry"),
        "one:1",
        &layers[..1],
        &image_config(),
    );
    let one = p.provision("c2", "one:1", true).unwrap();
    assert!(overlay::is_mount_point(&one.rootfs));
    assert_eq!(
        fs::read_to_string(one.rootfs.join("opq/old")).unwrap(),
        "old"
    );
    p.destroy("c1").unwrap();
    assert!(!overlay::is_mount_point(&got.rootfs));
    assert!(!t.path().join("provisioner/containers/c1").exists());
    p.destroy("c2").unwrap();
    assert!(overlay::mounts_under(t.path()).is_empty());
    assert_eq!(p.containers(), vec!["copy".to_string()]);
}

#[test]
fn overlay_with_many_layers_mounts_through_short_links() {
    let t = TempDir::new("many");
    let p = provisioner(&t, Backend::Overlay);
    if !p.overlay_supported() {
        eprintln!("skipping: overlay mounts are not supported here (not root, or no overlayfs)");
        return;
    }
    // 40 layers of ~130-character store paths do not fit in one page of mount options.
    let layers: Vec<PathBuf> = (0..40)
        .map(|i| {
            let dir = t.path().join(format!("src/{i}"));
            file(&dir, &format!("f{i}"), "x", 0o644);
            file(&dir, "top", &i.to_string(), 0o644);
            dir
        })
        .collect();
    docker_archive(
        &t.path().join("registry"),
        "many:1",
        &layers,
        &image_config(),
    );
    let got = p.provision("c1", "many:1", true).unwrap();
    assert_eq!(got.backend, Backend::Overlay);
    assert_eq!(got.layers.len(), 40);
    assert_eq!(fs::read_to_string(got.rootfs.join("top")).unwrap(), "39");
    assert!((0..40).all(|i| got.rootfs.join(format!("f{i}")).is_file()));
    p.destroy("c1").unwrap();
    assert!(overlay::mounts_under(t.path()).is_empty());
}

#[test]
fn docker_runtime_combines_the_image_command_with_the_tasks_as_mesos_does() {
    use mesos_api::protocol::command::CommandInfo;
    let image = |entrypoint: &[&str], cmd: &[&str]| ImageConfig {
        entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..ImageConfig::default()
    };
    let command = |shell: bool, value: Option<&str>, args: &[&str]| CommandInfo {
        shell,
        value: value.map(str::to_string),
        arguments: args.iter().map(|s| s.to_string()).collect(),
        ..CommandInfo::shell("")
    };
    let argv = |c: Option<CommandInfo>| c.map(|c| (c.value.unwrap_or_default(), c.arguments));
    let both = image(&["/entry", "e1"], &["c0", "c1"]);
    let only_cmd = image(&[], &["/c0", "c1"]);
    let only_entry = image(&["/entry"], &[]);
    let none = image(&[], &[]);
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // A shell command, or one with a value, runs as given.
    assert_eq!(
        both.launch_command(&command(true, Some("ls"), &[])),
        Ok(None)
    );
    assert_eq!(
        both.launch_command(&command(false, Some("/bin/ls"), &["ls", "-l"])),
        Ok(None)
    );
    assert!(both.launch_command(&command(true, None, &[])).is_err());
    // Otherwise: the entrypoint, then the arguments or else the image's Cmd.
    assert_eq!(
        argv(both.launch_command(&command(false, None, &[])).unwrap()),
        Some(("/entry".into(), v(&["/entry", "e1", "c0", "c1"])))
    );
    assert_eq!(
        argv(both.launch_command(&command(false, None, &["a1"])).unwrap()),
        Some(("/entry".into(), v(&["/entry", "e1", "a1"])))
    );
    assert_eq!(
        argv(
            only_entry
                .launch_command(&command(false, None, &[]))
                .unwrap()
        ),
        Some(("/entry".into(), v(&["/entry"])))
    );
    // Without an entrypoint: Cmd's first word, then the arguments or else the rest of Cmd.
    assert_eq!(
        argv(only_cmd.launch_command(&command(false, None, &[])).unwrap()),
        Some(("/c0".into(), v(&["/c0", "c1"])))
    );
    assert_eq!(
        argv(
            only_cmd
                .launch_command(&command(false, None, &["a1"]))
                .unwrap()
        ),
        Some(("/c0".into(), v(&["/c0", "a1"])))
    );
    assert_eq!(
        none.launch_command(&command(false, None, &[])),
        Err("No executable is found".into())
    );
}
