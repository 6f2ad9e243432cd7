//! Containers on this machine, as root: cgroups limits (memory OOM, CPU quota, pids), rlimits,
//! a pid namespace, volumes, destruction and recovery. Where the machine lacks a feature the
//! test prints why and returns.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libprocess::Runtime;
use mesos_api::protocol::container::{
    ContainerInfo, HostPathSource, RLimit, RLimitInfo, RLimitType, Volume, VolumeMode,
    VolumeSource, VolumeSourceType,
};
use mesos_api::protocol::task::Reason;
use mesos_api::ContainerID;
use mesos_containerizer::cgroups::{Cgroups, Version};
use mesos_containerizer::{
    parse_isolation, ContainerConfig, Containerizer, ContainerizerFlags, Event, ImageUse,
    LauncherKind, Limits, Termination,
};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn skip_unless_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: needs root");
        return true;
    }
    false
}

struct Fixture {
    rt: Runtime,
    cz: Arc<Containerizer>,
    work: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
        // The fixture's own cgroups root.
        let root = &self.cz.flags().cgroups_root;
        for h in ["cpu", "cpuacct", "memory", "pids", "freezer", "devices"] {
            let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(h).join(root));
        }
    }
}

async fn fixture(isolation: &str, tweak: impl FnOnce(&mut ContainerizerFlags)) -> Option<Fixture> {
    let work = std::env::temp_dir().join(format!("cz-test-{}", mesos_api::ids::new_uuid()));
    let mut f = ContainerizerFlags::new(&work);
    f.launcher = LauncherKind::Linux;
    f.isolation = parse_isolation(isolation).unwrap();
    // One root per fixture: a root shared by the tests running at once would be removed by
    // one finishing while another creates a cgroup in it.
    f.cgroups_root = format!("mesos-test-{}", mesos_api::ids::new_uuid());
    f.fetcher_cache_dir = work.join("fetch");
    tweak(&mut f);
    let cz = match Containerizer::new(f) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: {e}");
            return None;
        }
    };
    Some(Fixture {
        rt: Runtime::local().await.unwrap(),
        cz,
        work,
    })
}

struct Running {
    rx: mpsc::UnboundedReceiver<Event>,
    sandbox: PathBuf,
    container: mesos_containerizer::Container,
}

fn config(
    fx: &Fixture,
    script: &str,
    limits: Limits,
    info: Option<ContainerInfo>,
) -> ContainerConfig {
    let id = ContainerID::new(mesos_api::ids::new_uuid());
    let sandbox = fx.work.join("sandboxes").join(&id.value);
    std::fs::create_dir_all(&sandbox).unwrap();
    ContainerConfig {
        id,
        parent: None,
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![],
        sandbox,
        limits,
        container_info: info,
        image_use: ImageUse::Enter,
        uris: vec![],
        user: None,
        stdio: None,
        persistent_volumes: Vec::new(),
    }
}

async fn launch(fx: &Fixture, cfg: ContainerConfig) -> Running {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sandbox = cfg.sandbox.clone();
    let container = fx
        .cz
        .launch(&fx.rt, cfg, Box::new(move |e| drop(tx.send(e))))
        .unwrap();
    match tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        Event::Launched { .. } => {}
        other => panic!("expected Launched, got {other:?}"),
    }
    Running {
        rx,
        sandbox,
        container,
    }
}

async fn terminated(r: &mut Running) -> Termination {
    loop {
        match tokio::time::timeout(LIMIT, r.rx.recv()).await.unwrap() {
            Some(Event::Terminated(t)) => return t,
            Some(_) => continue,
            None => panic!("events ended without a termination"),
        }
    }
}

fn stdout(r: &Running) -> String {
    std::fs::read_to_string(r.sandbox.join("stdout")).unwrap_or_default()
}

fn mem(mb: u64) -> Limits {
    Limits {
        cpus: Some(1.0),
        mem_bytes: Some(mb << 20),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_in_a_64mb_container_is_stopped_with_the_memory_reason() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("cgroups/mem,cgroups/cpu", |_| {}).await else {
        return;
    };
    // `tail` keeps a whole line in memory: 512 MB of zeros without a newline.
    let mut r = launch(
        &fx,
        config(
            &fx,
            "head -c 512m /dev/zero | tail; sleep 10; echo survived",
            mem(64),
            None,
        ),
    )
    .await;
    let t = terminated(&mut r).await;
    let l = t.limitation.expect("a memory limitation");
    assert_eq!(l.reason, Reason::ContainerLimitationMemory);
    assert!(l.message.contains("Memory limit exceeded"), "{}", l.message);
    assert!(!stdout(&r).contains("survived"));
    // The limitation destroyed the whole container: the shell did not go on.
    assert!(t.status.is_some());
    // The cgroup is gone.
    let cg = fx.cz.cgroups().unwrap();
    assert!(!cg.containers().contains(&r.container.id.value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_quota_shows_as_throttling() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("cgroups/cpu,cgroups/mem", |_| {}).await else {
        return;
    };
    let limits = Limits {
        cpus: Some(0.1),
        mem_bytes: Some(64 << 20),
        ..Limits::default()
    };
    let mut r = launch(&fx, config(&fx, "while :; do :; done", limits, None)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let u = r
        .container
        .process()
        .expect("a real container")
        .dispatch(|c, _| c.usage())
        .await
        .unwrap();
    assert_eq!(u.cpus_limit, Some(0.1));
    let throttled = u.cpus_nr_throttled.expect("cpu.stat read");
    assert!(throttled > 0, "no throttling in cpu.stat: {u:?}");
    // 0.1 cpu over 1.5 s is about 0.15 s of CPU, far below a free-running loop.
    let cpu = u.cpus_user_time_secs.unwrap_or(0.0) + u.cpus_system_time_secs.unwrap_or(0.0);
    assert!(cpu < 0.6, "the quota did not hold: {cpu} s of CPU");
    r.container
        .process()
        .expect("a real container")
        .dispatch(|c, ctx| c.destroy(ctx))
        .await
        .unwrap();
    let t = terminated(&mut r).await;
    assert!(t.limitation.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pids_limit_stops_forks() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("cgroups/pids", |f| f.cgroups_pids_max = Some(5)).await else {
        return;
    };
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 3 & echo started $i; done; wait";
    let mut r = launch(&fx, config(&fx, script, Limits::default(), None)).await;
    let t = terminated(&mut r).await;
    // The shell and at most four sleeps fit under pids.max = 5.
    let started = stdout(&r).lines().count();
    assert!(
        started <= 4,
        "{started} sleeps started under a limit of 5 processes"
    );
    let err = std::fs::read_to_string(r.sandbox.join("stderr")).unwrap();
    assert!(
        err.contains("fork") || err.contains("Resource temporarily unavailable"),
        "no fork failure in stderr: {err} ({t:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rlimits_apply_to_the_container() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("posix/rlimits", |f| f.launcher = LauncherKind::Posix).await else {
        return;
    };
    let mut info = ContainerInfo::mesos();
    info.rlimit_info = Some(RLimitInfo {
        rlimits: vec![
            RLimit {
                kind: RLimitType::Nofile,
                soft: Some(64),
                hard: Some(128),
            },
            RLimit {
                kind: RLimitType::Core,
                soft: None,
                hard: None,
            },
        ],
    });
    let mut r = launch(
        &fx,
        config(
            &fx,
            "ulimit -n; ulimit -H -n; ulimit -c",
            Limits::default(),
            Some(info),
        ),
    )
    .await;
    let t = terminated(&mut r).await;
    assert_eq!(t.status, Some(0), "{t:?}");
    assert_eq!(stdout(&r), "64\n128\nunlimited\n");
    // A soft limit above the hard one is refused at launch.
    let mut bad = ContainerInfo::mesos();
    bad.rlimit_info = Some(RLimitInfo {
        rlimits: vec![RLimit {
            kind: RLimitType::Nofile,
            soft: Some(10),
            hard: Some(5),
        }],
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    fx.cz
        .launch(
            &fx.rt,
            config(&fx, "true", Limits::default(), Some(bad)),
            Box::new(move |e| drop(tx.send(e))),
        )
        .unwrap();
    match rx.recv().await.unwrap() {
        Event::Failed(m) => assert!(m.contains("soft limit 10 is above the hard limit 5"), "{m}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_namespace_gives_the_container_pid_1_and_its_own_proc() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("namespaces/pid", |_| {}).await else {
        return;
    };
    let mut r = launch(
        &fx,
        config(
            &fx,
            "echo $$; ls /proc | grep -c '^[0-9]'",
            Limits::default(),
            None,
        ),
    )
    .await;
    let t = terminated(&mut r).await;
    assert_eq!(t.status, Some(0), "{t:?}");
    let out = stdout(&r);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "{out}");
    let procs: u32 = lines.next().unwrap().trim().parse().unwrap();
    assert!(procs < 5, "the container sees {procs} processes in /proc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_path_and_sandbox_path_volumes_are_mounted() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture(
        "filesystem/linux,volume/host_path,volume/sandbox_path",
        |_| {},
    )
    .await
    else {
        return;
    };
    let host = fx.work.join("host-data");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("file"), "from the host\n").unwrap();
    let mut info = ContainerInfo::mesos();
    info.volumes = vec![Volume {
        mode: VolumeMode::Ro,
        container_path: "data".into(),
        host_path: None,
        source: Some(VolumeSource {
            kind: VolumeSourceType::HostPath,
            host_path: Some(HostPathSource {
                path: host.display().to_string(),
            }),
            sandbox_path: None,
            docker_volume: None,
        }),
    }];
    let mut r = launch(
        &fx,
        config(
            &fx,
            "cat data/file; touch data/new && echo writable || echo read-only",
            Limits::default(),
            Some(info),
        ),
    )
    .await;
    let t = terminated(&mut r).await;
    assert_eq!(t.status, Some(0), "{t:?}");
    assert_eq!(stdout(&r), "from the host\nread-only\n");
    assert!(!host.join("new").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_container_is_watched_and_destroyed() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("cgroups/mem,namespaces/pid", |_| {}).await else {
        return;
    };
    let cfg = config(&fx, "sleep 60", mem(64), None);
    let mut r = launch(&fx, cfg.clone()).await;
    let pid = r
        .container
        .process()
        .expect("a real container")
        .dispatch(|c, _| c.os_pid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fx.cz.checkpointed(),
        vec![(cfg.id.value.clone(), Some(pid))]
    );
    // A second containerizer (an agent restarted) adopts it and destroys it.
    let rt2 = Runtime::local().await.unwrap();
    let cz2 = Containerizer::new(fx.cz.flags().clone()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let again = cz2
        .recover(&rt2, cfg.clone(), pid, Box::new(move |e| drop(tx.send(e))))
        .unwrap();
    again
        .process()
        .expect("a real container")
        .dispatch(|c, ctx| c.destroy(ctx))
        .await
        .unwrap();
    let t = loop {
        match tokio::time::timeout(LIMIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Terminated(t) => break t,
            _ => continue,
        }
    };
    assert_eq!(t.status, None);
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err());
    assert!(fx.cz.checkpointed().is_empty());
    // The first actor sees its child end too.
    let _ = terminated(&mut r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_archives_are_extracted_and_a_second_fetch_hits_the_cache() {
    let Some(fx) = fixture("posix/cpu,posix/mem", |f| f.launcher = LauncherKind::Posix).await
    else {
        return;
    };
    // A tgz with a script in it, served from a path.
    let src = fx.work.join("src");
    std::fs::create_dir_all(src.join("tool")).unwrap();
    std::fs::write(src.join("tool/hello.sh"), "echo hello from the archive\n").unwrap();
    let archive = fx.work.join("tool.tgz");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-czf")
        .arg(&archive)
        .arg("tool")
        .status()
        .unwrap();
    assert!(st.success());
    let uri = mesos_api::protocol::task::CommandUri {
        value: archive.display().to_string(),
        executable: None,
        extract: true,
        cache: Some(true),
        output_file: None,
    };
    for round in 0..2 {
        let mut cfg = config(&fx, "sh tool/hello.sh", Limits::default(), None);
        cfg.uris = vec![uri.clone()];
        let mut r = launch(&fx, cfg).await;
        let t = terminated(&mut r).await;
        assert_eq!(t.status, Some(0), "round {round}: {t:?}");
        assert_eq!(stdout(&r), "hello from the archive\n");
        let err = std::fs::read_to_string(r.sandbox.join("stderr")).unwrap();
        let want = if round == 0 {
            "1 downloaded, 0 from the cache, 1 extracted"
        } else {
            "0 downloaded, 1 from the cache, 1 extracted"
        };
        assert!(err.contains(want), "round {round}: {err}");
        // The second round can only be served from the cache.
        std::fs::remove_file(&archive).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_runs_in_its_image_rootfs_with_the_sandbox_mounted() {
    if skip_unless_root() {
        return;
    }
    let registry = std::env::temp_dir().join(format!("cz-registry-{}", mesos_api::ids::new_uuid()));
    mesos_containerizer::testimage::write_shell_image(&registry, "test/shell:1", "from-the-image")
        .unwrap();
    let reg = registry.clone();
    let Some(fx) = fixture("filesystem/linux,namespaces/pid", move |f| {
        f.docker_registry = Some(reg)
    })
    .await
    else {
        return;
    };
    let info = image_info("test/shell:1");
    let script = "read m < /etc/marker; echo $m; echo $IMAGE_MARKER; echo $MESOS_SANDBOX; pwd; \
                  echo in-image > $MESOS_SANDBOX/out; echo /*";
    let (r, out) = run_ok(&fx, script, info).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from-the-image");
    assert_eq!(lines[1], "from-the-image");
    assert_eq!(lines[2], "/mnt/mesos/sandbox");
    assert_eq!(lines[3], "/mnt/mesos/sandbox");
    // Only the image's tree is visible at /.
    assert!(
        !lines[4].contains("/home") && !lines[4].contains("/usr "),
        "{}",
        lines[4]
    );
    assert!(lines[4].contains("/etc"), "{}", lines[4]);
    // The sandbox mount is the host's sandbox.
    assert_eq!(
        std::fs::read_to_string(r.sandbox.join("out")).unwrap(),
        "in-image\n"
    );
    // The rootfs went with the container.
    assert!(fx.cz.provisioner.containers().is_empty());
    let _ = std::fs::remove_dir_all(&registry);
}

/// docker/runtime for a container entering its image: given no program, it runs the image's
/// entrypoint with its arguments (or the image's Cmd without any), in the image's WorkingDir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_given_no_program_runs_its_images_command_in_its_working_dir() {
    if skip_unless_root() {
        return;
    }
    let registry = std::env::temp_dir().join(format!("cz-registry-{}", mesos_api::ids::new_uuid()));
    let image_config = serde_json::json!({
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hi"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo $GREETING from cmd in $(pwd) > $MESOS_SANDBOX/out"],
        "WorkingDir": "/tmp",
    });
    mesos_containerizer::testimage::write_shell_image_with(
        &registry,
        "test/rt:1",
        "rt",
        image_config,
    )
    .unwrap();
    let reg = registry.clone();
    let Some(fx) = fixture("filesystem/linux", move |f| f.docker_registry = Some(reg)).await else {
        return;
    };
    let info = image_info("test/rt:1");
    for (args, want) in [
        (vec![], "hi from cmd in /tmp\n"),
        (
            vec!["echo $GREETING from args in $(pwd) > $MESOS_SANDBOX/out".to_string()],
            "hi from args in /tmp\n",
        ),
    ] {
        let mut cfg = config(&fx, "unused", Limits::default(), Some(info.clone()));
        cfg.program = std::path::PathBuf::new();
        cfg.args = args;
        let mut r = launch(&fx, cfg).await;
        let t = terminated(&mut r).await;
        let err = std::fs::read_to_string(r.sandbox.join("stderr")).unwrap_or_default();
        assert_eq!(t.status, Some(0), "{t:?} {err}");
        assert_eq!(
            std::fs::read_to_string(r.sandbox.join("out")).unwrap_or_default(),
            want
        );
    }
    let _ = std::fs::remove_dir_all(&registry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_nvidia_hands_a_container_its_gpu_or_says_why_it_cannot() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("gpu/nvidia,cgroups/mem", |_| {}).await else {
        return;
    };
    if let Some(why) = fx.cz.gpus.why_none() {
        println!("skipped: {why}");
        assert!(why.contains("no NVIDIA GPU"), "{why}");
        return;
    }
    let limits = Limits { gpus: 1, ..mem(64) };
    let mut r = launch(
        &fx,
        config(
            &fx,
            "ls /dev | grep -c '^nvidia[0-9]'; cat /proc/self/cgroup",
            limits,
            None,
        ),
    )
    .await;
    let t = terminated(&mut r).await;
    assert_eq!(t.status, Some(0), "{t:?}");
    // Its devices cgroup allows one GPU of the machine's.
    assert!(stdout(&r).contains("devices:"), "{}", stdout(&r));
}

#[test]
fn cgroup_v2_is_used_when_the_unified_hierarchy_has_controllers() {
    match Cgroups::detect(std::path::Path::new("/sys/fs/cgroup"), "mesos") {
        Ok(c) if c.version() == Version::V2 => println!("this machine uses cgroup v2"),
        Ok(_) => println!(
            "skipped the v2 path here: the unified hierarchy has no controllers (they are bound to v1); v1 is tested"
        ),
        Err(e) => println!("skipped: {e}"),
    }
}

/// linux/capabilities and linux/nnp: a root container asking for NET_RAW has exactly that
/// capability after exec, its bounding set is the agent's, and it cannot gain privileges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_keeps_only_the_capabilities_it_asked_for_and_no_new_privileges() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("linux/capabilities,linux/nnp", |f| {
        f.bounding_capabilities = Some(r#"{"capabilities": ["NET_RAW", "CHOWN"]}"#.into());
    })
    .await
    else {
        return;
    };
    let mut info = ContainerInfo::mesos();
    info.linux_info = Some(mesos_api::protocol::container::LinuxInfo {
        effective_capabilities: Some(mesos_api::protocol::container::CapabilityInfo {
            capabilities: vec!["NET_RAW".into()],
        }),
        ..Default::default()
    });
    let script = "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status";
    let mut r = launch(
        &fx,
        config(&fx, script, Limits::default(), Some(info.clone())),
    )
    .await;
    let t = terminated(&mut r).await;
    let err = std::fs::read_to_string(r.sandbox.join("stderr")).unwrap_or_default();
    assert_eq!(t.status, Some(0), "{t:?} {err}");
    let out = stdout(&r);
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff"), "0000000000002000", "{out}");
    assert_eq!(field("CapPrm"), "0000000000002000", "{out}");
    assert_eq!(field("CapBnd"), "0000000000002001", "{out}");
    assert_eq!(field("NoNewPrivs"), "1", "{out}");
    // Asking for more than the agent's bounding set is refused.
    info.linux_info = Some(mesos_api::protocol::container::LinuxInfo {
        effective_capabilities: Some(mesos_api::protocol::container::CapabilityInfo {
            capabilities: vec!["SYS_ADMIN".into()],
        }),
        ..Default::default()
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _container = fx
        .cz
        .launch(
            &fx.rt,
            config(&fx, "true", Limits::default(), Some(info)),
            Box::new(move |e| drop(tx.send(e))),
        )
        .unwrap();
    match tokio::time::timeout(LIMIT, rx.recv()).await.unwrap() {
        Some(Event::Failed(why)) => {
            assert!(why.contains("outside the agent's bounding set"), "{why}")
        }
        other => panic!("expected a failed launch, got {other:?}"),
    }
}

/// A container with `ipc_mode` (and `shm_size`), as LinuxInfo gives it.
fn ipc(mode: Option<&str>, shm_size: Option<u32>) -> ContainerInfo {
    let mut info = ContainerInfo::mesos();
    info.linux_info = Some(mesos_api::protocol::container::LinuxInfo {
        ipc_mode: mode.map(String::from),
        shm_size,
        ..Default::default()
    });
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_ipc_gives_own_or_parent_ipc_namespaces_and_dev_shm() {
    if skip_unless_root() {
        return;
    }
    let Some(fx) = fixture("filesystem/linux,namespaces/ipc", |f| {
        f.disallow_sharing_agent_ipc_namespace = true;
    })
    .await
    else {
        return;
    };
    let host_ns = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let tag = format!("mesos-ipc-{}", std::process::id());
    // A top-level container with its own namespace and a 16 MB /dev/shm; it stays up for its
    // nested containers.
    let script = format!(
        "readlink /proc/self/ns/ipc > $PWD/ns; df -k /dev/shm | tail -1 > $PWD/shm; \
         touch /dev/shm/{tag}; touch $PWD/ready; sleep 60"
    );
    let mut cfg = config(
        &fx,
        &script,
        Limits::default(),
        Some(ipc(Some("PRIVATE"), Some(16))),
    );
    cfg.env
        .push(("PWD".into(), cfg.sandbox.display().to_string()));
    let parent_id = cfg.id.clone();
    let mut parent = launch(&fx, cfg).await;
    let ready = parent.sandbox.join("ready");
    wait_for(|| ready.exists()).await;
    let parent_ns = std::fs::read_to_string(parent.sandbox.join("ns")).unwrap();
    assert_ne!(parent_ns.trim(), host_ns.to_string_lossy(), "not its own");
    let shm = std::fs::read_to_string(parent.sandbox.join("shm")).unwrap();
    let blocks: u64 = shm.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(blocks, 16 * 1024, "{shm}");
    assert!(
        !std::path::Path::new("/dev/shm").join(&tag).exists(),
        "the container wrote the host's /dev/shm"
    );
    // Nested: unset shares the parent's namespace and /dev/shm; PRIVATE has its own.
    let look = format!("readlink /proc/self/ns/ipc; ls /dev/shm/{tag} 2>/dev/null || echo none");
    let mut seen = Vec::new();
    for mode in [None, Some("PRIVATE")] {
        let mut cfg = config(&fx, &look, Limits::default(), Some(ipc(mode, None)));
        cfg.parent = Some(parent_id.clone());
        let mut r = launch(&fx, cfg).await;
        let t = terminated(&mut r).await;
        assert_eq!(t.status, Some(0), "{t:?}");
        seen.push(stdout(&r));
    }
    assert_eq!(
        seen[0],
        format!("{}\n/dev/shm/{tag}\n", parent_ns.trim()),
        "a nested container sharing its parent's"
    );
    let own: Vec<&str> = seen[1].lines().collect();
    assert_ne!(own[0], parent_ns.trim(), "{own:?}");
    assert_ne!(own[0], host_ns.to_string_lossy(), "{own:?}");
    assert_eq!(own[1], "none", "{own:?}");
    // Sharing the agent's is disallowed here, and shm_size is for PRIVATE only.
    for (info, says) in [
        (
            ipc(Some("SHARE_PARENT"), None),
            "--disallow_sharing_agent_ipc_namespace",
        ),
        (
            ipc(None, Some(8)),
            "only for a container with ipc_mode PRIVATE",
        ),
    ] {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cfg = config(&fx, "true", Limits::default(), Some(info));
        let _c = fx
            .cz
            .launch(&fx.rt, cfg, Box::new(move |e| drop(tx.send(e))))
            .unwrap();
        match tokio::time::timeout(LIMIT, rx.recv()).await.unwrap() {
            Some(Event::Failed(why)) => assert!(why.contains(says), "{why}"),
            other => panic!("expected a failed launch ({says}), got {other:?}"),
        }
    }
    // Its namespace and /dev/shm go with it.
    parent
        .container
        .process()
        .expect("a real container")
        .dispatch(|c, ctx| c.destroy(ctx))
        .await
        .unwrap();
    terminated(&mut parent).await;
    let dir = fx
        .work
        .join("isolators/namespaces/ipc")
        .join(&parent_id.value);
    assert!(!dir.exists(), "{} is left", dir.display());
}

/// Waits (at most LIMIT) for `cond`.
async fn wait_for(mut cond: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + LIMIT;
    while !cond() {
        assert!(std::time::Instant::now() < until, "timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `script` in a container of `info` to its end, which must be a success; the container
/// and its stdout.
async fn run_ok(fx: &Fixture, script: &str, info: ContainerInfo) -> (Running, String) {
    let mut r = launch(fx, config(fx, script, Limits::default(), Some(info))).await;
    let t = terminated(&mut r).await;
    assert_eq!(
        t.status,
        Some(0),
        "{t:?} {}",
        std::fs::read_to_string(r.sandbox.join("stderr")).unwrap_or_default()
    );
    let out = stdout(&r);
    (r, out)
}

/// A container entering the local image `name`.
fn image_info(name: &str) -> ContainerInfo {
    let mut info = ContainerInfo::mesos();
    info.mesos = Some(mesos_api::protocol::container::MesosInfo {
        image: Some(mesos_api::protocol::container::Image {
            kind: mesos_api::protocol::container::ImageType::Docker,
            docker: Some(mesos_api::protocol::container::DockerImage { name: name.into() }),
            cached: None,
        }),
    });
    info
}

/// `--allowed_devices` giving read access to /dev/kmsg.
const KMSG_ALLOWED: &str =
    r#"{"allowed_devices": [{"device": {"path": "/dev/kmsg"}, "access": {"read": true}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroups_devices_lets_a_container_open_only_the_standard_and_allowed_devices() {
    if skip_unless_root() {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/devices/cgroup.procs").exists() {
        println!("skipped: no cgroup v1 devices controller");
        return;
    }
    let Some(fx) = fixture("cgroups/devices", |f| {
        f.allowed_devices = Some(KMSG_ALLOWED.into());
    })
    .await
    else {
        return;
    };
    // Opened for reading only: the flag gives no write.
    let script = "for d in null kmsg fuse; do if true </dev/$d; then echo $d read; else echo $d denied; fi; done; \
                  if true >/dev/kmsg; then echo kmsg write; else echo kmsg no-write; fi";
    let mut r = launch(&fx, config(&fx, script, Limits::default(), None)).await;
    let t = terminated(&mut r).await;
    assert_eq!(t.status, Some(0), "{t:?}");
    assert_eq!(
        stdout(&r),
        "null read\nkmsg read\nfuse denied\nkmsg no-write\n",
        "{}",
        std::fs::read_to_string(r.sandbox.join("stderr")).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_devices_gives_an_image_container_its_own_dev_with_the_allowed_nodes() {
    if skip_unless_root() {
        return;
    }
    let registry = std::env::temp_dir().join(format!("cz-registry-{}", mesos_api::ids::new_uuid()));
    mesos_containerizer::testimage::write_shell_image(&registry, "test/devs:1", "devs").unwrap();
    let reg = registry.clone();
    let Some(fx) = fixture("filesystem/linux,linux/devices", move |f| {
        f.docker_registry = Some(reg);
        f.allowed_devices = Some(KMSG_ALLOWED.into());
    })
    .await
    else {
        return;
    };
    let info = image_info("test/devs:1");
    let script = "echo /dev/*; echo x > /dev/null && echo null-ok; echo /dev/pts/*";
    let (_r, out) = run_ok(&fx, script, info).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "/dev/fd /dev/full /dev/kmsg /dev/null /dev/ptmx /dev/pts /dev/random /dev/shm \
         /dev/stderr /dev/stdin /dev/stdout /dev/tty /dev/urandom /dev/zero",
        "{out}"
    );
    assert_eq!(lines[1], "null-ok");
    // A devpts of its own: the host's terminals are not there.
    assert_eq!(lines[2], "/dev/pts/ptmx", "{out}");
    let _ = std::fs::remove_dir_all(&registry);
}
