//! The process's log verbosity, as Mesos's GET_LOGGING_LEVEL / SET_LOGGING_LEVEL see it: glog's
//! verbose level (0 by default; 1 adds debug events, 2 and up trace events), raised for a while
//! and then put back. The binary that set up logging installs the setter ([`install`]); a
//! process without one (a library user with its own subscriber) cannot change it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

type Setter = Box<dyn Fn(u32) + Send + Sync>;

static SETTER: OnceLock<Setter> = OnceLock::new();
static LEVEL: AtomicU32 = AtomicU32::new(0);
/// Bumped by each change, so that a revert only undoes its own change.
static GENERATION: AtomicU64 = AtomicU64::new(0);

static LOG_FILE: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Records the file this process logs to (`--log_dir`), which its `/files` serve.
pub fn set_log_file(path: std::path::PathBuf) {
    let _ = LOG_FILE.set(path);
}

/// The file this process logs to, if any.
pub fn log_file() -> Option<&'static std::path::Path> {
    LOG_FILE.get().map(|p| p.as_path())
}

/// Installs what applies a verbose level (once per process; later calls are ignored).
pub fn install(setter: impl Fn(u32) + Send + Sync + 'static) {
    let _ = SETTER.set(Box::new(setter));
}

/// The current verbose level.
pub fn level() -> u32 {
    LEVEL.load(Ordering::Relaxed)
}

/// Sets the verbose level for `duration`, after which it returns to 0 (unless set again
/// meanwhile). Needs a tokio runtime for the revert; fails when no setter is installed.
pub fn set_level(level: u32, duration: Duration) -> Result<(), &'static str> {
    let Some(apply) = SETTER.get() else {
        return Err("this process's logging cannot be changed (it did not set it up)");
    };
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
    LEVEL.store(level, Ordering::Relaxed);
    apply(level);
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        if GENERATION.load(Ordering::Relaxed) == generation {
            LEVEL.store(0, Ordering::Relaxed);
            apply(0);
        }
    });
    Ok(())
}

/// `/logging/toggle?level=N&duration=D`, as libprocess's: without either parameter, the current
/// level (a line); with both, the level raised for that long (200); otherwise 400 saying what
/// is wrong. The level may not go below the original (0).
pub fn toggle(query: &std::collections::HashMap<String, String>) -> crate::HttpResponse {
    use crate::HttpResponse;
    let bad = |why: String| HttpResponse::text(400, format!("{why}.\n"));
    match (query.get("level"), query.get("duration")) {
        (None, None) => HttpResponse::text(200, format!("{}\n", level())),
        (Some(_), None) => bad("Expecting 'duration=value' in query".into()),
        (None, Some(_)) => bad("Expecting 'level=value' in query".into()),
        (Some(l), Some(d)) => {
            let level = match l.trim().parse::<i64>() {
                Ok(v) if v < 0 => return bad(format!("Invalid level '{v}'")),
                Ok(v) => match u32::try_from(v) {
                    Ok(v) => v,
                    Err(_) => return bad(format!("Invalid level '{v}'")),
                },
                Err(e) => return bad(format!("Failed to convert '{l}' to number: {e}")),
            };
            let duration = match crate::flags::parse_duration(d) {
                Ok(d) => d,
                Err(e) => return bad(e),
            };
            match set_level(level, duration) {
                Ok(()) => HttpResponse::text(200, ""),
                Err(why) => HttpResponse::text(503, format!("{why}\n")),
            }
        }
    }
}
