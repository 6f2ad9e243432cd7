//! The fetcher: brings a task's `CommandInfo.uris` into its sandbox before it launches.
//!
//! A URI is an absolute path, a `file:///path` URL or an `http://` URL (read with the runtime's
//! HTTP client, following up to five redirects, streamed to the file). The file lands in the
//! sandbox under its basename or `output_file`. `executable` makes it mode 0755 and skips
//! extraction; otherwise archives are extracted into the sandbox with the system's `tar`, `gzip`
//! and `unzip`, keeping the archive itself. URIs marked `cache` are kept per user under
//! `--fetcher_cache_dir`, least recently used first out once `--fetcher_cache_size` would be
//! passed; a cache hit never reads the source. Everything here blocks: call it from a blocking
//! thread.
//!
//! This module is the API and the planning (which source, which name in the sandbox); its
//! children are leaves that import nothing from it: `cache` (the LRU cache), `download`
//! (local and `http://` sources) and `extract` (archives).

mod cache;
mod download;
mod extract;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use mesos_api::protocol::task::CommandUri;
use tracing::{info, warn};

use crate::error::{Error, Result};
use cache::Cache;
use download::{download, Source};
use extract::{archive_kind, extract};

/// The fetcher's settings: `--fetcher_cache_dir` and `--fetcher_cache_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherConfig {
    /// Where cached files live, one directory per user (`/tmp/mesos/fetch`).
    pub cache_dir: PathBuf,
    /// The most bytes the cache holds, over all users (2 GiB).
    pub cache_size: u64,
}

impl Default for FetcherConfig {
    fn default() -> FetcherConfig {
        FetcherConfig {
            cache_dir: PathBuf::from("/tmp/mesos/fetch"),
            cache_size: 2 << 30,
        }
    }
}

/// What one [`Fetcher::fetch`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FetchReport {
    /// URIs read from their source.
    pub downloaded: usize,
    /// URIs copied from the cache without reading their source.
    pub cache_hits: usize,
    /// Archives extracted into the sandbox.
    pub extracted: usize,
}

/// Fetches URIs into sandboxes and owns the LRU cache; share it between threads.
pub struct Fetcher {
    cache: Cache,
}

/// A checked URI: its source and its path relative to the sandbox.
struct Plan {
    source: Source,
    name: PathBuf,
}

impl Fetcher {
    /// A fetcher whose cache starts empty: old contents of `cache_dir` are removed and the
    /// directory is created (failures are logged; caching then fails per URI, not fetching).
    pub fn new(config: FetcherConfig) -> Fetcher {
        Fetcher {
            cache: Cache::new(config.cache_dir, config.cache_size),
        }
    }

    /// Fetches every URI into `sandbox`, in order; `user` picks the cache directory (`root`
    /// when `None`). All URIs are checked before any is fetched. Errors name the URI.
    pub fn fetch(
        &self,
        uris: &[CommandUri],
        sandbox: &Path,
        user: Option<&str>,
    ) -> Result<FetchReport> {
        let user = user.unwrap_or("root");
        if user.is_empty() || user.contains('/') || user == "." || user == ".." {
            return Err(Error::Invalid(format!(
                "bad user name '{user}' for the fetcher"
            )));
        }
        let plans = uris.iter().map(plan).collect::<Result<Vec<_>>>()?;
        fs::create_dir_all(sandbox).map_err(|e| Error::io("create sandbox", sandbox, e))?;
        let mut report = FetchReport::default();
        for (uri, plan) in uris.iter().zip(&plans) {
            let uri_error = |why| Error::Fetch {
                uri: uri.value.clone(),
                why,
            };
            self.fetch_one(uri, plan, sandbox, user, &mut report)
                .map_err(uri_error)?;
        }
        Ok(report)
    }

    /// How many files the cache holds.
    pub fn cache_entries(&self) -> usize {
        self.cache.entries()
    }

    /// How many bytes the cache holds.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.bytes()
    }

    /// Fetches one checked URI; the error says why, [`Fetcher::fetch`] adds the URI.
    fn fetch_one(
        &self,
        uri: &CommandUri,
        plan: &Plan,
        sandbox: &Path,
        user: &str,
        report: &mut FetchReport,
    ) -> std::result::Result<(), String> {
        let dest = sandbox.join(&plan.name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("create directory '{}': {e}", parent.display()))?;
        }
        let cached = uri.cache == Some(true);
        info!(uri = %uri.value, dest = %dest.display(), cached, "Fetching URI");
        let key = cached.then(|| self.cache.key(user, &uri.value));
        let hit = match &key {
            Some(key) => self.cache.copy_out(key, &uri.value, &dest)?,
            None => false,
        };
        if hit {
            report.cache_hits += 1;
        } else {
            download(&plan.source, &dest)?;
            report.downloaded += 1;
            if let Some(key) = &key {
                if let Err(e) = self.cache.store(key, &uri.value, &dest) {
                    warn!(uri = %uri.value, "Failed to cache the fetched file: {e}");
                }
            }
        }
        if uri.executable == Some(true) {
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("make executable '{}': {e}", dest.display()))?;
        } else if let Some(kind) = archive_kind(&plan.name).filter(|_| uri.extract) {
            extract(kind, &dest, sandbox)?;
            report.extracted += 1;
        }
        info!(uri = %uri.value, dest = %dest.display(), hit, "Fetched URI");
        Ok(())
    }
}

/// Checks a URI and works out where it comes from and where it lands.
fn plan(uri: &CommandUri) -> Result<Plan> {
    let value = uri.value.as_str();
    if value.trim().is_empty() {
        return Err(Error::Invalid("a fetcher URI is empty".into()));
    }
    let local = |path: &str| {
        let name = Path::new(path).file_name().map(PathBuf::from);
        (Source::Local(PathBuf::from(path)), name)
    };
    let (source, basename) = if let Some(rest) = value.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(Error::Invalid(format!(
                "URI '{value}': a file:// URI needs an absolute path (file:///path)"
            )));
        }
        local(rest)
    } else if value.starts_with('/') {
        local(value)
    } else if let Some((scheme, _)) = value.split_once("://") {
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(Error::Fetch {
                uri: value.to_string(),
                why: format!("scheme '{scheme}' is not supported (use a path, file:// or http://)"),
            });
        }
        (Source::Http(value.to_string()), http_basename(value))
    } else {
        return Err(Error::Invalid(format!(
            "URI '{value}' is a relative path; use an absolute path, file:// or http://"
        )));
    };
    let name = match &uri.output_file {
        Some(out) => check_output_file(value, out)?,
        None => basename.ok_or_else(|| {
            Error::Invalid(format!("URI '{value}' names no file; set output_file"))
        })?,
    };
    Ok(Plan { source, name })
}

/// The last segment of an http URL's path, without query or fragment.
fn http_basename(url: &str) -> Option<PathBuf> {
    let rest = url.split_once("://")?.1;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = &rest[rest.find('/')?..];
    let name = path.rsplit('/').next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| PathBuf::from(name))
}

/// `output_file` must be a relative path without `..`.
fn check_output_file(uri: &str, out: &str) -> Result<PathBuf> {
    let path = Path::new(out);
    let problem = if path.components().any(|c| c == Component::ParentDir) {
        "must not contain '..'"
    } else if path.is_absolute() {
        "must be a relative path"
    } else if !path.components().any(|c| matches!(c, Component::Normal(_))) {
        "names no file"
    } else {
        return Ok(path.to_path_buf());
    };
    Err(Error::Invalid(format!(
        "URI '{uri}': output_file '{out}' {problem}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::process::Command;
    use std::slice::from_ref;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::thread::{self, JoinHandle};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("mesos-fetcher-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, content: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn uri(value: &str) -> CommandUri {
        CommandUri {
            value: value.to_string(),
            executable: None,
            extract: true,
            cache: None,
            output_file: None,
        }
    }

    fn cached(value: &str) -> CommandUri {
        CommandUri {
            cache: Some(true),
            ..uri(value)
        }
    }

    fn fetcher(dir: &TempDir, cache_size: u64) -> Fetcher {
        let cache_dir = dir.0.join("cache");
        Fetcher::new(FetcherConfig {
            cache_dir,
            cache_size,
        })
    }

    fn sh(script: &str) {
        let status = Command::new("sh").arg("-c").arg(script).status().unwrap();
        assert!(status.success(), "{script}");
    }

    /// Serves one canned response per connection; yields the requests it read.
    fn serve(responses: Vec<&'static str>) -> (String, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                stream.write_all(response.as_bytes()).unwrap();
                requests.push(String::from_utf8_lossy(&request).into_owned());
            }
            requests
        });
        (base, server)
    }

    #[test]
    fn plain_path_is_copied_to_output_file() {
        let dir = TempDir::new("plain");
        let src = dir.file("source.txt", b"hello");
        let sandbox = dir.0.join("sandbox");
        let mut u = uri(src.to_str().unwrap());
        u.output_file = Some("sub/dir/renamed.txt".into());
        let report = fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(
            fs::read(sandbox.join("sub/dir/renamed.txt")).unwrap(),
            b"hello"
        );
        assert!(!sandbox.join("source.txt").exists());
        assert_eq!(
            report,
            FetchReport {
                downloaded: 1,
                ..FetchReport::default()
            }
        );
    }

    #[test]
    fn file_uri_lands_under_its_basename() {
        let dir = TempDir::new("file-uri");
        let src = dir.file("data.bin", b"\x00\x01\x02");
        let sandbox = dir.0.join("sandbox");
        let u = uri(&format!("file://{}", src.display()));
        fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(fs::read(sandbox.join("data.bin")).unwrap(), b"\x00\x01\x02");
    }

    #[test]
    fn tar_gz_is_extracted_and_the_archive_kept() {
        let dir = TempDir::new("targz");
        fs::create_dir_all(dir.0.join("content/inner")).unwrap();
        dir.file("content/inner/hello.txt", b"from tar");
        sh(&format!(
            "tar -czf {0}/pkg.tar.gz -C {0}/content inner",
            dir.0.display()
        ));
        let sandbox = dir.0.join("sandbox");
        let u = uri(dir.0.join("pkg.tar.gz").to_str().unwrap());
        let report = fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(report.extracted, 1);
        assert_eq!(
            fs::read(sandbox.join("inner/hello.txt")).unwrap(),
            b"from tar"
        );
        assert!(sandbox.join("pkg.tar.gz").exists());
    }

    #[test]
    fn zip_is_extracted() {
        let dir = TempDir::new("zip");
        let zip = dir.0.join("pkg.zip");
        sh(&format!(
            "python3 -c 'import zipfile; z = zipfile.ZipFile(\"{}\", \"w\"); \
             z.writestr(\"a/b.txt\", \"from zip\"); z.close()'",
            zip.display()
        ));
        let sandbox = dir.0.join("sandbox");
        let u = uri(zip.to_str().unwrap());
        let report = fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(report.extracted, 1);
        assert_eq!(fs::read(sandbox.join("a/b.txt")).unwrap(), b"from zip");
    }

    #[test]
    fn gz_file_is_gunzipped_unless_extract_is_false() {
        let dir = TempDir::new("gz");
        dir.file("notes.txt", b"gzipped");
        sh(&format!("gzip {}/notes.txt", dir.0.display()));
        let sandbox = dir.0.join("sandbox");
        let u = uri(dir.0.join("notes.txt.gz").to_str().unwrap());
        let mut raw = u.clone();
        raw.extract = false;
        let f = fetcher(&dir, 1 << 20);
        f.fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(fs::read(sandbox.join("notes.txt")).unwrap(), b"gzipped");
        let other = dir.0.join("other");
        assert_eq!(f.fetch(&[raw], &other, None).unwrap().extracted, 0);
        assert!(other.join("notes.txt.gz").exists() && !other.join("notes.txt").exists());
    }

    #[test]
    fn failing_extraction_is_an_error_with_the_tools_stderr() {
        let dir = TempDir::new("bad-tar");
        let src = dir.file("broken.tar.gz", b"not an archive");
        let u = uri(src.to_str().unwrap());
        let err = fetcher(&dir, 1 << 20)
            .fetch(&[u], &dir.0.join("sb"), None)
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Fetch { .. }), "{msg}");
        assert!(
            msg.contains("broken.tar.gz") && msg.contains("tar failed"),
            "{msg}"
        );
    }

    #[test]
    fn executable_uri_gets_mode_0755_and_is_not_extracted() {
        let dir = TempDir::new("exec");
        let src = dir.file("tool.tar.gz", b"#!/bin/sh\necho hi\n");
        fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        let sandbox = dir.0.join("sandbox");
        let mut u = uri(src.to_str().unwrap());
        u.executable = Some(true);
        let report = fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(report.extracted, 0);
        let mode = fs::metadata(sandbox.join("tool.tar.gz"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn http_fetch_reads_a_content_length_body() {
        let dir = TempDir::new("http");
        let (base, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello and more",
        ]);
        let sandbox = dir.0.join("sandbox");
        let u = uri(&format!("{base}/files/a.txt?version=2"));
        let report = fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(report.downloaded, 1);
        assert_eq!(fs::read(sandbox.join("a.txt")).unwrap(), b"hello");
        let request = &server.join().unwrap()[0];
        assert!(
            request.starts_with("GET /files/a.txt?version=2 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("Host: {}", &base[7..])),
            "{request}"
        );
    }

    #[test]
    fn http_fetch_decodes_a_chunked_body() {
        let dir = TempDir::new("chunked");
        let (base, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
        ]);
        let sandbox = dir.0.join("sandbox");
        let u = uri(&format!("{base}/c.txt"));
        fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(
            fs::read_to_string(sandbox.join("c.txt")).unwrap(),
            "hello, world"
        );
        server.join().unwrap();
    }

    #[test]
    fn http_fetch_follows_a_redirect_to_a_connection_close_body() {
        let dir = TempDir::new("redirect");
        let (base, server) = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /real/b.txt\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
        ]);
        let sandbox = dir.0.join("sandbox");
        let u = uri(&format!("{base}/old/b.txt"));
        fetcher(&dir, 1 << 20).fetch(&[u], &sandbox, None).unwrap();
        assert_eq!(
            fs::read_to_string(sandbox.join("b.txt")).unwrap(),
            "until close"
        );
        let requests = server.join().unwrap();
        assert!(
            requests[1].starts_with("GET /real/b.txt "),
            "{}",
            requests[1]
        );
    }

    #[test]
    fn http_404_is_an_error_naming_the_status() {
        let dir = TempDir::new("404");
        let (base, server) = serve(vec![
            "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
        ]);
        let sandbox = dir.0.join("sandbox");
        let value = format!("{base}/missing.txt");
        let err = fetcher(&dir, 1 << 20)
            .fetch(&[uri(&value)], &sandbox, None)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("404 Not Found") && msg.contains(&value),
            "{msg}"
        );
        assert!(!sandbox.join("missing.txt").exists());
        server.join().unwrap();
    }

    #[test]
    fn cache_hit_does_not_read_the_source() {
        let dir = TempDir::new("cache-hit");
        let src = dir.file("big.dat", b"cached bytes");
        let f = fetcher(&dir, 1 << 20);
        let u = cached(src.to_str().unwrap());
        let first = f
            .fetch(from_ref(&u), &dir.0.join("sb1"), Some("alice"))
            .unwrap();
        assert_eq!((first.downloaded, first.cache_hits), (1, 0));
        assert_eq!((f.cache_entries(), f.cache_bytes()), (1, 12));
        assert!(dir
            .0
            .join("cache/alice")
            .read_dir()
            .unwrap()
            .next()
            .is_some());
        fs::remove_file(&src).unwrap();
        let second = f
            .fetch(from_ref(&u), &dir.0.join("sb2"), Some("alice"))
            .unwrap();
        assert_eq!((second.downloaded, second.cache_hits), (0, 1));
        assert_eq!(
            fs::read(dir.0.join("sb2/big.dat")).unwrap(),
            b"cached bytes"
        );
        // Another user's cache is separate, so the deleted source is missed.
        assert!(f.fetch(&[u], &dir.0.join("sb3"), Some("bob")).is_err());
    }

    #[test]
    fn lru_evicts_the_least_recently_used_entry() {
        let dir = TempDir::new("lru");
        let f = fetcher(&dir, 10);
        let [a, b, c] = ["a", "b", "c"].map(|n| cached(dir.file(n, b"1234").to_str().unwrap()));
        let sandbox = dir.0.join("sandbox");
        f.fetch(&[a.clone(), b.clone()], &sandbox, None).unwrap();
        assert_eq!(f.fetch(from_ref(&a), &sandbox, None).unwrap().cache_hits, 1);
        f.fetch(from_ref(&c), &sandbox, None).unwrap(); // evicts b, the least recently used
        assert_eq!((f.cache_entries(), f.cache_bytes()), (2, 8));
        let big = cached(dir.file("big", &[7u8; 11]).to_str().unwrap());
        f.fetch(&[big], &sandbox, None).unwrap(); // bigger than the cache: not cached
        assert_eq!((f.cache_entries(), f.cache_bytes()), (2, 8));
        for name in ["a", "b", "c"] {
            fs::remove_file(dir.0.join(name)).unwrap();
        }
        let hits = f.fetch(&[a, c], &sandbox, None).unwrap();
        assert_eq!(hits.cache_hits, 2);
        assert!(f.fetch(&[b], &sandbox, None).is_err());
    }

    #[test]
    fn new_starts_with_an_empty_cache_dir() {
        let dir = TempDir::new("reset");
        fs::create_dir_all(dir.0.join("cache/root")).unwrap();
        dir.file("cache/root/stale", b"old");
        let f = fetcher(&dir, 100);
        assert!(dir.0.join("cache").is_dir());
        assert_eq!(dir.0.join("cache").read_dir().unwrap().count(), 0);
        assert_eq!(f.cache_entries(), 0);
    }

    #[test]
    fn relative_or_empty_uri_is_rejected() {
        let dir = TempDir::new("relative");
        let f = fetcher(&dir, 100);
        for value in ["some/file.txt", "file.txt", "", "file://relative/x"] {
            let err = f.fetch(&[uri(value)], &dir.0.join("sb"), None).unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{value}: {err}");
        }
    }

    #[test]
    fn output_file_escaping_the_sandbox_is_rejected() {
        let dir = TempDir::new("escape");
        let src = dir.file("x", b"x");
        for out in ["../x", "a/../../x", "/etc/x", "."] {
            let mut u = uri(src.to_str().unwrap());
            u.output_file = Some(out.into());
            let err = fetcher(&dir, 100)
                .fetch(&[u], &dir.0.join("sb"), None)
                .unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{out}: {err}");
        }
    }

    #[test]
    fn https_is_rejected_as_unsupported() {
        let dir = TempDir::new("https");
        let u = uri("https://example.com/a.tar.gz");
        let err = fetcher(&dir, 100)
            .fetch(&[u], &dir.0.join("sb"), None)
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Fetch { .. }), "{msg}");
        assert!(msg.contains("'https' is not supported"), "{msg}");
    }
}
