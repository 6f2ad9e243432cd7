//! Files under a directory, and free ports.

use std::path::{Path, PathBuf};

/// What [`walk`] does with a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A link to a directory is walked into, its files listed under the link's own path (a
    /// sandbox's `runs/latest/stdout`, though `runs/<run>/stdout` is listed as well); a link
    /// to anything else (a file, or nothing) is listed like a file. A link to a directory the
    /// walk is already inside (the real directory of one it is walking, or one above that) is
    /// listed, not walked into, so a cycle of links ends.
    Follow,
    /// Links are neither listed nor walked into: each file is listed once, under its real path
    /// below the directory (not under `runs/latest`, nor a task group's `tasks/<task>`).
    Skip,
}

/// Every file under `dir`, recursively, directories themselves not listed; symbolic links as
/// `links` says. What cannot be read (`dir` missing, a directory removed during the walk) is
/// left out rather than failing: a test asserts on what it expected to find. The order is the
/// file system's.
pub fn walk(dir: &Path, links: Links) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut inside = Vec::new();
    if let Ok(real) = std::fs::canonicalize(dir) {
        inside.push(real);
    }
    walk_into(dir, links, &mut inside, &mut out);
    out
}

fn walk_into(dir: &Path, links: Links, inside: &mut Vec<PathBuf>, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_symlink() {
            match links {
                Links::Skip => {}
                Links::Follow => match std::fs::canonicalize(&p) {
                    Ok(real) if real.is_dir() && !inside.iter().any(|d| d.starts_with(&real)) => {
                        inside.push(real);
                        walk_into(&p, links, inside, out);
                        inside.pop();
                    }
                    _ => out.push(p),
                },
            }
        } else if ft.is_dir() {
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            inside.push(real);
            walk_into(&p, links, inside, out);
            inside.pop();
        } else {
            out.push(p);
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the OS picked it for a
/// listener this closes again). Another process may take it before the test does, as with any
/// such port; the binaries are told to listen on it right away.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> PathBuf {
        // runs/r1/stdout, runs/latest -> r1, tasks/t -> ../runs/r1, log -> runs/r1/stdout,
        // runs/r1/up -> .. (a cycle), gone -> nowhere.
        let d = std::env::temp_dir().join(format!("testkit-walk-{}", mesos_api::ids::new_uuid()));
        std::fs::create_dir_all(d.join("runs/r1")).unwrap();
        std::fs::create_dir_all(d.join("tasks")).unwrap();
        std::fs::write(d.join("runs/r1/stdout"), "out").unwrap();
        symlink("r1", d.join("runs/latest")).unwrap();
        symlink("../runs/r1", d.join("tasks/t")).unwrap();
        symlink("runs/r1/stdout", d.join("log")).unwrap();
        symlink("..", d.join("runs/r1/up")).unwrap();
        symlink("nowhere", d.join("gone")).unwrap();
        d
    }

    fn relative(d: &Path, mut v: Vec<PathBuf>) -> Vec<String> {
        v.sort();
        v.iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn skip_lists_each_real_file_once() {
        let d = tree();
        assert_eq!(relative(&d, walk(&d, Links::Skip)), ["runs/r1/stdout"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn follow_walks_links_to_directories_and_lists_other_links() {
        let d = tree();
        assert_eq!(
            relative(&d, walk(&d, Links::Follow)),
            [
                "gone",
                "log",
                "runs/latest/stdout",
                "runs/latest/up",
                "runs/r1/stdout",
                "runs/r1/up",
                "tasks/t/stdout",
                "tasks/t/up",
            ]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_directory_has_no_files() {
        assert!(walk(Path::new("/nonexistent/testkit"), Links::Follow).is_empty());
    }

    #[test]
    fn free_ports_can_be_bound() {
        let p = free_port();
        assert_ne!(p, 0);
        std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
    }
}
