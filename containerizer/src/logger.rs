//! Container loggers: where a container's standard output and error go.
//!
//! By default they are the sandbox's `stdout` and `stderr` files, appended to without bound.
//! `--container_logger=org_apache_mesos_LogrotateContainerLogger` (or `logrotate`) rotates
//! them by size, as Mesos's logrotate module does: each stream is a pipe into a
//! `mesos-logrotate-logger` process (a helper, outside the container's process group, that
//! outlives an agent restart) which appends to the sandbox file and, before the file would
//! outgrow its limit, runs the system's `logrotate` on it (`stdout` becomes `stdout.1`, ...,
//! as the options say). Mesos loads that logger as a module from a shared library; ours is
//! built in, and `--modules` gives its parameters in Mesos's JSON.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The module name Mesos's logrotate container logger is loaded under.
pub const LOGROTATE_MODULE: &str = "org_apache_mesos_LogrotateContainerLogger";

/// `--container_logger`'s short alias for [`LOGROTATE_MODULE`].
pub const LOGROTATE_ALIAS: &str = "logrotate";

/// The helper program's name (in the launcher dir), as Mesos names it.
pub const PROGRAM: &str = "mesos-logrotate-logger";

/// The multi-call mode (see [`crate::init::MULTICALL_ENV`]) that runs the helper.
pub const MULTICALL_MODE: &str = "logrotate";

/// Appended to the log file's path: the configuration the helper gives `logrotate`.
pub const CONF_SUFFIX: &str = ".logrotate.conf";

/// Appended to the log file's path: `logrotate`'s state.
pub const STATE_SUFFIX: &str = ".logrotate.state";

/// The default largest size of a log file (Mesos's 10 MB).
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;

/// The smallest size a log file may be limited to: one read's worth (a page).
pub fn min_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

/// The logrotate logger's parameters (Mesos's module parameters of the same names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logrotate {
    /// The largest `stdout` may grow before it is rotated.
    pub max_stdout_size: u64,
    /// Lines for `stdout`'s section of the `logrotate` configuration (e.g. `rotate 5`).
    pub logrotate_stdout_options: String,
    /// The largest `stderr` may grow before it is rotated.
    pub max_stderr_size: u64,
    /// Lines for `stderr`'s section of the `logrotate` configuration.
    pub logrotate_stderr_options: String,
    /// The `logrotate` to run.
    pub logrotate_path: String,
    /// Prefix of the variables in a container's environment that override the four values
    /// above for that container (`<prefix>MAX_STDOUT_SIZE`, `<prefix>LOGROTATE_STDOUT_OPTIONS`,
    /// `<prefix>MAX_STDERR_SIZE`, `<prefix>LOGROTATE_STDERR_OPTIONS`).
    pub environment_variable_prefix: String,
    /// Where the helper program is (default: the agent's `--launcher_dir`).
    pub launcher_dir: Option<PathBuf>,
}

impl Default for Logrotate {
    fn default() -> Logrotate {
        Logrotate {
            max_stdout_size: DEFAULT_MAX_SIZE,
            logrotate_stdout_options: String::new(),
            max_stderr_size: DEFAULT_MAX_SIZE,
            logrotate_stderr_options: String::new(),
            logrotate_path: "logrotate".into(),
            environment_variable_prefix: "CONTAINER_LOGGER_".into(),
            launcher_dir: None,
        }
    }
}

/// Where containers' output goes (`--container_logger`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ContainerLogger {
    /// The sandbox's `stdout` and `stderr`, unbounded (Mesos's default sandbox logger).
    #[default]
    Sandbox,
    /// Rotated by size through `logrotate`.
    Logrotate(Logrotate),
}

/// One of a container's two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output, logged to `stdout`.
    Stdout,
    /// Standard error, logged to `stderr`.
    Stderr,
}

impl Stream {
    /// The sandbox file it is logged to.
    pub fn file_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The logger `--container_logger` and `--modules` describe. Checks what Mesos checks when it
/// loads the module: known parameters, sizes of at least a page, and a `logrotate` that runs.
pub fn from_flags(
    container_logger: Option<&str>,
    modules: Option<&str>,
) -> Result<ContainerLogger, String> {
    let params = match modules {
        Some(m) => parse_modules(m).map_err(|e| format!("Flag '--modules': {e}"))?,
        None => None,
    };
    match container_logger.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(ContainerLogger::Sandbox),
        Some(LOGROTATE_MODULE | LOGROTATE_ALIAS) => {
            let l = logrotate_params(params.as_deref().unwrap_or_default())
                .map_err(|e| format!("Flag '--modules': module '{LOGROTATE_MODULE}': {e}"))?;
            check_logrotate(&l.logrotate_path).map_err(|e| {
                format!("Flag '--container_logger': the logrotate container logger: {e}")
            })?;
            Ok(ContainerLogger::Logrotate(l))
        }
        Some(other) => Err(format!(
            "Flag '--container_logger': unknown container logger '{other}' (built in: \
             '{LOGROTATE_MODULE}', also called '{LOGROTATE_ALIAS}'; modules from shared \
             libraries are not loaded)"
        )),
    }
}

/// Mesos's `--modules` JSON (inline, or `file://<path>`):
/// `{"libraries": [{"file"|"name": ..., "modules": [{"name": ..., "parameters": [{"key": ...,
/// "value": ...}]}]}]}`. Only the logrotate logger is known: its parameters come back (`None`
/// when it is not listed); any other module is refused, as no library is loaded.
fn parse_modules(text: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let text = match text.strip_prefix("file://") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?
        }
        None => text.to_string(),
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let libraries = v
        .get("libraries")
        .and_then(|l| l.as_array())
        .ok_or("expecting an object with a 'libraries' array")?;
    let mut found = None;
    for lib in libraries {
        let modules = lib
            .get("modules")
            .and_then(|m| m.as_array())
            .ok_or("each library needs a 'modules' array")?;
        for m in modules {
            let name = m
                .get("name")
                .and_then(|n| n.as_str())
                .ok_or("each module needs a 'name'")?;
            if name != LOGROTATE_MODULE {
                return Err(format!(
                    "module '{name}' is not built in (only '{LOGROTATE_MODULE}' is; modules \
                     from shared libraries are not loaded)"
                ));
            }
            let mut params = Vec::new();
            for p in m
                .get("parameters")
                .and_then(|p| p.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let (Some(k), Some(v)) = (
                    p.get("key").and_then(|k| k.as_str()),
                    p.get("value").and_then(|v| v.as_str()),
                ) else {
                    return Err(format!(
                        "module '{name}': each parameter needs a string 'key' and 'value'"
                    ));
                };
                params.push((k.to_string(), v.to_string()));
            }
            found = Some(params);
        }
    }
    Ok(found)
}

fn size(key: &str, v: &str) -> Result<u64, String> {
    let n = libprocess::flags::parse_bytes(v)
        .ok_or_else(|| format!("parameter '{key}': '{v}' is not a size like 10MB"))?;
    if n < min_size() {
        return Err(format!(
            "parameter '{key}': expected at least {} bytes (a page), got {n}",
            min_size()
        ));
    }
    Ok(n)
}

/// The logger's parameters, over its defaults.
fn logrotate_params(params: &[(String, String)]) -> Result<Logrotate, String> {
    let mut l = Logrotate::default();
    for (k, v) in params {
        match k.as_str() {
            "max_stdout_size" => l.max_stdout_size = size(k, v)?,
            "max_stderr_size" => l.max_stderr_size = size(k, v)?,
            "logrotate_stdout_options" => l.logrotate_stdout_options = v.clone(),
            "logrotate_stderr_options" => l.logrotate_stderr_options = v.clone(),
            "logrotate_path" => l.logrotate_path = v.clone(),
            "environment_variable_prefix" => l.environment_variable_prefix = v.clone(),
            "launcher_dir" => {
                let dir = PathBuf::from(v);
                if !dir.join(PROGRAM).is_file() {
                    return Err(format!("parameter 'launcher_dir': no '{PROGRAM}' in '{v}'"));
                }
                l.launcher_dir = Some(dir);
            }
            _ => {
                return Err(format!(
                    "unknown parameter '{k}' (known: max_stdout_size, logrotate_stdout_options, \
                     max_stderr_size, logrotate_stderr_options, logrotate_path, \
                     environment_variable_prefix, launcher_dir)"
                ))
            }
        }
    }
    Ok(l)
}

/// Runs `<path> --help`, as Mesos does to check that `logrotate` is there.
fn check_logrotate(path: &str) -> Result<(), String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{path} --help"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run 'sh': {e}"))?;
    if !out.success() {
        return Err(format!(
            "'{path} --help' failed ({out}): is logrotate installed? (set the module's \
             logrotate_path)"
        ));
    }
    Ok(())
}

/// One stream's limit and options for a container: the logger's, overridden by the
/// container's environment (`<prefix>MAX_STDOUT_SIZE` and so on), as Mesos does.
pub fn stream_settings(
    l: &Logrotate,
    stream: Stream,
    env: &[(String, String)],
) -> Result<(u64, String), String> {
    let (mut max, mut options, upper) = match stream {
        Stream::Stdout => (
            l.max_stdout_size,
            l.logrotate_stdout_options.clone(),
            "STDOUT",
        ),
        Stream::Stderr => (
            l.max_stderr_size,
            l.logrotate_stderr_options.clone(),
            "STDERR",
        ),
    };
    let var = |what: String| {
        let name = format!("{}{what}", l.environment_variable_prefix);
        env.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(k, v)| (k.clone(), v.clone()))
    };
    if let Some((k, v)) = var(format!("MAX_{upper}_SIZE")) {
        max = size(&k, &v)?;
    }
    if let Some((_, v)) = var(format!("LOGROTATE_{upper}_OPTIONS")) {
        options = v;
    }
    Ok((max, options))
}

/// The arguments of the helper for one stream.
pub fn helper_args(l: &Logrotate, log: &Path, max_size: u64, options: &str) -> Vec<String> {
    vec![
        format!("--max_size={max_size}"),
        format!("--logrotate_options={options}"),
        format!("--log_filename={}", log.display()),
        format!("--logrotate_path={}", l.logrotate_path),
    ]
}

/// Starts the helper for one stream: its standard input is `read` (the other end is the
/// container's output), in its own process group so that signals to the container's group
/// spare it and it logs everything the container wrote before it ended; as `user` (uid, gid)
/// when given. It is reaped in the background.
pub fn spawn_helper(
    program: &crate::init::InitProgram,
    args: Vec<String>,
    read: OwnedFd,
    user: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&program.program);
    cmd.args(args)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::from(read))
        .stdout(std::process::Stdio::null())
        .process_group(0);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn()?;
    // The helper ends when the container's end of the pipe closes; someone must wait for it.
    std::thread::Builder::new()
        .name("logger-reaper".into())
        .spawn(move || match child.wait() {
            Ok(s) if !s.success() => tracing::warn!("{PROGRAM} ended: {s}"),
            Err(e) => tracing::warn!("cannot wait for {PROGRAM}: {e}"),
            _ => {}
        })?;
    Ok(())
}

/// Where a container's `stream` goes: the sandbox file, appended to, or the write end of a
/// pipe into a new helper that rotates it.
pub fn open_stream(
    logger: &ContainerLogger,
    program: Option<&crate::init::InitProgram>,
    sandbox: &Path,
    stream: Stream,
    env: &[(String, String)],
    user: Option<(u32, u32)>,
) -> std::io::Result<std::fs::File> {
    let log = sandbox.join(stream.file_name());
    let append = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
    };
    let (ContainerLogger::Logrotate(l), Some(program)) = (logger, program) else {
        return append();
    };
    let (max, options) = stream_settings(l, stream, env).map_err(std::io::Error::other)?;
    // The file exists from the start, as without rotation.
    drop(append()?);
    if let Some((uid, gid)) = user {
        nix::unistd::chown(&log, Some(uid.into()), Some(gid.into()))?;
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    spawn_helper(program, helper_args(l, &log, max, &options), read, user)?;
    Ok(std::fs::File::from(write))
}

/// The helper's flags.
struct HelperFlags {
    max_size: u64,
    logrotate_options: String,
    log_filename: PathBuf,
    logrotate_path: String,
}

fn helper_flags(argv: Vec<OsString>) -> Result<HelperFlags, String> {
    let mut max_size = DEFAULT_MAX_SIZE;
    let mut options = String::new();
    let mut log = None;
    let mut path = "logrotate".to_string();
    for a in argv {
        let a = a.to_string_lossy().into_owned();
        let (k, v) = a
            .strip_prefix("--")
            .and_then(|kv| kv.split_once('='))
            .ok_or_else(|| format!("expecting --name=value flags, got '{a}'"))?;
        match k {
            "max_size" => max_size = size("--max_size", v)?,
            "logrotate_options" => options = v.to_string(),
            "log_filename" => {
                let p = PathBuf::from(v);
                if !p.is_absolute() {
                    return Err("expected --log_filename to be an absolute path".into());
                }
                log = Some(p);
            }
            "logrotate_path" => path = v.to_string(),
            _ => return Err(format!("unknown flag '--{k}'")),
        }
    }
    Ok(HelperFlags {
        max_size,
        logrotate_options: options,
        log_filename: log.ok_or("missing required flag --log_filename")?,
        logrotate_path: path,
    })
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The helper, `mesos-logrotate-logger --log_filename=<file> [--max_size=<bytes>]
/// [--logrotate_options=<lines>] [--logrotate_path=<logrotate>]`: copies its standard input
/// to the file, and runs `logrotate` on it before a write would take it past `--max_size`.
/// Returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let f = match helper_flags(argv) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            return 1;
        }
    };
    let page = min_size() as usize;
    let conf = with_suffix(&f.log_filename, CONF_SUFFIX);
    let state = with_suffix(&f.log_filename, STATE_SUFFIX);
    // logrotate rotates once a file is larger than `size`; reads are at most a page, so a
    // rotation before the write that would pass the limit leaves every file under it.
    let text = format!(
        "\"{}\" {{\n{}\nsize {}\n}}\n",
        f.log_filename.display(),
        f.logrotate_options,
        f.max_size - page as u64
    );
    // logrotate reads only a configuration that others cannot write.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o644)
        .open(&conf)
        .and_then(|mut c| c.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!("{PROGRAM}: cannot write '{}': {e}", conf.display());
        return 1;
    }
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(&f.log_filename)
    };
    let mut leading: Option<std::fs::File> = None;
    let mut written = 0u64;
    let mut buf = vec![0u8; page];
    let mut input = std::io::stdin().lock();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("{PROGRAM}: cannot read: {e}");
                return 1;
            }
        };
        if written + n as u64 > f.max_size {
            leading = None;
            // A failed rotation leaves the file as it was: logging goes on in it.
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{} --state \"{}\" \"{}\"",
                    f.logrotate_path,
                    state.display(),
                    conf.display()
                ))
                .stdin(std::process::Stdio::null())
                .status();
            written = 0;
        }
        if leading.is_none() {
            match open() {
                Ok(file) => leading = Some(file),
                Err(e) => {
                    eprintln!("{PROGRAM}: cannot open '{}': {e}", f.log_filename.display());
                    return 1;
                }
            }
        }
        // Draining the pipe comes first (the container would block on it): a failed write
        // loses these bytes, not the rest.
        if let Some(Err(e)) = leading.as_mut().map(|l| l.write_all(&buf[..n])) {
            eprintln!("{PROGRAM}: cannot write: {e}");
        }
        written += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_select_and_configure_the_logger() {
        assert_eq!(from_flags(None, None), Ok(ContainerLogger::Sandbox));
        let e = from_flags(Some("org_apache_mesos_Other"), None).unwrap_err();
        assert!(
            e.contains("--container_logger") && e.contains("Other"),
            "{e}"
        );
        let modules = |params: &str| {
            format!(
                r#"{{"libraries":[{{"file":"/usr/lib/liblogrotate_container_logger.so",
                   "modules":[{{"name":"{LOGROTATE_MODULE}","parameters":[{params}]}}]}}]}}"#
            )
        };
        let m = modules(
            r#"{"key":"max_stdout_size","value":"1MB"},
               {"key":"logrotate_stdout_options","value":"rotate 3"},
               {"key":"logrotate_path","value":"true"}"#,
        );
        let ContainerLogger::Logrotate(l) = from_flags(Some("logrotate"), Some(&m)).unwrap() else {
            panic!("not the logrotate logger");
        };
        assert_eq!(l.max_stdout_size, 1 << 20);
        assert_eq!(l.logrotate_stdout_options, "rotate 3");
        assert_eq!(l.max_stderr_size, DEFAULT_MAX_SIZE);
        assert_eq!(l.logrotate_path, "true");
        // Bad parameters are named.
        for (params, want) in [
            (
                r#"{"key":"max_stdout_size","value":"1"}"#,
                "max_stdout_size",
            ),
            (
                r#"{"key":"libprocess_num_worker_threads","value":"1"}"#,
                "unknown parameter",
            ),
            (
                r#"{"key":"logrotate_path","value":"/nonexistent/logrotate"}"#,
                "--help",
            ),
        ] {
            let e = from_flags(Some(LOGROTATE_MODULE), Some(&modules(params))).unwrap_err();
            assert!(e.contains(want), "{params}: {e}");
        }
        let other = r#"{"libraries":[{"file":"x.so","modules":[{"name":"org_Other"}]}]}"#;
        let e = from_flags(None, Some(other)).unwrap_err();
        assert!(e.contains("--modules") && e.contains("org_Other"), "{e}");
        assert!(from_flags(None, Some("{"))
            .unwrap_err()
            .contains("not JSON"));
    }

    #[test]
    fn a_containers_environment_overrides_a_streams_settings() {
        let l = Logrotate {
            max_stdout_size: 1 << 20,
            logrotate_stdout_options: "rotate 2".into(),
            ..Logrotate::default()
        };
        let env = vec![
            (
                "CONTAINER_LOGGER_MAX_STDOUT_SIZE".to_string(),
                "64KB".to_string(),
            ),
            (
                "CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS".to_string(),
                "rotate 9".to_string(),
            ),
        ];
        assert_eq!(
            stream_settings(&l, Stream::Stdout, &env),
            Ok((64 << 10, "rotate 2".to_string()))
        );
        assert_eq!(
            stream_settings(&l, Stream::Stderr, &env),
            Ok((DEFAULT_MAX_SIZE, "rotate 9".to_string()))
        );
        let bad = vec![(
            "CONTAINER_LOGGER_MAX_STDOUT_SIZE".to_string(),
            "1".to_string(),
        )];
        assert!(stream_settings(&l, Stream::Stdout, &bad).is_err());
    }
}
