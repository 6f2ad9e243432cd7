//! Archives: which a file name says it is, and extracting it into the sandbox with the system's
//! `tar`, `gzip` and `unzip` (a failure carries the tool's stderr).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

/// How an archive is extracted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Archive {
    Tar,
    Gzip,
    Zip,
}

/// Which archive a file name says it is.
pub(super) fn archive_kind(name: &Path) -> Option<Archive> {
    const TARS: [&str; 7] = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ];
    let name = name.file_name()?.to_str()?;
    if TARS.iter().any(|suffix| name.ends_with(suffix)) {
        Some(Archive::Tar)
    } else if name.ends_with(".gz") {
        Some(Archive::Gzip)
    } else if name.ends_with(".zip") {
        Some(Archive::Zip)
    } else {
        None
    }
}

/// Extracts `archive` into `sandbox` with the system tools; the error says why.
pub(super) fn extract(kind: Archive, archive: &Path, sandbox: &Path) -> Result<(), String> {
    match kind {
        Archive::Tar => run(Command::new("tar")
            .arg("-C")
            .arg(sandbox)
            .arg("-xf")
            .arg(archive)),
        Archive::Zip => run(Command::new("unzip")
            .args(["-o", "-q", "-d"])
            .arg(sandbox)
            .arg(archive)),
        Archive::Gzip => {
            let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = name.strip_suffix(".gz").unwrap_or("");
            if stem.is_empty() {
                return Err(format!("'{name}' has no name left once '.gz' is removed"));
            }
            let out = sandbox.join(stem);
            let file =
                File::create(&out).map_err(|e| format!("create '{}': {e}", out.display()))?;
            run(Command::new("gzip").arg("-dc").arg(archive).stdout(file)).inspect_err(|_| {
                let _ = fs::remove_file(&out);
            })
        }
    }
}

/// Runs an extraction tool; a failure carries its stderr.
fn run(command: &mut Command) -> Result<(), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{program} failed ({}): {}",
        output.status,
        stderr.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn archive_kinds_come_from_the_name() {
        let kind = |n: &str| archive_kind(&PathBuf::from(n));
        assert_eq!(kind("a/pkg.tar.gz"), Some(Archive::Tar));
        assert_eq!(kind("pkg.tgz"), Some(Archive::Tar));
        assert_eq!(kind("pkg.tar.xz"), Some(Archive::Tar));
        assert_eq!(kind("notes.txt.gz"), Some(Archive::Gzip));
        assert_eq!(kind("pkg.zip"), Some(Archive::Zip));
        assert_eq!(kind("pkg.txt"), None);
    }

    #[test]
    fn a_bare_gz_name_is_refused() {
        let err = extract(
            Archive::Gzip,
            Path::new("/nowhere/.gz"),
            Path::new("/nowhere"),
        );
        assert!(err.unwrap_err().contains("no name left"));
    }
}
