//! The sandboxes' files, read by operators: the classic `/files/browse`, `/files/read` and
//! `/files/download`, and the v1 LIST_FILES and READ_FILE calls; also the agent's log
//! (`--log_dir`) as `/slave/log`. Only paths inside the sandboxes are served; a path
//! outside them (after resolving links, `..` and percent-encoding) gets the same answer as a
//! missing one, and `access_sandboxes` decides who reads whose.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libprocess::{HttpRequest, HttpResponse, Reply};
use mesos_api::http::Rejection;
use serde_json::{json, Value};

use super::operator::json_reply;
use super::{reject, Agent};

use mesos_api::files::Read;

/// One directory entry.
struct FileInfo {
    path: String,
    meta: std::fs::Metadata,
}

impl FileInfo {
    fn owner(&self) -> (String, String) {
        let uid = nix::unistd::Uid::from_raw(self.meta.uid());
        let gid = nix::unistd::Gid::from_raw(self.meta.gid());
        let user = nix::unistd::User::from_uid(uid).ok().flatten();
        let group = nix::unistd::Group::from_gid(gid).ok().flatten();
        (
            user.map_or_else(|| uid.to_string(), |u| u.name),
            group.map_or_else(|| gid.to_string(), |g| g.name),
        )
    }

    /// The classic `/files/browse` form: mode as `ls` prints it, mtime in seconds.
    fn classic(&self) -> Value {
        let (uid, gid) = self.owner();
        json!({"path": self.path, "size": self.meta.len(), "nlink": self.meta.nlink(),
               "mtime": self.meta.mtime(), "mode": mode_string(self.meta.mode()),
               "uid": uid, "gid": gid})
    }

    /// The v1 `FileInfo`: mode as a number, mtime in nanoseconds.
    fn v1(&self) -> Value {
        let (uid, gid) = self.owner();
        let ns = self.meta.mtime() * 1_000_000_000 + self.meta.mtime_nsec();
        json!({"path": self.path, "size": self.meta.len(), "nlink": self.meta.nlink(),
               "mtime": {"nanoseconds": ns}, "mode": self.meta.mode(),
               "uid": uid, "gid": gid})
    }
}

/// `drwxr-xr-x`, as `ls -l` (and Mesos's `/files/browse`) writes a mode.
fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

impl Agent {
    /// `p` resolved, if it is inside the sandboxes and `principal` may read it.
    fn served(&self, p: &str, principal: Option<&str>) -> Result<PathBuf, Rejection> {
        let not_found = || Rejection::not_found(format!("'{p}' not found"));
        // The agent's own log (--log_dir), as Mesos attaches it.
        if p.trim_end_matches('/') == "/slave/log" {
            return libprocess::logging::log_file()
                .map(Path::to_path_buf)
                .ok_or_else(not_found);
        }
        let root = self
            .flags
            .work_dir
            .join("slaves")
            .canonicalize()
            .map_err(|_| not_found())?;
        let real = Path::new(p).canonicalize().map_err(|_| not_found())?;
        if !real.starts_with(&root) {
            return Err(not_found());
        }
        let user = self.sandbox_user(&real);
        self.authorize(
            "access_sandboxes",
            principal,
            user.as_deref(),
            &format!(
                "access the sandbox of user '{}'",
                user.as_deref().unwrap_or("unknown")
            ),
        )?;
        Ok(real)
    }

    fn list(&self, p: &str, principal: Option<&str>) -> Result<Vec<FileInfo>, Rejection> {
        let dir = self.served(p, principal)?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|_| Rejection::bad_request(format!("'{p}' is not a directory")))?;
        Ok(entries
            .flatten()
            .filter_map(|e| {
                Some(FileInfo {
                    meta: e.metadata().ok()?,
                    path: e.path().display().to_string(),
                })
            })
            .collect())
    }

    /// Up to `length` (at most [`MAX_READ`](mesos_api::files::MAX_READ)) bytes from `offset` (clamped to the size).
    fn read(
        &self,
        p: &str,
        principal: Option<&str>,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Read, Rejection> {
        let path = self.served(p, principal)?;
        if path.is_dir() {
            return Err(Rejection::bad_request("Cannot read a directory"));
        }
        mesos_api::files::read(&path, offset, length).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Rejection::not_found(format!("'{p}' not found")),
            _ => Rejection::internal("read failed"),
        })
    }

    /// `/files/browse?path=`: the directory's entries.
    pub(super) fn files_browse(&self, req: &HttpRequest) -> Reply {
        let q = req.query_params();
        let r = q
            .get("path")
            .ok_or_else(|| Rejection::bad_request("Expecting 'path' query parameter"))
            .and_then(|p| self.list(p, req.principal.as_deref()));
        match r {
            Ok(list) => {
                json_reply(&Value::Array(list.iter().map(FileInfo::classic).collect())).into()
            }
            Err(e) => reject(e).into(),
        }
    }

    /// `/files/read?path=&offset=&length=`: `{"data", "offset"}` (at most [`MAX_READ`](mesos_api::files::MAX_READ) bytes a
    /// read); offset -1 (or none) reports the size.
    pub(super) fn files_read(&self, req: &HttpRequest) -> Reply {
        let principal = req.principal.as_deref();
        let r = mesos_api::files::classic_read(&req.query_params(), |p, offset, length| {
            self.read(p, principal, offset, length)
        });
        match r {
            Ok(v) => json_reply(&v).into(),
            Err(e) => reject(e).into(),
        }
    }

    /// `/files/download?path=`: the whole file, streamed in chunks, as an attachment
    /// (`application/octet-stream`, named by its file name).
    pub(super) fn files_download(&self, req: &HttpRequest) -> Reply {
        let q = req.query_params();
        let r = q
            .get("path")
            .ok_or_else(|| Rejection::bad_request("Expecting 'path' query parameter"))
            .and_then(|p| {
                let path = self.served(p, req.principal.as_deref())?;
                if path.is_dir() {
                    return Err(Rejection::bad_request("Cannot download a directory"));
                }
                std::fs::File::open(&path)
                    .map(|f| (path, f))
                    .map_err(|_| Rejection::not_found(format!("'{p}' not found")))
            });
        let (path, file) = match r {
            Ok(x) => x,
            Err(e) => return reject(e).into(),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        HttpResponse::download(file, &name).into()
    }

    /// LIST_FILES: `{"file_infos": [...]}`.
    pub(super) fn list_files_call(
        &self,
        principal: Option<&str>,
        body: &Value,
    ) -> Result<Value, Rejection> {
        let p = body["path"]
            .as_str()
            .ok_or_else(|| Rejection::bad_request("Expecting 'list_files.path' to be present"))?;
        let list = self.list(p, principal)?;
        Ok(json!({"file_infos": list.iter().map(FileInfo::v1).collect::<Vec<_>>()}))
    }

    /// READ_FILE: `{"size", "data" (base64)}` from `offset` for at most `length` bytes.
    pub(super) fn read_file_call(
        &self,
        principal: Option<&str>,
        body: &Value,
    ) -> Result<Value, Rejection> {
        mesos_api::files::read_file(body, |p, offset, length| {
            self.read(p, principal, offset, length)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::mode_string;

    #[test]
    fn modes_read_as_ls_writes_them() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
    }
}
