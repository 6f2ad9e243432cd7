//! The binaries as an operator runs them: real OS processes on loopback.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use libprocess::{Runtime, UPID};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::Offer;
use mesos_api::protocol::task::TaskState;
use mesos_api::{AgentID, TaskID};
use mesos_scheduler::SchedulerProcess;
use testkit::{command_task, free_port, next, walk, within, Links, Proc, Recorder, Seen};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

/// The command for one of the binaries (without the test's MESOS_* environment; it dies with
/// the test).
fn bin(name: &str) -> Command {
    testkit::command(match name {
        "mesos-master" => env!("CARGO_BIN_EXE_mesos-master"),
        "mesos-agent" => env!("CARGO_BIN_EXE_mesos-agent"),
        "mesos-local" => env!("CARGO_BIN_EXE_mesos-local"),
        "mesos-execute" => env!("CARGO_BIN_EXE_mesos-execute"),
        _ => unreachable!(),
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mesos-cli-{tag}-{}", mesos_api::ids::new_uuid()))
}

/// Whether tasks can run in images here (root: mount namespaces and `pivot_root`); says why
/// they cannot.
fn images_can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        println!("skipped: images need root (mount namespaces and pivot_root)");
    }
    root
}

/// Runs `mesos-execute --master=local --name=<task>` with `args`, the agent working in `work`;
/// its output, and the stdout of the task's sandbox there.
fn execute_local(
    work: &std::path::Path,
    task: &str,
    args: &[String],
) -> (std::process::Output, String) {
    let mut c = bin("mesos-execute");
    c.arg("--master=local")
        .arg(format!("--name={task}"))
        .args(args)
        .arg(format!("--work_dir={}", work.display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = walk(work, Links::Follow)
        .into_iter()
        .filter(|p| p.ends_with("runs/latest/stdout"))
        .filter(|p| p.to_string_lossy().contains(&format!("/executors/{task}/")))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<String>();
    (out, stdout)
}

/// Panics showing what mesos-execute said unless it succeeded.
fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn mesos_execute_local_runs_a_command_to_finished_and_exits_zero() {
    let dir = temp_dir("exec");
    let mut c = bin("mesos-execute");
    c.args([
        "--master=local",
        "--name=hello",
        "--command=echo hello from mesos-execute",
        "--resources=cpus:0.5;mem:64",
    ])
    .arg(format!("--work_dir={}", dir.display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let states: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Received status update "))
        .collect();
    assert_eq!(
        states,
        [
            "TASK_STARTING for task 'hello'",
            "TASK_RUNNING for task 'hello'",
            "TASK_FINISHED for task 'hello'"
        ]
    );
    // The output is in the sandbox.
    let found = walk(&dir, Links::Follow)
        .into_iter()
        .filter(|p| p.ends_with("runs/latest/stdout"))
        .any(|p| std::fs::read_to_string(p).unwrap_or_default() == "hello from mesos-execute\n");
    assert!(
        found,
        "no sandbox stdout with the output under {}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mesos_execute_runs_its_command_inside_a_docker_image() {
    if !images_can_run() {
        return;
    }
    let dir = temp_dir("image");
    let registry = dir.join("registry");
    mesos_containerizer::testimage::write_shell_image(&registry, "tiny/shell:1.0", "tiny-image")
        .unwrap();
    let (out, stdout) = execute_local(
        &dir.join("work"),
        "imaged",
        &[
            "--docker_image=tiny/shell:1.0".into(),
            "--command=read m < /etc/marker; echo $m in $MESOS_SANDBOX; echo /*".into(),
            "--resources=cpus:0.5;mem:64".into(),
            format!("--docker_registry={}", registry.display()),
        ],
    );
    assert_success(&out);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("tiny-image in /mnt/mesos/sandbox"),
        "{stdout}"
    );
    // The root is the image's: no host /home or /usr.
    let root = lines.next().unwrap_or_default();
    assert!(
        root.contains("/etc") && !root.contains("/home") && !root.contains("/usr "),
        "{root}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// docker/runtime: with `--shell=false` and no command the task runs the image's entrypoint
/// and Cmd, with the image's environment, in its WorkingDir; a shell command runs as given, in
/// the WorkingDir too.
#[test]
fn mesos_execute_runs_the_images_own_command_in_its_working_dir() {
    if !images_can_run() {
        return;
    }
    let dir = temp_dir("runtime");
    let registry = dir.join("registry");
    let config = serde_json::json!({
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hello-from-the-image"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo $GREETING in $(pwd)"],
        "WorkingDir": "/tmp",
    });
    mesos_containerizer::testimage::write_shell_image_with(&registry, "tiny/rt:1.0", "rt", config)
        .unwrap();
    let run = |name: &str, extra: &str| {
        let (out, stdout) = execute_local(
            &dir.join(name),
            name,
            &[
                "--docker_image=tiny/rt:1.0".into(),
                "--resources=cpus:0.5;mem:64".into(),
                extra.into(),
                format!("--docker_registry={}", registry.display()),
            ],
        );
        assert_success(&out);
        stdout
    };
    let own = run("own", "--shell=false");
    assert_eq!(own, "hello-from-the-image in /tmp\n");
    let given = run("given", "--command=pwd; echo $GREETING");
    assert_eq!(given, "/tmp\nhello-from-the-image\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real Docker registry (Debian's `docker-registry`) on a free loopback port, its storage in
/// `dir`; `None` (after saying why) when it or `skopeo` is missing, unless
/// `MESOS_RS_REQUIRE_REGISTRY=1` (`.ci/test`).
fn registry(dir: &std::path::Path, htpasswd: Option<&str>) -> Option<(Proc, String)> {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("docker-registry") || !have("skopeo") {
        if std::env::var("MESOS_RS_REQUIRE_REGISTRY").as_deref() == Ok("1") {
            panic!(
                "docker-registry and skopeo are required (apt-get install docker-registry skopeo)"
            );
        }
        println!("skipped: no docker-registry or skopeo; .ci/test installs them");
        return None;
    }
    let port = free_port();
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("registry.yml");
    let mut yml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        dir.join("data").display()
    );
    if let Some(line) = htpasswd {
        let file = dir.join("htpasswd");
        std::fs::write(&file, format!("{line}\n")).unwrap();
        yml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            file.display()
        ));
    }
    std::fs::write(&config, yml).unwrap();
    let mut p = Proc::spawn(
        Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    p.await_listening(&format!("127.0.0.1:{port}"), LIMIT);
    Some((p, format!("127.0.0.1:{port}")))
}

/// Pushes a docker archive to the registry at `addr` as `name`, with skopeo.
fn push(archive: &std::path::Path, addr: &str, name: &str) {
    push_as(archive, addr, name, None)
}

/// [`push`] with credentials (`user:password`).
fn push_as(archive: &std::path::Path, addr: &str, name: &str, creds: Option<&str>) {
    // skopeo reads a ':' in the path as the start of a reference.
    let plain = archive.with_file_name("push.tar");
    std::fs::copy(archive, &plain).unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(creds.map(|c| format!("--dest-creds={c}")))
        .arg(format!("docker-archive:{}", plain.display()))
        .arg(format!("docker://{addr}/{name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
}

/// Images pulled from a real registry (`--docker_registry=http://host:port`): the task runs the
/// pulled image's own command; a second agent with an empty store pulls again, and an image the
/// registry does not have fails the task with the registry's words.
#[test]
fn mesos_execute_pulls_its_image_from_a_docker_registry() {
    if !images_can_run() {
        return;
    }
    let dir = temp_dir("pull");
    let Some((_registry, addr)) = registry(&dir.join("registry"), None) else {
        return;
    };
    let config = serde_json::json!({
        "Env": ["PATH=/usr/bin:/bin", "GREETING=pulled"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo $GREETING; read m < /etc/marker; echo $m"],
    });
    let archive = mesos_containerizer::testimage::write_shell_image_with(
        &dir.join("archives"),
        "tiny/pulled:1.0",
        "from-the-registry",
        config,
    )
    .unwrap();
    push(&archive, &addr, "tiny/pulled:1.0");
    let run = |work: &str, name: &str, image: &str| {
        execute_local(
            &dir.join(work),
            name,
            &[
                "--shell=false".into(),
                "--resources=cpus:0.5;mem:64".into(),
                format!("--docker_image={image}"),
                format!("--docker_registry=http://{addr}"),
            ],
        )
    };
    let (out, stdout) = run("work", "pulled", "tiny/pulled:1.0");
    assert_success(&out);
    assert_eq!(stdout, "pulled\nfrom-the-registry\n");
    // The same image under another name, its layer gone from the registry: the agent's store
    // has the layer, so only the manifest and config are fetched.
    push(&archive, &addr, "tiny/again:2.0");
    let blobs = dir.join("registry/data/docker/registry/v2/blobs");
    let layer = walk(&blobs, Links::Follow)
        .into_iter()
        .filter(|p| p.ends_with("data"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("the layer blob");
    std::fs::remove_file(&layer).unwrap();
    let (out, stdout) = run("work", "again", "tiny/again:2.0");
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(stdout, "pulled\nfrom-the-registry\n");
    // A new store must download it, and cannot.
    let (out, _) = run("fresh", "again", "tiny/again:2.0");
    assert!(!out.status.success(), "pulled a layer the registry lost");
    let (out, _) = run("missing", "missing", "tiny/absent:1.0");
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(said.contains("TASK_FAILED"), "{said}");
    assert!(
        said.contains("MANIFEST_UNKNOWN") || said.contains("NAME_UNKNOWN"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registry that asks for credentials (HTTP Basic, htpasswd): refused without them, pulled
/// with those of `--docker_config`.
#[test]
fn a_registry_asking_for_credentials_gets_those_of_docker_config() {
    if !images_can_run() {
        return;
    }
    let dir = temp_dir("auth");
    // The password's bcrypt hash, as htpasswd -B writes it (Python's crypt on libxcrypt).
    let hash = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .unwrap();
    let hash = text(&hash.stdout).trim().to_string();
    assert!(hash.starts_with("$2"), "no bcrypt hash: {hash:?}");
    let Some((_registry, addr)) = registry(&dir.join("registry"), Some(&format!("ops:{hash}")))
    else {
        return;
    };
    let archive = mesos_containerizer::testimage::write_shell_image(
        &dir.join("archives"),
        "tiny/private:1.0",
        "behind-a-password",
    )
    .unwrap();
    push_as(&archive, &addr, "tiny/private:1.0", Some("ops:s3cret"));
    let run = |name: &str, config: Option<String>| {
        let mut args: Vec<String> = vec![
            "--resources=cpus:0.5;mem:64".into(),
            "--docker_image=tiny/private:1.0".into(),
            "--command=read m < /etc/marker; echo $m".into(),
            format!("--docker_registry=http://{addr}"),
        ];
        args.extend(config.map(|c| format!("--docker_config={c}")));
        execute_local(&dir.join(name), name, &args).0
    };
    let out = run("anonymous", None);
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(said.contains("asks for credentials"), "{said}");
    let auth = mesos_api::serde_util::base64_encode(b"ops:s3cret");
    let config = serde_json::json!({"auths": {(addr.clone()): {"auth": auth}}});
    let out = run("known", Some(config.to_string()));
    assert_success(&out);
    let wrong =
        serde_json::json!({"auths": {(addr.clone()): {"username": "ops", "password": "nope"}}});
    let out = run("wrong", Some(wrong.to_string()));
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("401"), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mesos_execute_exits_nonzero_with_the_failure_printed() {
    let dir = temp_dir("fail");
    let mut c = bin("mesos-execute");
    c.args(["--master=local", "--name=bad", "--command=exit 4"])
        .arg(format!("--work_dir={}", dir.display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("TASK_FAILED for task 'bad'"), "{stdout}");
    assert!(
        stdout.contains("message: 'Command exited with status 4'"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mesos_execute_runs_a_task_group_from_a_file() {
    let dir = temp_dir("group");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("group.json");
    let res = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":0.2}},{"name":"mem","type":"SCALAR","scalar":{"value":32}}]"#;
    std::fs::write(
        &file,
        format!(
            r#"{{"tasks":[
              {{"name":"one","task_id":{{"value":"one"}},"agent_id":{{"value":""}},"resources":{res},"command":{{"value":"true"}}}},
              {{"name":"two","task_id":{{"value":"two"}},"resources":{res},"command":{{"value":"sleep 0.2"}}}}]}}"#
        ),
    )
    .unwrap();
    let mut c = bin("mesos-execute");
    c.arg("--master=local")
        .arg(format!("--task_group={}", file.display()))
        .arg(format!("--work_dir={}", dir.join("work").display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("TASK_FINISHED for task 'one'"), "{stdout}");
    assert!(stdout.contains("TASK_FINISHED for task 'two'"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--tty`: the task's standard streams are a terminal (without it, they are not), and its
/// container is printed, to attach to.
#[test]
fn mesos_execute_tty_gives_the_task_a_terminal() {
    for (tty, ends) in [(true, "TASK_FINISHED"), (false, "TASK_FAILED")] {
        let dir = temp_dir("tty");
        let mut c = bin("mesos-execute");
        c.args([
            "--master=local",
            "--name=term",
            "--command=test -t 0 && test -t 1",
        ])
        .arg(format!("--tty={tty}"))
        .arg(format!("--work_dir={}", dir.display()));
        let out = Proc::run(&mut c, LIMIT);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("{ends} for task 'term'")),
            "--tty={tty}: {stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains("  container: "), "{stdout}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn mesos_execute_runs_a_task_info_from_a_file_with_its_capabilities() {
    let dir = temp_dir("taskinfo");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("task.json");
    std::fs::write(
        &file,
        r#"{"name":"from-file","task_id":{"value":"from-file"},
            "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.2}},
                         {"name":"mem","type":"SCALAR","scalar":{"value":32}}],
            "command":{"value":"echo from a TaskInfo"},
            "labels":{"labels":[{"key":"k","value":"v"}]},
            "discovery":null}"#,
    )
    .unwrap();
    let mut c = bin("mesos-execute");
    c.arg("--master=local")
        .arg(format!("--task={}", file.display()))
        .arg("--framework_capabilities=PARTITION_AWARE,TASK_KILLING_STATE")
        .arg(format!("--work_dir={}", dir.join("work").display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("TASK_FINISHED for task 'from-file'"),
        "{stdout}"
    );
    // What cannot work is refused, naming the flag.
    for (flag, says) in [
        (
            "--framework_capabilities=FLYING",
            "unknown capability 'FLYING'",
        ),
        ("--content_type=xml", "Flag '--content_type'"),
        ("--volumes=[{\"mode\": 7}]", "Flag '--volumes'"),
        ("--volumes=/no/such/file", "cannot read '/no/such/file'"),
    ] {
        let mut c = bin("mesos-execute");
        c.args(["--master=local", "--name=x", "--command=true", flag]);
        let out = Proc::run(&mut c, LIMIT);
        assert!(!out.status.success(), "{flag}");
        assert!(
            text(&out.stderr).contains(says),
            "{flag}: {}",
            text(&out.stderr)
        );
    }
    // --volumes reaches the container: here the agent (posix isolation only) refuses a
    // HOST_PATH volume, and the task fails saying why.
    let mut c = bin("mesos-execute");
    c.args(["--master=local", "--name=vol", "--command=true"])
        .arg(
            r#"--volumes=[{"container_path": "/data", "mode": "RO",
            "source": {"type": "HOST_PATH", "host_path": {"path": "/tmp"}}}]"#,
        )
        .arg(format!("--work_dir={}", dir.join("work-vol").display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("TASK_FAILED"), "{stdout}");
    assert!(stdout.contains("volume/host_path"), "{stdout}");
    // So does --networks: these agents have no network/cni.
    let mut c = bin("mesos-execute");
    c.args([
        "--master=local",
        "--name=net",
        "--command=true",
        "--networks=net1",
    ])
    .arg(format!("--work_dir={}", dir.join("work-net").display()));
    let out = Proc::run(&mut c, LIMIT);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("TASK_FAILED"), "{stdout}");
    assert!(
        stdout.contains("network/cni is not in --isolation"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_exit_with_a_message_naming_the_flag() {
    let agent = ["--master=127.0.0.1:1", "--work_dir=/tmp/x"];
    let execute = ["--master=local", "--name=x", "--command=true"];
    let cases: &[(&str, Vec<&str>, &str)] = &[
        ("mesos-master", vec!["--bogus=1"], "unknown flag 'bogus'"),
        (
            "mesos-master",
            vec!["--allocation_interval=fast"],
            "--allocation_interval",
        ),
        (
            "mesos-master",
            vec!["--port=0", "--logging_level=CHATTY"],
            "Flag '--logging_level': unknown level 'CHATTY'",
        ),
        (
            "mesos-agent",
            vec!["--work_dir=/tmp/x"],
            "Flag '--master' is required",
        ),
        (
            "mesos-agent",
            [&agent[..], &["--resources=cpus:lots"]].concat(),
            "--resources",
        ),
        // The Docker containerizer without a daemon to talk to: the agent says so and exits.
        (
            "mesos-agent",
            [
                &agent[..],
                &[
                    "--containerizers=docker,mesos",
                    "--docker_socket=/nonexistent/docker.sock",
                ],
            ]
            .concat(),
            "the Docker daemon at '/nonexistent/docker.sock' does not answer",
        ),
        (
            "mesos-master",
            vec!["--port=0", "--require_agent_domain"],
            "'--require_agent_domain' needs --domain",
        ),
        (
            "mesos-agent",
            [
                &agent[..],
                &[r#"--domain={"fault_domain": {"region": {"name": "eu"}}}"#],
            ]
            .concat(),
            "Flag '--domain'",
        ),
        (
            "mesos-agent",
            [&agent[..], &["--gc_disk_headroom=1.5"]].concat(),
            "Flag '--gc_disk_headroom' must be between 0.0 and 1.0",
        ),
        (
            "mesos-execute",
            [&execute[..], &["--kill_after=5"]].concat(),
            "--kill_after",
        ),
        (
            "mesos-execute",
            [&execute[..], &["--containerizer=docker"]].concat(),
            "'--containerizer=docker' needs --docker_image",
        ),
    ];
    for (binary, args, says) in cases {
        let out = Proc::run(bin(binary).args(args), LIMIT);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{binary} {args:?}: {err}");
        assert!(err.contains(says), "{binary} {args:?}: {err}");
    }

    // The environment is read too, and named in the error.
    let mut c = bin("mesos-local");
    c.env("MESOS_NUM_AGENTS", "many");
    let out = Proc::run(&mut c, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--num_agents"),
        "{}",
        text(&out.stderr)
    );

    let mut c = bin("mesos-agent");
    c.arg("--help");
    let out = Proc::run(&mut c, LIMIT);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("--work_dir=VALUE"));
}

// ---- a framework in this process against binaries ------------------------------------------

/// A `mesos-agent` of the master on `port` with 2 cpus and 256 MB.
fn spawn_agent(port: u16, dir: &std::path::Path) -> Proc {
    Proc::spawn(
        bin("mesos-agent")
            .args([
                format!("--master=127.0.0.1:{port}"),
                format!("--work_dir={}", dir.display()),
                "--port=0".into(),
                "--resources=cpus:2;mem:256".into(),
                "--registration_backoff_factor=100ms".into(),
            ])
            .stderr(Stdio::null()),
    )
}

/// Launches `sleep 60` as `name` on the first offer and waits for it to be RUNNING.
async fn launch_sleeper(
    pid: &libprocess::PID<SchedulerProcess<Recorder>>,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    name: &str,
) -> Offer {
    let offer = loop {
        if let Seen::Offers(mut o) = next(rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let task = command_task(name, &offer.agent_id, "sleep 60", "cpus:1;mem:64");
    let oid = offer.id.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver().launch(&oid, vec![task], None)
    })
    .await
    .unwrap();
    loop {
        if let Seen::Update(s) = next(rx, LIMIT).await {
            if s.state == TaskState::Running {
                return offer;
            }
        }
    }
}

async fn subscribe(
    port: u16,
) -> (
    Runtime,
    libprocess::PID<SchedulerProcess<Recorder>>,
    mpsc::UnboundedReceiver<Seen>,
) {
    let rt = Runtime::local().await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let master = UPID::new("master", format!("127.0.0.1:{port}").parse().unwrap());
    let pid = mesos_scheduler::start(
        &rt,
        master,
        FrameworkInfo::new("test", "root"),
        Recorder(tx),
    )
    .unwrap();
    (rt, pid, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_an_agent_makes_it_unreachable_and_the_framework_hears_failure() {
    let port = free_port();
    let dir = temp_dir("sigkill");
    let _master = Proc::spawn(
        bin("mesos-master")
            .args([
                format!("--port={port}"),
                "--agent_ping_timeout=200ms".into(),
                "--max_agent_ping_timeouts=2".into(),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    let mut agent = spawn_agent(port, &dir);
    let (_rt, pid, mut rx) = subscribe(port).await;
    let offer = launch_sleeper(&pid, &mut rx, "long").await;
    agent.kill().unwrap(); // SIGKILL
    let mut failure: Option<AgentID> = None;
    let mut lost = false;
    while failure.is_none() || !lost {
        match next(&mut rx, LIMIT).await {
            Seen::Failure(f) => failure = f.agent_id,
            Seen::Update(s) if s.task_id.value == "long" => {
                assert_eq!(s.state, TaskState::Lost, "{s:?}");
                lost = true;
            }
            _ => {}
        }
    }
    assert_eq!(failure, Some(offer.agent_id));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_local_runs_the_asked_number_of_agents() {
    let port = free_port();
    let dir = temp_dir("local");
    let _local = Proc::spawn(
        bin("mesos-local")
            .args([
                format!("--port={port}"),
                "--num_slaves=3".into(),
                format!("--work_dir={}", dir.display()),
                "--resources=cpus:1;mem:128".into(),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    let (_rt, _pid, mut rx) = subscribe(port).await;
    let mut agents = HashSet::new();
    while agents.len() < 3 {
        if let Seen::Offers(os) = next(&mut rx, LIMIT).await {
            for o in os {
                assert_eq!(o.resources.cpus(), 1.0);
                agents.insert(o.agent_id);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_master_restart_the_agent_reregisters_and_its_task_is_reconciled() {
    let port = free_port();
    let dir = temp_dir("restart");
    let master_cmd = || {
        let mut c = bin("mesos-master");
        c.args([
            format!("--port={port}"),
            "--allocation_interval=50ms".into(),
        ])
        .stderr(Stdio::null());
        c
    };
    let mut master = Proc::spawn(&mut master_cmd());
    let _agent = spawn_agent(port, &dir);
    let rt = Runtime::local().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let upid = UPID::new("master", format!("127.0.0.1:{port}").parse().unwrap());
    let mut info = FrameworkInfo::new("survivor", "root");
    info.failover_timeout = 60.0;
    let pid = mesos_scheduler::start(&rt, upid, info, Recorder(tx)).unwrap();
    launch_sleeper(&pid, &mut rx, "kept").await;
    // The master dies and a new one starts on the same address, knowing nothing.
    master.kill().unwrap();
    master.wait().unwrap();
    master = Proc::spawn(&mut master_cmd());
    // The framework resubscribes by itself; once the agent is back, reconciliation finds the task.
    within(
        LIMIT,
        "the task to be reconciled after the restart",
        async {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let subscribed = pid
                    .dispatch(|p: &mut SchedulerProcess<Recorder>, _| {
                        let d = p.driver();
                        if d.is_subscribed() {
                            d.reconcile(vec![(TaskID::new("kept"), None)]);
                        }
                        d.is_subscribed()
                    })
                    .await
                    .unwrap();
                if !subscribed {
                    continue;
                }
                let mut found = None;
                while let Ok(ev) = rx.try_recv() {
                    if let Seen::Update(s) = ev {
                        if s.task_id.value == "kept" {
                            found = Some(s.state);
                        }
                    }
                }
                if let Some(state) = found {
                    if state == TaskState::Running {
                        break;
                    }
                }
            }
        },
    )
    .await;
    drop(master);
    let _ = std::fs::remove_dir_all(&dir);
}
