//! The master's files: its log (`--log_dir`), attached as `/master/log` as in Mesos, through the
//! classic `/files/browse`, `/files/read` and `/files/download` and the v1 LIST_FILES and
//! READ_FILE. The master serves no other file; any other path is not found.

use std::path::PathBuf;

use libprocess::{Context, HttpRequest, HttpResponse};
use mesos_api::auth::MASTER_READONLY;
use mesos_api::http::Rejection;
use serde_json::{json, Value};

use super::classic::{json_reply, method_is};
use super::reply;
use crate::master::Master;

/// The virtual path of the master's log.
const LOG: &str = "/master/log";

/// The file behind `p`: the log, when there is one.
fn resolve(p: &str) -> Result<PathBuf, Rejection> {
    match p.trim_end_matches('/') {
        LOG => libprocess::logging::log_file().map(|f| f.to_path_buf()),
        _ => None,
    }
    .ok_or_else(|| Rejection::not_found(format!("'{p}' not found")))
}

fn read(p: &str, offset: u64, length: Option<u64>) -> Result<mesos_api::files::Read, Rejection> {
    mesos_api::files::read(&resolve(p)?, offset, length)
        .map_err(|e| Rejection::internal(format!("cannot read '{p}': {e}")))
}

fn path_param(req: &HttpRequest) -> Result<String, Rejection> {
    req.query_params()
        .remove("path")
        .ok_or_else(|| Rejection::bad_request("Expecting 'path' query parameter"))
}

/// The routes (under `/master` and, as Mesos serves them, `/files/...`).
pub(super) fn install(ctx: &mut Context<Master>) {
    // A file lists as nothing (Mesos lists directories only).
    ctx.route_in(MASTER_READONLY, "files/browse", |_: &mut Master, _, req| {
        reply(method_is(&req, &["GET"]).and_then(|_| {
            resolve(&path_param(&req)?)?;
            Ok(json_reply(&json!([])))
        }))
    });
    ctx.route_in(MASTER_READONLY, "files/read", |_: &mut Master, _, req| {
        reply(method_is(&req, &["GET"]).and_then(|_| {
            mesos_api::files::classic_read(&req.query_params(), read).map(|v| json_reply(&v))
        }))
    });
    ctx.route_in(
        MASTER_READONLY,
        "files/download",
        |_: &mut Master, _, req| {
            reply(method_is(&req, &["GET"]).and_then(|_| {
                let p = path_param(&req)?;
                let f = std::fs::File::open(resolve(&p)?)
                    .map_err(|e| Rejection::internal(format!("cannot read '{p}': {e}")))?;
                Ok(HttpResponse::download(f, "log"))
            }))
        },
    );
}

/// LIST_FILES: the log lists as nothing (it is a file); anything else is not found.
pub(super) fn list_files_call(body: &Value) -> Result<Value, Rejection> {
    let p = body["path"]
        .as_str()
        .ok_or_else(|| Rejection::bad_request("Expecting 'list_files.path' to be present"))?;
    resolve(p)?;
    Ok(json!({"file_infos": []}))
}

/// READ_FILE of the log.
pub(super) fn read_file_call(body: &Value) -> Result<Value, Rejection> {
    mesos_api::files::read_file(body, read)
}
