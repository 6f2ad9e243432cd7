//! Security with the real binaries: HTTP authentication of each endpoint group (realms, 401
//! with a Basic challenge, principals), and the flags that turn it on.

mod common;

use std::process::Stdio;

use common::secure::*;
use common::LIMIT;
use libprocess::http_client::{request, stream, Response};
use mesos_api::protocol::task::{Reason, TaskState};
use serde_json::json;
use testkit::Seen;
use testkit::{free_port, Proc};

/// `path` answers 401 with a Basic challenge in `realm` without credentials and with a wrong
/// secret, and something else with the right ones (returned).
async fn guarded(addr: &str, method: &str, path: &str, body: &str, realm: &str) -> Response {
    for auth in [None, Some(WRONG)] {
        let r = call(addr, method, path, auth, body).await;
        assert_eq!(r.head.status, 401, "{method} {path} with {auth:?}");
        assert_eq!(
            r.head.header("WWW-Authenticate"),
            Some(format!("Basic realm=\"{realm}\"").as_str()),
            "{method} {path}"
        );
    }
    let r = call(addr, method, path, Some(OPS), body).await;
    assert_ne!(r.head.status, 401, "{method} {path} with good credentials");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_masters_endpoints_authenticate_in_their_realms() {
    let creds = Creds::new();
    let (_m, addr) = master(&[
        format!("--credentials=file://{}", creds.file()),
        "--authenticate_http_readonly".into(),
        "--authenticate_http_readwrite".into(),
        "--authenticate_http_frameworks".into(),
        "--http_framework_authenticators=basic".into(),
    ]);
    let ro = "mesos-master-readonly";
    for path in [
        "/master/state",
        "/state",
        "/master/tasks",
        "/master/frameworks",
        "/master/flags",
        "/metrics/snapshot",
    ] {
        let r = guarded(&addr, "GET", path, "", ro).await;
        assert_eq!(r.head.status, 200, "{path}");
    }
    let rw = "mesos-master-readwrite";
    let r = guarded(&addr, "POST", "/api/v1", r#"{"type":"GET_HEALTH"}"#, rw).await;
    assert_eq!(r.head.status, 200);
    for path in ["/master/teardown", "/master/quota", "/master/weights"] {
        guarded(&addr, "POST", path, "", rw).await;
    }
    // Open whatever the flags say.
    for path in ["/health", "/version"] {
        assert_eq!(call(&addr, "GET", path, None, "").await.head.status, 200);
    }
    // An HTTP framework: authenticated in its own realm, as the principal it names.
    let subscribe = |principal: &str| {
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": "sec", "principal": principal}}})
        .to_string()
    };
    let sched = "mesos-master-scheduler";
    let r = call(&addr, "POST", "/api/v1/scheduler", None, &subscribe("ops")).await;
    assert_eq!(r.head.status, 401);
    assert_eq!(
        r.head.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{sched}\"").as_str())
    );
    let r = call(
        &addr,
        "POST",
        "/api/v1/scheduler",
        Some(OPS),
        &subscribe("eve"),
    )
    .await;
    assert_eq!(r.head.status, 400);
    let why = String::from_utf8_lossy(&r.body);
    assert!(
        why.contains("Authenticated principal 'ops' does not match principal 'eve'"),
        "{why}"
    );
    let (head, _events) = stream(
        &addr,
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json"), ("Authorization", OPS)],
        subscribe("ops").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_endpoints_authenticate_in_their_realms() {
    let creds = Creds::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // ops may launch nested containers as nobody only.
    let acls = json!({"launch_nested_containers_as_user": [
        {"principals": {"values": ["ops"]}, "users": {"values": ["nobody"]}},
        {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}]});
    // No master: the agent keeps trying to register, and serves HTTP meanwhile.
    let mut a = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master=127.0.0.1:{}", free_port()))
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", creds.0.join("agent").display()))
            .arg(format!("--http_credentials={}", creds.file()))
            .arg(format!("--acls={acls}"))
            .args([
                "--authenticate_http_readonly",
                "--authenticate_http_readwrite",
                "--launcher=posix",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    a.await_listening(&addr, LIMIT);
    let ro = "mesos-agent-readonly";
    for path in [
        "/slave(1)/state",
        "/state",
        "/files/browse?path=/",
        "/monitor/statistics",
        "/metrics/snapshot",
    ] {
        guarded(&addr, "GET", path, "", ro).await;
    }
    let rw = "mesos-agent-readwrite";
    let r = guarded(&addr, "POST", "/api/v1", r#"{"type":"GET_HEALTH"}"#, rw).await;
    assert_eq!(r.head.status, 200);
    assert_eq!(
        call(&addr, "GET", "/health", None, "").await.head.status,
        200
    );
    // Authorized before anything is looked up: as root, refused; as nobody, allowed (and then
    // the parent is not found).
    let launch = |user: &str| {
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
            "container_id": {"value": "child", "parent": {"value": "no-such-parent"}},
            "command": {"value": "true", "user": user}}})
        .to_string()
    };
    let r = call(&addr, "POST", "/api/v1", Some(OPS), &launch("root")).await;
    assert_eq!(r.head.status, 403);
    let why = String::from_utf8_lossy(&r.body);
    assert!(
        why.contains("not authorized to launch nested containers as user 'root'"),
        "{why}"
    );
    let r = call(&addr, "POST", "/api/v1", Some(OPS), &launch("nobody")).await;
    assert_eq!(r.head.status, 404, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn authentication_flags_that_cannot_work_are_refused_by_name() {
    let creds = Creds::new();
    let cases: [(&str, &[String], &str); 8] = [
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &[r#"--acls={"get_endpoints": []}"#.into()],
            "--acls",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--acls=/nonexistent/acls.json".into()],
            "--acls",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--authenticate_http_readonly".into()],
            "--credentials",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--credentials=/nonexistent/creds".into()],
            "--credentials",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &["--http_authenticators=kerberos".into()],
            "--http_authenticators",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-master"),
            &[
                format!("--credentials={}", creds.file()),
                "--authenticate_http_frameworks".into(),
            ],
            "--http_framework_authenticators",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-agent"),
            &[
                "--master=127.0.0.1:1".into(),
                "--work_dir=/tmp/unused".into(),
                "--authenticate_http_readwrite".into(),
            ],
            "--http_credentials",
        ),
        (
            env!("CARGO_BIN_EXE_mesos-agent"),
            &[
                "--master=127.0.0.1:1".into(),
                "--work_dir=/tmp/unused".into(),
                "--authenticate_http_executors".into(),
            ],
            "--jwt_secret_key",
        ),
    ];
    for (bin, args, named) in cases {
        let out = Proc::run(
            testkit::command(bin)
                .args(args)
                .arg(format!("--port={}", free_port())),
            LIMIT,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
}

/// The distinct real uids of the processes whose command line contains `tag`.
fn uids_of(tag: &str) -> Vec<String> {
    let mut uids: Vec<String> = common::processes(tag)
        .into_iter()
        .filter_map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(1).map(str::to_string)
        })
        .collect();
    uids.sort();
    uids.dedup();
    uids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_decide_who_registers_runs_tears_down_and_sees_what() {
    let creds = Creds::new();
    let c = json!({"credentials": [
        {"principal": "ops", "secret": "s3cret"},
        {"principal": "dev", "secret": "d3v"}]});
    std::fs::write(creds.0.join("credentials.json"), c.to_string()).unwrap();
    // ops sees and tears down everything; dev sees what runs as 'nobody' and may run tasks
    // only as 'nobody'; 'banned' may not register; only ops reads the flags.
    let see = |action: &str| {
        json!([
            {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
            {"principals": {"values": ["dev"]}, "users": {"values": ["nobody"]}},
            {"principals": {"type": "ANY"}, "users": {"type": "NONE"}},
        ])
        .as_array()
        .map(|a| (action.to_string(), json!(a)))
        .unwrap()
    };
    let mut acls = serde_json::Map::new();
    for a in ["view_frameworks", "view_tasks"] {
        let (k, v) = see(a);
        acls.insert(k, v);
    }
    acls.insert(
        "teardown_frameworks".into(),
        json!([
            {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
            {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}},
        ]),
    );
    acls.insert(
        "register_frameworks".into(),
        json!([{"principals": {"values": ["banned"]}, "roles": {"type": "NONE"}}]),
    );
    acls.insert(
        "run_tasks".into(),
        json!([
            {"principals": {"values": ["dev"]}, "users": {"values": ["nobody"]}},
            {"principals": {"values": ["dev"]}, "users": {"type": "NONE"}},
        ]),
    );
    acls.insert(
        "view_flags".into(),
        json!([
            {"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}},
            {"principals": {"type": "ANY"}, "flags": {"type": "NONE"}},
        ]),
    );
    let acls_file = creds.0.join("acls.json");
    std::fs::write(&acls_file, serde_json::Value::Object(acls).to_string()).unwrap();

    let (_m, master) = master(&[
        format!("--credentials={}", creds.file()),
        format!("--acls={}", acls_file.display()),
        "--authenticate_http_readonly".into(),
        "--authenticate_http_readwrite".into(),
        "--allocation_interval=50ms".into(),
    ]);
    let _agent = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master={master}"))
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", creds.0.join("agent").display()))
            .args(["--resources=cpus:4;mem:1024", "--launcher=posix"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    // A framework whose principal may not register with its role is told so.
    let mut banned = framework_of(&master, "banned", "root", "banned").await;
    let s = banned
        .seen("the banned framework's refusal", |s| {
            matches!(s, Seen::Error(_) | Seen::Subscribed(_))
        })
        .await;
    assert!(
        matches!(&s, Seen::Error(m) if m.contains("not authorized to register with role '*'")),
        "{s:?}"
    );

    // dev may run tasks as nobody, not as root.
    let mut dev = framework_of(&master, "dev-fw", "nobody", "dev").await;
    let s = dev.try_launch("as-root", "sleep 93.1", Some("root")).await;
    assert_eq!(s.state, TaskState::Error, "{s:?}");
    assert_eq!(s.reason, Some(Reason::TaskUnauthorized), "{s:?}");
    dev.launch("dev-task", "sleep 93.2").await;
    let mut ops = framework_of(&master, "ops-fw", "root", "ops").await;
    ops.launch("ops-task", "sleep 93.3").await;
    // Each task runs as its framework's user (the agent runs as root in CI).
    if nix::unistd::geteuid().is_root() {
        assert_eq!(
            uids_of("sleep 93.2"),
            ["65534"],
            "dev's task runs as nobody"
        );
        assert_eq!(uids_of("sleep 93.3"), ["0"], "ops's task runs as root");
    } else {
        println!("not root: tasks cannot change user; their uids are not checked");
    }

    // What each principal sees.
    let state = |who: &'static str| {
        let master = master.clone();
        async move {
            let r = call(&master, "GET", "/master/state", Some(who), "").await;
            assert_eq!(r.head.status, 200);
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
        }
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = v["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let all = state(OPS).await;
    assert_eq!(names(&all), ["dev-fw", "ops-fw"]);
    assert!(all.get("flags").is_some());
    let mine = state(DEV).await;
    assert_eq!(names(&mine), ["dev-fw"]);
    assert_eq!(mine["frameworks"][0]["tasks"][0]["id"], "dev-task");
    assert!(mine.get("flags").is_none(), "dev may not view the flags");
    let r = call(&master, "GET", "/master/tasks", Some(DEV), "").await;
    let tasks: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let ids: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"dev-task") && !ids.contains(&"ops-task"),
        "{ids:?}"
    );
    let r = call(
        &master,
        "POST",
        "/api/v1",
        Some(DEV),
        r#"{"type":"GET_TASKS"}"#,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let live = v["get_tasks"]["tasks"].as_array().unwrap();
    assert_eq!(live.len(), 1, "{v}");
    assert_eq!(live[0]["task_id"]["value"], "dev-task");
    // The operator stream's first event (the state) is filtered the same way.
    let (head, mut events) = stream(
        &master,
        "POST",
        "/api/v1",
        &[("Content-Type", "application/json"), ("Authorization", DEV)],
        br#"{"type":"SUBSCRIBE"}"#,
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
    let first = events.next_record().await.unwrap().unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let fws = &first["subscribed"]["get_state"]["get_frameworks"]["frameworks"];
    assert_eq!(fws.as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(
        call(&master, "GET", "/master/flags", Some(DEV), "")
            .await
            .head
            .status,
        403
    );
    assert_eq!(
        call(&master, "GET", "/master/flags", Some(OPS), "")
            .await
            .head
            .status,
        200
    );

    // Only ops tears frameworks down.
    let dev_id = dev.id().await.unwrap();
    let body = format!("frameworkId={}", dev_id.value);
    let teardown = |who: &'static str| {
        let (master, body) = (master.clone(), body.clone());
        async move {
            let headers = [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", who),
            ];
            request(
                &master,
                "POST",
                "/master/teardown",
                &headers,
                body.as_bytes(),
            )
            .await
            .unwrap()
        }
    };
    let r = teardown(DEV).await;
    assert_eq!(r.head.status, 403);
    let why = String::from_utf8_lossy(&r.body);
    assert!(
        why.contains("Principal 'dev' is not authorized to tear down"),
        "{why}"
    );
    assert_eq!(teardown(OPS).await.head.status, 200);
    common::processes_end(LIMIT, "sleep 93.2").await;
    common::kill_all("sleep 93.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_take_over_a_connected_agents_address() {
    let creds = Creds::new();
    let (_m, master) = master(&[]);
    let _agent = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master={master}"))
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", creds.0.join("agent").display()))
            .args(["--resources=cpus:1;mem:128", "--launcher=posix"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let agent = testkit::Eventually::new(LIMIT, "the agent to register")
        .until_async(|| async {
            let v = testkit::http::json(&master, "/master/state").await?;
            let a = &v["slaves"][0];
            match (a["id"].as_str(), a["pid"].as_str()) {
                (Some(id), Some(pid)) => Ok((id.to_string(), pid.to_string())),
                _ => Err(format!("{v}")),
            }
        })
        .await;
    // Another node reregisters "as" that agent, from its own (real) address.
    let rt = libprocess::Runtime::bind(libprocess::Config::default())
        .await
        .unwrap();
    let me = libprocess::UPID::new("slave(1)", rt.address());
    let to = libprocess::UPID::new("master", master.parse().unwrap());
    let forged = mesos_api::messages::ReregisterAgent {
        agent: mesos_api::protocol::framework::AgentInfo {
            hostname: "impostor".into(),
            port: rt.address().port() as i32,
            resources: Default::default(),
            attributes: Default::default(),
            id: Some(mesos_api::AgentID::new(agent.0.clone())),
            domain: None,
        },
        version: mesos_api::MESOS_VERSION.into(),
        capabilities: Vec::new(),
        checkpointed_resources: Default::default(),
        executor_infos: Vec::new(),
        tasks: Vec::new(),
        frameworks: Vec::new(),
    };
    use mesos_api::messages::WireMessage;
    rt.send_named(&me, &to, mesos_api::messages::ReregisterAgent::NAME, forged);
    testkit::Eventually::new(LIMIT, "the forged reregistration to be refused")
        .until_async(|| async {
            let v = testkit::http::json(&master, "/metrics/snapshot").await?;
            let n = v["master/slave_reregistrations_refused"].as_f64();
            if n == Some(1.0) {
                Ok(())
            } else {
                Err(format!("refused: {n:?}"))
            }
        })
        .await;
    let v = testkit::http::json(&master, "/master/state").await.unwrap();
    let a = &v["slaves"][0];
    assert_eq!(a["pid"], agent.1.as_str(), "{a}");
    assert_ne!(a["hostname"], "impostor", "{a}");
    assert_eq!(a["active"], true, "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_frameworks_authenticate_before_they_register() {
    let creds = Creds::new();
    let c = json!({"credentials": [
        {"principal": "ops", "secret": "s3cret"},
        {"principal": "agent1", "secret": "4g3nt"}]});
    std::fs::write(creds.0.join("credentials.json"), c.to_string()).unwrap();
    let good = creds.0.join("agent-good.json");
    std::fs::write(
        &good,
        json!({"principal": "agent1", "secret": "4g3nt"}).to_string(),
    )
    .unwrap();
    let bad = creds.0.join("agent-bad.txt");
    std::fs::write(&bad, "agent1 guessed\n").unwrap();

    let (_m, master) = master(&[
        format!("--credentials={}", creds.file()),
        "--authenticate_agents".into(),
        "--authenticate_frameworks".into(),
        "--authenticate_http_frameworks".into(),
        "--http_framework_authenticators=basic".into(),
        "--allocation_interval=50ms".into(),
    ]);
    let agent = |name: &str, credential: Option<&std::path::Path>| {
        let mut c = testkit::command(env!("CARGO_BIN_EXE_mesos-agent"));
        c.arg(format!("--master={master}"))
            .arg(format!("--port={}", free_port()))
            .arg(format!("--work_dir={}", creds.0.join(name).display()))
            .args([
                "--resources=cpus:2;mem:256",
                "--launcher=posix",
                "--registration_backoff_factor=100ms",
            ]);
        if let Some(p) = credential {
            c.arg(format!("--credential={}", p.display()));
        }
        c
    };
    let metric = |name: &'static str| {
        let master = master.clone();
        async move {
            let v = testkit::http::json(&master, "/metrics/snapshot")
                .await
                .unwrap();
            v[name].as_f64().unwrap_or(-1.0)
        }
    };
    let slaves = || {
        let master = master.clone();
        async move {
            let v = testkit::http::json(&master, "/master/state").await.unwrap();
            v["slaves"].as_array().map_or(0, Vec::len)
        }
    };

    // Without a credential an agent is refused (and counted), again and again.
    let mut plain = agent("plain", None);
    let plain = Proc::spawn(plain.stdout(Stdio::null()).stderr(Stdio::null()));
    testkit::Eventually::new(LIMIT, "the unauthenticated agent to be refused")
        .until_async(|| async {
            let n = metric("master/unauthenticated_refusals").await;
            if n >= 2.0 {
                Ok(())
            } else {
                Err(format!("refusals: {n}"))
            }
        })
        .await;
    assert_eq!(slaves().await, 0);
    drop(plain);
    // A wrong secret: the master refuses it and the agent exits saying so.
    let out = Proc::run(&mut agent("bad", Some(&bad)), LIMIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Master refused authentication"), "{err}");
    assert_eq!(slaves().await, 0);
    // The right one registers.
    let mut good_agent = agent("good", Some(&good));
    let _good = Proc::spawn(good_agent.stdout(Stdio::null()).stderr(Stdio::null()));
    testkit::Eventually::new(LIMIT, "the authenticated agent to register")
        .until_async(|| async {
            match slaves().await {
                1 => Ok(()),
                n => Err(format!("{n} agents")),
            }
        })
        .await;

    // Frameworks: refused without credentials, refused with a wrong secret, served with the
    // right one.
    let execute = |extra: &[&str]| {
        let mut c = testkit::command(env!("CARGO_BIN_EXE_mesos-execute"));
        c.arg(format!("--master={master}"))
            .args([
                "--name=authn",
                "--command=true",
                "--resources=cpus:0.5;mem:32",
            ])
            .args(extra);
        Proc::run(&mut c, LIMIT)
    };
    let out = execute(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("is not authenticated"), "{err}");
    let out = execute(&["--principal=ops", "--secret=wrong"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Master refused authentication"), "{err}");
    let out = execute(&["--principal=ops", "--secret=s3cret"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("TASK_FINISHED"), "{text}");
    // Over the v1 HTTP API (--content_type): HTTP Basic, checked by
    // --authenticate_http_frameworks.
    for (extra, refused) in [
        (&["--content_type=protobuf"][..], true),
        (
            &["--content_type=json", "--principal=ops", "--secret=wrong"],
            true,
        ),
        (
            &[
                "--content_type=protobuf",
                "--principal=ops",
                "--secret=s3cret",
            ],
            false,
        ),
    ] {
        let out = execute(extra);
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if refused {
            assert!(!out.status.success(), "{extra:?}: {text}{err}");
            assert!(err.contains("SUBSCRIBE answered 401"), "{extra:?}: {err}");
        } else {
            assert!(out.status.success(), "{extra:?}: {text}{err}");
            assert!(text.contains("TASK_FINISHED"), "{text}");
        }
    }
    let v = testkit::http::json(&master, "/master/state").await.unwrap();
    let done = &v["completed_frameworks"];
    let by_ops = done
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["principal"] == "ops")
        .count();
    assert_eq!(by_ops, 2, "{done}");
    assert!(metric("master/authentication_failures").await >= 2.0);
}

/// An agent of `master` that gives its executors tokens signed with "an executor secret"
/// (`--authenticate_http_executors`), with `extra` flags: (its process, `ip:port`).
fn token_agent(creds: &Creds, master: &str, extra: &[&str]) -> (Proc, String) {
    let key = creds.0.join("jwt.key");
    std::fs::write(&key, "an executor secret").unwrap();
    let port = free_port();
    let agent = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .arg(format!("--master={master}"))
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", creds.0.join("agent").display()))
            .arg(format!("--jwt_secret_key={}", key.display()))
            .args([
                "--authenticate_http_executors",
                "--resources=cpus:2;mem:256",
                "--launcher=posix",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    (agent, format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_use_their_own_token_and_only_for_themselves() {
    let creds = Creds::new();
    let (_m, master) = master(&["--allocation_interval=50ms".into()]);
    let (_agent, agent_addr) = token_agent(&creds, &master, &[]);
    // The command executor subscribes and reports with its token: the task runs.
    let mut f = framework_of(&master, "tokens", "root", "ops").await;
    f.launch("tok", "sleep 94.1").await;
    let fid = f.id().await.unwrap().value;
    let path = "/slave(1)/api/v1/executor";
    let update = json!({"type": "MESSAGE", "framework_id": {"value": fid},
        "executor_id": {"value": "tok"}, "message": {"data": ""}})
    .to_string();
    // No token, or one signed with another key: 401 in the executor realm.
    let r = call(&agent_addr, "POST", path, None, &update).await;
    assert_eq!(r.head.status, 401);
    assert_eq!(
        r.head.header("WWW-Authenticate"),
        Some("Bearer realm=\"mesos-agent-executor\"")
    );
    let claims = |eid: &str| json!({"fid": fid, "eid": eid, "cid": "c"});
    let forged = mesos_api::auth::jwt_sign(b"guessed", &claims("tok"));
    let r = call(
        &agent_addr,
        "POST",
        path,
        Some(&format!("Bearer {forged}")),
        &update,
    )
    .await;
    assert_eq!(r.head.status, 401);
    // A valid token of another executor does not speak for this one.
    let other = mesos_api::auth::jwt_sign(b"an executor secret", &claims("other"));
    let r = call(
        &agent_addr,
        "POST",
        path,
        Some(&format!("Bearer {other}")),
        &update,
    )
    .await;
    assert_eq!(r.head.status, 403, "{}", String::from_utf8_lossy(&r.body));
    common::kill_all("sleep 94.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_tokens_open_the_operator_api_to_their_own_nested_containers_only() {
    use mesos_api::protocol::task::{ExecutorInfo, TaskGroupInfo};
    use mesos_scheduler::SchedulerProcess;
    use testkit::Recorder;

    let creds = Creds::new();
    let (_m, master) = master(&["--allocation_interval=50ms".into()]);
    let http_credentials = format!("--http_credentials={}", creds.file());
    let (_agent, agent_addr) = token_agent(
        &creds,
        &master,
        &[&http_credentials, "--authenticate_http_readwrite"],
    );
    // A default executor launches its task group's nested containers on the guarded operator
    // API with its own token: the tasks run.
    let mut f = framework_of(&master, "group-tokens", "root", "ops").await;
    let offer = loop {
        if let Seen::Offers(mut o) = testkit::next(&mut f.rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let executor = ExecutorInfo::default_executor(
        mesos_api::ExecutorID::new("default"),
        mesos_api::Resources::parse("cpus:0.1;mem:32", "*").unwrap(),
    );
    let tasks = vec![testkit::command_task(
        "grouped",
        &offer.agent_id,
        "echo grouped",
        "cpus:0.5;mem:32",
    )];
    let oid = offer.id.clone();
    f.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver()
                .launch_group(&oid, executor, TaskGroupInfo { tasks }, None)
        })
        .await
        .unwrap();
    let s = f.state_of("grouped", |s| s.is_terminal()).await;
    assert_eq!(s.state, TaskState::Finished, "{s:?}");

    // Tokens on the operator API: only nested containers of the token's own container.
    let fid = f.id().await.unwrap().value;
    let token = |cid: &str| {
        let claims = json!({"fid": fid, "eid": "default", "cid": cid});
        format!(
            "Bearer {}",
            mesos_api::auth::jwt_sign(b"an executor secret", &claims)
        )
    };
    let launch = |parent: &str| {
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
            "container_id": {"value": "intruder", "parent": {"value": parent}},
            "command": {"value": "true"}}})
        .to_string()
    };
    let mine = token("mine");
    let r = call(
        &agent_addr,
        "POST",
        "/slave(1)/api/v1",
        Some(&mine),
        &launch("yours"),
    )
    .await;
    assert_eq!(r.head.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let state = json!({"type": "GET_STATE"}).to_string();
    let r = call(&agent_addr, "POST", "/slave(1)/api/v1", Some(&mine), &state).await;
    assert_eq!(r.head.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let forged = format!(
        "Bearer {}",
        mesos_api::auth::jwt_sign(b"guessed", &json!({"cid": "mine"}))
    );
    let r = call(
        &agent_addr,
        "POST",
        "/slave(1)/api/v1",
        Some(&forged),
        &state,
    )
    .await;
    assert_eq!(r.head.status, 401);
    // Operators still use their Basic credentials.
    let r = call(&agent_addr, "POST", "/slave(1)/api/v1", None, &state).await;
    assert_eq!(r.head.status, 401);
    let r = call(&agent_addr, "POST", "/slave(1)/api/v1", Some(OPS), &state).await;
    assert_eq!(r.head.status, 200);
}
