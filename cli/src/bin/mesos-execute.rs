//! `mesos-execute`: runs one command (or a task group) as a framework and prints each status
//! update; exits 0 when every task FINISHED and 1 otherwise. `--master=local` starts a master
//! and an agent in this process first.

use std::collections::HashSet;
use std::time::Duration;

use mesos_agent::AgentFlags;
use mesos_api::protocol::container::{
    ContainerInfo, DockerImage, Image, ImageType, MesosInfo, TtyInfo,
};
use mesos_api::protocol::framework::{FrameworkCapability, FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::offer::{Filters, Offer};
use mesos_api::protocol::task::{
    CommandInfo, Environment, ExecutorInfo, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
    Variable, VariableType,
};
use mesos_api::{ExecutorID, FrameworkID, Resources, TaskID};
use mesos_cli::flags::load_or_exit;
use mesos_cli::{die, start_agent, start_master};
use mesos_detector::MasterSpec;
use mesos_master::MasterFlags;
use mesos_scheduler::{Driver, Encoding, Scheduler, SchedulerProcess, Transport};
use tokio::sync::mpsc;

libprocess::flags! {
    /// `mesos-execute`'s flags.
    struct ExecuteFlags {
        /// The master (host:port, zk://host:port[,...]/path, file:///path), or 'local' for an embedded master and agent
        master: String;
        /// ZooKeeper session timeout (with --master=zk://...)
        zk_session_timeout: Duration = "10secs", check libprocess::flags::check::positive;
        /// Name of the task (also its id)
        name: Option<String>;
        /// Shell command to run
        command: Option<String>;
        /// Resources of the task
        resources: String = "cpus:1;mem:128";
        /// A JSON file holding a TaskGroupInfo, run under the default executor
        task_group: Option<String>;
        /// A JSON file holding a TaskInfo (its agent_id may be left out), instead of --command
        task: Option<String>;
        /// Comma-separated framework capabilities to enable besides MULTI_ROLE (e.g. PARTITION_AWARE,TASK_KILLING_STATE)
        framework_capabilities: Option<String>;
        /// Speak the v1 HTTP scheduler API in this encoding: 'json' or 'protobuf' (unset: the binary transport)
        content_type: Option<String>, check content_type;
        /// Whether the framework checkpoints (survives agent restarts)
        checkpoint: bool = "false";
        /// Kill the task this long after it is RUNNING (e.g. 10secs)
        kill_after: Option<Duration>;
        /// Environment of the command as a JSON object, e.g. '{"K":"V"}'
        env: Option<String>;
        /// Run --command through /bin/sh -c
        shell: bool = "true";
        /// Run --command inside this image (repo:tag), from the agents' --docker_registry
        docker_image: Option<String>;
        /// The containerizer for --docker_image: 'mesos' (the agents' provisioner) or 'docker' (a container of type DOCKER, for agents with --containerizers naming docker)
        containerizer: String = "mesos", check containerizer;
        /// With --master=local: where the agents get images (a registry URL http(s)://host:port, or a directory of local images)
        docker_registry: Option<String>;
        /// With --master=local: the agents' credentials for the registry (Docker's config.json, inline or a file)
        docker_config: Option<String>;
        /// Volumes of --command's container: a JSON array of v1 Volume objects, or a file holding one (file:///path or /path)
        volumes: Option<String>;
        /// CNI networks for the task's container to join, comma separated (the agents need --isolation with network/cni)
        networks: Option<String>;
        /// Give the task a terminal (its container's tty_info): attach to it with ATTACH_CONTAINER_INPUT/OUTPUT on the agent
        tty: bool = "false";
        /// Role to register with
        role: String = "*", check role;
        /// Name of the framework
        framework_name: String = "mesos-execute instance";
        /// With --master=local: the number of agents
        num_agents: usize = "1";
        /// With --master=local: the agents' work dir (default: a new directory in /tmp)
        work_dir: Option<String>;
        /// The principal to authenticate with (with --secret), and the framework's principal
        principal: Option<String>;
        /// The secret of --principal
        secret: Option<String>;
        /// A credential file instead of --principal and --secret: JSON {"principal":..,"secret":..} or a 'principal secret' line
        credential: Option<String>;
    }
}

/// `--content_type`: the v1 HTTP scheduler API in JSON or protobuf (Mesos's names, or their
/// media types).
fn containerizer(name: &str, v: &str) -> Result<(), String> {
    match v {
        "mesos" | "docker" => Ok(()),
        _ => Err(format!("Flag '--{name}': '{v}' is not 'mesos' or 'docker'")),
    }
}

fn content_type(name: &str, v: &Option<String>) -> Result<(), String> {
    match v.as_deref() {
        Some(v) if encoding(v).is_none() => Err(format!(
            "Flag '--{name}': '{v}' is not 'json' or 'protobuf'"
        )),
        _ => Ok(()),
    }
}

fn encoding(v: &str) -> Option<Encoding> {
    match v {
        "json" | "application/json" => Some(Encoding::Json),
        "protobuf" | "application/x-protobuf" => Some(Encoding::Protobuf),
        _ => None,
    }
}

/// The capabilities `--framework_capabilities` names, besides MULTI_ROLE.
fn capabilities(f: &ExecuteFlags) -> Result<Vec<FrameworkCapability>, String> {
    let mut out = vec![FrameworkCapability {
        kind: Some(FrameworkCapabilityType::MultiRole),
    }];
    for name in f
        .framework_capabilities
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let kind: FrameworkCapabilityType = serde_json::from_value(serde_json::json!(name))
            .map_err(|_| format!("Flag '--framework_capabilities': unknown capability '{name}'"))?;
        if kind == FrameworkCapabilityType::Unknown {
            return Err(format!(
                "Flag '--framework_capabilities': unknown capability '{name}'"
            ));
        }
        if !out.iter().any(|c| c.kind == Some(kind)) {
            out.push(FrameworkCapability { kind: Some(kind) });
        }
    }
    Ok(out)
}

/// `--volumes`: inline JSON, or a file of it.
fn volumes(text: &str) -> Result<Vec<mesos_api::protocol::container::Volume>, String> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('[') {
        text.to_string()
    } else {
        let path = text.strip_prefix("file://").unwrap_or(text);
        std::fs::read_to_string(path)
            .map_err(|e| format!("Flag '--volumes': cannot read '{path}': {e}"))?
    };
    let v: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| format!("Flag '--volumes': not a JSON array of volumes: {e}"))?;
    mesos_api::protocol::from_json(&v).map_err(|e| format!("Flag '--volumes': {e}"))
}

/// `--role` must be a valid role name.
fn role(name: &str, r: &str) -> Result<(), String> {
    mesos_api::roles::validate(r).map_err(|e| format!("Flag '--{name}': {e}"))
}

enum Plan {
    Task(Box<TaskInfo>),
    Group(Box<ExecutorInfo>, TaskGroupInfo),
}

enum Msg {
    Running(TaskID),
    Done(i32),
}

struct Execute {
    plan: Option<Plan>,
    need: Resources,
    pending: HashSet<TaskID>,
    all_finished: bool,
    tx: mpsc::UnboundedSender<Msg>,
}

fn print_status(s: &TaskStatus) {
    println!(
        "Received status update {} for task '{}'",
        s.state.as_str(),
        s.task_id
    );
    if let Some(src) = s.source {
        println!("  source: {}", src.as_str());
    }
    if let Some(r) = s.reason {
        println!("  reason: {}", r.as_str());
    }
    if let Some(m) = &s.message {
        println!("  message: '{m}'");
    }
    // Its container, to attach to (ATTACH_CONTAINER_OUTPUT / _INPUT with --tty).
    if s.state == TaskState::Running {
        if let Some(id) = s
            .container_status
            .as_ref()
            .and_then(|c| c.container_id.as_ref())
        {
            println!("  container: {}", id.value);
        }
    }
}

impl Scheduler for Execute {
    fn subscribed(&mut self, _: &mut Driver, id: &FrameworkID) {
        println!("Subscribed with ID {id}");
    }

    fn offers(&mut self, d: &mut Driver, offers: Vec<Offer>) {
        let mut unused = Vec::new();
        for o in offers {
            let fits = self.plan.is_some() && o.resources.unallocate().contains(&self.need);
            if !fits {
                unused.push(o.id);
                continue;
            }
            match self.plan.take().expect("checked") {
                Plan::Task(mut t) => {
                    t.agent_id = o.agent_id.clone();
                    println!("Submitted task '{}' to agent '{}'", t.name, o.agent_id);
                    self.pending.insert(t.task_id.clone());
                    d.launch(&o.id, vec![*t], None);
                }
                Plan::Group(e, mut g) => {
                    for t in g.tasks.iter_mut() {
                        t.agent_id = o.agent_id.clone();
                        self.pending.insert(t.task_id.clone());
                    }
                    let names: Vec<&str> = g.tasks.iter().map(|t| t.name.as_str()).collect();
                    println!(
                        "Submitted task group with tasks [ {} ] to agent '{}'",
                        names.join(", "),
                        o.agent_id
                    );
                    d.launch_group(&o.id, *e, g, None);
                }
            }
            d.suppress(Vec::new());
        }
        if !unused.is_empty() {
            d.decline(
                unused,
                Some(Filters {
                    refuse_seconds: 1.0,
                }),
            );
        }
    }

    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        print_status(s);
        if s.state == TaskState::Running {
            let _ = self.tx.send(Msg::Running(s.task_id.clone()));
        }
        if s.state.is_terminal() && self.pending.remove(&s.task_id) {
            if s.state != TaskState::Finished {
                self.all_finished = false;
            }
            if self.pending.is_empty() {
                let _ = self
                    .tx
                    .send(Msg::Done(if self.all_finished { 0 } else { 1 }));
            }
        }
    }

    fn error(&mut self, _: &mut Driver, message: &str) {
        eprintln!("Received an ERROR event: {message}");
        let _ = self.tx.send(Msg::Done(1));
    }
}

fn environment(f: &ExecuteFlags) -> Result<Option<Environment>, String> {
    let Some(text) = f.env.as_deref() else {
        return Ok(None);
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Flag '--env': not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("Flag '--env': expecting a JSON object of names to values")?;
    let mut variables = Vec::new();
    for (k, v) in obj {
        let value = v
            .as_str()
            .ok_or_else(|| format!("Flag '--env': the value of '{k}' is not a string"))?;
        variables.push(Variable {
            name: k.clone(),
            kind: VariableType::Value,
            value: Some(value.to_string()),
        });
    }
    Ok(Some(Environment { variables }))
}

/// A JSON file's value, with `agent_id` filled in (as empty: the offer decides) on each task
/// object `tasks` finds.
fn read_json_file(
    flag: &str,
    path: &str,
    tasks: impl Fn(&mut serde_json::Value) -> Vec<&mut serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Flag '--{flag}': cannot read '{path}': {e}"))?;
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("Flag '--{flag}': '{path}' is not JSON: {e}"))?;
    for t in tasks(&mut v) {
        if let Some(o) = t.as_object_mut() {
            o.entry("agent_id")
                .or_insert_with(|| serde_json::json!({"value": ""}));
        }
    }
    Ok(v)
}

fn plan(f: &ExecuteFlags, role: &str) -> Result<(Plan, Resources), String> {
    if let Some(path) = f.task.as_deref() {
        if f.command.is_some() || f.task_group.is_some() {
            return Err("Flag '--task' replaces --command and --task_group".into());
        }
        let v = read_json_file("task", path, |v| vec![v])?;
        let mut t: TaskInfo =
            mesos_api::protocol::from_json(&v).map_err(|e| format!("Flag '--task': {e}"))?;
        t.resources = t.resources.unallocate();
        let need = t.resources.clone();
        return Ok((Plan::Task(Box::new(t)), need));
    }
    match (f.task_group.as_deref(), f.command.as_deref()) {
        (Some(_), Some(_)) => Err("Either --command or --task_group, not both".into()),
        (None, None) if f.docker_image.is_none() || f.shell => {
            Err("One of --command, --task or --task_group is required (or --docker_image with --shell=false, to run the image's own command)".into())
        }
        (None, cmd) => {
            let name = f
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .ok_or("Flag '--name' is required")?;
            let need = Resources::parse_flag(&f.resources, role)
                .map_err(|e| format!("Flag '--resources': {e}"))?;
            let mut command = match cmd {
                Some(cmd) if f.shell => CommandInfo::shell(cmd),
                Some(cmd) => {
                    let mut c = CommandInfo::shell(cmd);
                    c.shell = false;
                    c.arguments = cmd.split_whitespace().map(str::to_string).collect();
                    c
                }
                // The image's entrypoint and command (docker/runtime), as Mesos's mesos-execute.
                None => {
                    let mut c = CommandInfo::shell("");
                    c.shell = false;
                    c.value = None;
                    c
                }
            };
            command.environment = environment(f)?;
            let volumes = f.volumes.as_deref().map(volumes).transpose()?;
            let networks: Vec<String> = f
                .networks
                .as_deref()
                .map(|n| {
                    n.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let container = if f.containerizer == "docker" {
                let image = f
                    .docker_image
                    .clone()
                    .ok_or("Flag '--containerizer=docker' needs --docker_image")?;
                if f.tty {
                    return Err("Flag '--tty' is for the mesos containerizer".into());
                }
                if !f.shell {
                    // Docker takes the argv after the image (Mesos's docker runs the value
                    // and then the arguments).
                    command.value = None;
                }
                let c = ContainerInfo {
                    kind: mesos_api::protocol::container::ContainerType::Docker,
                    docker: Some(mesos_api::protocol::container::DockerInfo {
                        image,
                        network: Some(if networks.is_empty() { "HOST" } else { "USER" }.into()),
                        ..Default::default()
                    }),
                    mesos: None,
                    volumes: volumes.unwrap_or_default(),
                    network_infos: networks
                        .iter()
                        .map(|n| mesos_api::protocol::container::NetworkInfo {
                            name: Some(n.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..ContainerInfo::mesos()
                };
                Some(c)
            } else {
                (f.docker_image.is_some()
                || volumes.is_some()
                || f.tty
                || !networks.is_empty())
            .then(|| {
                let mut c = ContainerInfo::mesos();
                c.mesos = f.docker_image.as_deref().map(|name| MesosInfo {
                    image: Some(Image {
                        kind: ImageType::Docker,
                        docker: Some(DockerImage { name: name.into() }),
                        cached: None,
                    }),
                });
                c.volumes = volumes.unwrap_or_default();
                c.tty_info = f.tty.then(TtyInfo::default);
                c.network_infos = networks
                    .iter()
                    .map(|n| mesos_api::protocol::container::NetworkInfo {
                        name: Some(n.clone()),
                        ..Default::default()
                    })
                    .collect();
                c
            })
            };
            let t = TaskInfo {
                name: name.clone(),
                task_id: TaskID::new(name),
                agent_id: mesos_api::AgentID::new(""),
                resources: need.clone(),
                executor: None,
                command: Some(command),
                kill_policy: None,
                data: None,
                labels: None,
                container,
                health_check: None,
                check: None,
                discovery: None,
                limits: None,
                max_completion_time: None,
            };
            Ok((Plan::Task(Box::new(t)), need))
        }
        (Some(path), None) => {
            // The agent is chosen from the offer: an absent agent_id is fine.
            let v = read_json_file("task_group", path, |v| {
                v.get_mut("tasks")
                    .and_then(|t| t.as_array_mut())
                    .map(|a| a.iter_mut().collect())
                    .unwrap_or_default()
            })?;
            let g: TaskGroupInfo = mesos_api::protocol::from_json(&v)
                .map_err(|e| format!("Flag '--task_group': {e}"))?;
            if g.tasks.is_empty() {
                return Err("Flag '--task_group': the group has no tasks".into());
            }
            let executor = ExecutorInfo::default_executor(
                ExecutorID::new(format!(
                    "default-executor-{}",
                    &mesos_api::ids::new_uuid()[..8]
                )),
                Resources::parse("cpus:0.1;mem:32;disk:32", role).map_err(|e| e.to_string())?,
            );
            let mut need = executor.resources.clone();
            for t in &g.tasks {
                need.add_all(&t.resources.unallocate());
            }
            Ok((Plan::Group(Box::new(executor), g), need))
        }
    }
}

fn main() {
    mesos_agent::executor::run_if_requested();
    let f = ExecuteFlags::from_flags(&load_or_exit("mesos-execute", ExecuteFlags::FLAGS))
        .unwrap_or_else(|e| die(e));
    let master = f.master.clone();
    if master.is_empty() {
        die("Flag '--master' is required");
    }
    for (name, set) in [
        ("docker_registry", f.docker_registry.is_some()),
        ("docker_config", f.docker_config.is_some()),
    ] {
        if set && master != "local" {
            die(format!(
                "Flag '--{name}' configures the agents of --master=local; a cluster's agents have their own"
            ));
        }
    }
    let role = f.role.clone();
    let (plan, need) = plan(&f, &role).unwrap_or_else(|e| die(e));
    let caps = capabilities(&f).unwrap_or_else(|e| die(e));
    let kill_after = f.kill_after;
    let checkpoint = f.checkpoint;
    let zk_session_timeout = f.zk_session_timeout;
    let transport = match f.content_type.as_deref().and_then(encoding) {
        Some(e) => Transport::Http(e),
        None => Transport::Binary,
    };
    let credential = match (&f.principal, &f.secret, &f.credential) {
        (None, None, None) => None,
        (Some(p), Some(s), None) => Some(mesos_api::auth::Credential {
            principal: p.clone(),
            secret: s.clone(),
        }),
        (None, None, Some(file)) => Some(
            mesos_api::auth::read_credential(file)
                .unwrap_or_else(|e| die(format!("Flag '--credential': {e}"))),
        ),
        (Some(_), None, None) => die("Flag '--principal' needs '--secret'"),
        (None, Some(_), None) => die("Flag '--secret' needs '--principal'"),
        _ => {
            die("Flag '--credential' replaces '--principal' and '--secret': give one or the other")
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| die(format!("cannot start: {e}")));
    let code = rt.block_on(async move {
        // TLS as the LIBPROCESS_SSL_* environment says (the master may require it).
        let tls = libprocess::tls::Tls::from_env().unwrap_or_else(|e| die(format!("TLS: {e}")));
        // LIBPROCESS_IP: the address to listen on and advertise, as for Mesos's binaries (a
        // master reached on another interface than loopback needs it).
        let ip = match std::env::var("LIBPROCESS_IP") {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| die(format!("LIBPROCESS_IP: '{v}' is not an IP address"))),
            Err(_) => libprocess::Config::default().ip,
        };
        let r = libprocess::Runtime::bind(libprocess::Config {
            tls,
            ip,
            ..libprocess::Config::default()
        })
        .await
        .unwrap_or_else(|e| die(format!("cannot listen: {e}")));
        let mut agents = Vec::new();
        let spec = if master == "local" {
            let m = start_master(&r, MasterFlags::default()).unwrap_or_else(|e| die(e));
            let work_dir = f.work_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir()
                    .join(format!("mesos-execute-{}", mesos_api::ids::new_uuid()))
                    .display()
                    .to_string()
            });
            let n = f.num_agents;
            for i in 0..n.max(1) {
                // Each agent checkpoints on its own (as on its own machine).
                let dir = if n <= 1 {
                    work_dir.clone()
                } else {
                    format!("{work_dir}/agents/{i}")
                };
                let mut af = AgentFlags::new(m.upid().addr().to_string(), &dir);
                af.containerizer.docker_config = f.docker_config.clone();
                if let Some(reg) = f.docker_registry.as_deref() {
                    af.containerizer.docker_registry = Some(reg.into());
                    af.containerizer.launcher = mesos_containerizer::LauncherKind::Linux;
                    af.containerizer.isolation = mesos_containerizer::parse_isolation(
                        "posix/cpu,posix/mem,filesystem/linux",
                    )
                    .unwrap_or_else(|e| die(e.to_string()));
                }
                agents.push(start_agent(&r, af).unwrap_or_else(|e| die(e)));
            }
            println!(
                "Started a local cluster at {} (sandboxes under {work_dir})",
                m.upid()
            );
            MasterSpec::Fixed(m.upid().clone())
        } else {
            MasterSpec::parse(&master).unwrap_or_else(|e| die(format!("Flag '--master': {e}")))
        };
        let mut info = FrameworkInfo::new(
            &f.framework_name,
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
        );
        info.checkpoint = checkpoint;
        info.principal = credential.as_ref().map(|c| c.principal.clone());
        info.roles = vec![role.clone()];
        info.capabilities = caps;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sched = Execute {
            plan: Some(plan),
            need,
            pending: HashSet::new(),
            all_finished: true,
            tx,
        };
        let pid = mesos_scheduler::start_over(
            &r,
            &spec,
            zk_session_timeout,
            info,
            credential,
            transport,
            sched,
        )
        .unwrap_or_else(|e| die(format!("cannot start the scheduler: {e}")));
        let mut code = 1;
        let mut killing = HashSet::new();
        while let Some(m) = rx.recv().await {
            match m {
                Msg::Running(t) => {
                    if let Some(d) = kill_after {
                        if killing.insert(t.clone()) {
                            let p = pid.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(d).await;
                                println!("Killing task '{t}' after {d:?}");
                                let _ = p
                                    .dispatch(move |s: &mut SchedulerProcess<Execute>, _| {
                                        s.driver().kill(t, None, None)
                                    })
                                    .await;
                            });
                        }
                    }
                }
                Msg::Done(c) => {
                    code = c;
                    break;
                }
            }
        }
        // Leave nothing running behind.
        let _ = pid
            .dispatch(|s: &mut SchedulerProcess<Execute>, _| s.driver().teardown())
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for a in &agents {
            a.terminate(true);
            a.wait().await;
        }
        r.shutdown().await;
        code
    });
    std::process::exit(code);
}
