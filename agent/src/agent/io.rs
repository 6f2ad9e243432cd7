//! The I/O switchboard of an attachable container (a nested container session): the agent
//! holds the other ends of the container's standard input, output and error pipes. Output is
//! logged to the sandbox's `stdout` and `stderr` files through the container logger, as for
//! any container, and handed, as
//! it arrives, to every client attached to it (the session's own response,
//! ATTACH_CONTAINER_OUTPUT); ATTACH_CONTAINER_INPUT writes to its input.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mesos_containerizer::logger::Stream;
use mesos_containerizer::ContainerStdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc::{channel, error::TrySendError, Receiver, Sender};

/// Chunks an attached client may fall behind by before it is dropped (its stream ends): the
/// container's output is never held up, nor kept in memory, for a slow client.
const CLIENT_BACKLOG: usize = 64;

type Writer = Box<dyn AsyncWrite + Send + Unpin>;
type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A chunk of a container's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Output {
    /// From its standard output.
    Stdout(Bytes),
    /// From its standard error.
    Stderr(Bytes),
}

#[derive(Default)]
struct Attached {
    clients: Vec<Sender<Output>>,
    /// Both output pipes reached their end: no more output, ever.
    ended: bool,
}

/// The agent's side of an attachable container's standard streams.
#[derive(Clone)]
pub(super) struct Switchboard {
    stdin: Arc<tokio::sync::Mutex<Option<Writer>>>,
    attached: Arc<Mutex<Attached>>,
    /// An ATTACH_CONTAINER_INPUT is streaming (one at a time).
    input_attached: Arc<AtomicBool>,
    /// A TTY container's terminal (the agent's side), for resizing.
    terminal: Option<Arc<OwnedFd>>,
}

impl Switchboard {
    /// Pipes, or with `tty` (rows, columns) a terminal, for a container whose sandbox is
    /// `sandbox`: the switchboard (the agent's ends, pumping output to the sandbox's files and
    /// the attached clients) and the container's ends, for its launch. A terminal's output is
    /// all STDOUT.
    pub(super) fn new(
        sandbox: &Path,
        tty: Option<(u16, u16)>,
        log: impl Fn(Stream) -> std::io::Result<std::fs::File>,
    ) -> std::io::Result<(Switchboard, Arc<ContainerStdio>)> {
        let (stdin, readers, terminal, ends): (Writer, Vec<(Reader, Stream)>, _, _) = match tty {
            None => {
                let (in_r, in_w) = std::io::pipe()?;
                let (out_r, out_w) = std::io::pipe()?;
                let (err_r, err_w) = std::io::pipe()?;
                let out = pipe::Receiver::from_owned_fd(out_r.into())?;
                let err = pipe::Receiver::from_owned_fd(err_r.into())?;
                (
                    Box::new(pipe::Sender::from_owned_fd(in_w.into())?),
                    vec![
                        (Box::new(out) as Reader, Stream::Stdout),
                        (Box::new(err), Stream::Stderr),
                    ],
                    None,
                    ContainerStdio::new(in_r.into(), out_w.into(), err_w.into()),
                )
            }
            Some((rows, columns)) => {
                let (master, side) =
                    mesos_containerizer::tty::open(rows, columns).map_err(std::io::Error::other)?;
                let file = |fd: &OwnedFd| -> std::io::Result<tokio::fs::File> {
                    Ok(tokio::fs::File::from_std(std::fs::File::from(
                        fd.try_clone()?,
                    )))
                };
                (
                    Box::new(file(&master)?),
                    vec![(Box::new(file(&master)?) as Reader, Stream::Stdout)],
                    Some(Arc::new(master)),
                    ContainerStdio::terminal(side)?,
                )
            }
        };
        let sb = Switchboard {
            stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            attached: Arc::new(Mutex::new(Attached::default())),
            input_attached: Arc::new(AtomicBool::new(false)),
            terminal,
        };
        let open = Arc::new(AtomicUsize::new(readers.len()));
        for (reader, stream) in readers {
            let file = sandbox.join(stream.file_name());
            let log = log(stream)
                .inspect_err(|e| {
                    tracing::warn!(file = %file.display(), "cannot log a container's output: {e}")
                })
                .ok()
                .map(tokio::fs::File::from_std);
            tokio::spawn(pump(
                reader,
                (file, log),
                stream == Stream::Stdout,
                sb.attached.clone(),
                open.clone(),
            ));
        }
        Ok((sb, Arc::new(ends)))
    }

    /// Output from now on, until the container's output ends (then the receiver ends); a
    /// client more than [`CLIENT_BACKLOG`] chunks behind is dropped.
    pub(super) fn attach_output(&self) -> Receiver<Output> {
        let (tx, rx) = channel(CLIENT_BACKLOG);
        let mut a = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        if !a.ended {
            a.clients.push(tx);
        }
        rx
    }

    /// Takes the input side for one ATTACH_CONTAINER_INPUT; None while another holds it.
    pub(super) fn attach_input(&self) -> Option<Input> {
        (!self.input_attached.swap(true, Ordering::SeqCst)).then(|| Input {
            stdin: self.stdin.clone(),
            attached: self.input_attached.clone(),
            terminal: self.terminal.clone(),
        })
    }
}

/// The container's input, held by one ATTACH_CONTAINER_INPUT (released when dropped).
pub(super) struct Input {
    stdin: Arc<tokio::sync::Mutex<Option<Writer>>>,
    attached: Arc<AtomicBool>,
    terminal: Option<Arc<OwnedFd>>,
}

impl Input {
    /// Writes `data` to the container's input; empty data closes it (end of input, as Mesos
    /// reads an empty STDIN record). An error: the input is closed, or the container is gone.
    pub(super) async fn write(&self, data: &[u8]) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().await;
        let closed = || {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the container's input is closed",
            )
        };
        if data.is_empty() {
            // A terminal's end of input is its EOF character (^D).
            if self.terminal.is_some() {
                let w = stdin.as_mut().ok_or_else(closed)?;
                w.write_all(b"\x04").await?;
                w.flush().await?;
            }
            *stdin = None;
            return Ok(());
        }
        let w = stdin.as_mut().ok_or_else(closed)?;
        w.write_all(data).await?;
        w.flush().await
    }

    /// Resizes the container's terminal; an error when it has none.
    pub(super) fn resize(&self, rows: u16, columns: u16) -> Result<(), String> {
        let t = self
            .terminal
            .as_ref()
            .ok_or("The container has no terminal (it was launched without 'tty_info')")?;
        mesos_containerizer::tty::set_window_size(t.as_fd(), rows, columns)
            .map_err(|e| e.to_string())
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.attached.store(false, Ordering::SeqCst);
    }
}

/// Copies one output pipe to its sandbox file and the attached clients until its end.
async fn pump(
    mut reader: Reader,
    (file, mut log): (std::path::PathBuf, Option<tokio::fs::File>),
    stdout: bool,
    attached: Arc<Mutex<Attached>>,
    open: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        if let Some(f) = log.as_mut() {
            // Flushed before the chunk goes out: whoever sees it can read it in the file too.
            let _ = f.write_all(&chunk).await;
            let _ = f.flush().await;
        }
        let out = if stdout {
            Output::Stdout(chunk)
        } else {
            Output::Stderr(chunk)
        };
        let mut a = attached.lock().unwrap_or_else(|p| p.into_inner());
        a.clients.retain(|c| match c.try_send(out.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::info!(file = %file.display(), "dropping an attached client that fell behind");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }
    if open.fetch_sub(1, Ordering::SeqCst) == 1 {
        let mut a = attached.lock().unwrap_or_else(|p| p.into_inner());
        a.ended = true;
        a.clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    /// A process on the container's ends: what it prints reaches an attached client and the
    /// sandbox files; what the input gets reaches it; the output ends when it exits.
    #[tokio::test]
    async fn output_is_logged_and_fanned_out_and_input_reaches_the_process() {
        let dir = std::env::temp_dir().join(format!("mesos-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (sb, ends) = Switchboard::new(&dir, None, |s| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(s.file_name()))
        })
        .unwrap();
        let mut out = sb.attach_output();
        let [i, o, e] = ends.take().unwrap();
        assert!(ends.take().is_none(), "taken once");
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read line; echo \"got $line\"; echo oops >&2"])
            .stdin(Stdio::from(i))
            .stdout(Stdio::from(o))
            .stderr(Stdio::from(e))
            .spawn()
            .unwrap();
        let input = sb.attach_input().expect("the input is free");
        assert!(sb.attach_input().is_none(), "one input at a time");
        input.write(b"hello\n").await.unwrap();
        input.write(b"").await.unwrap();
        assert!(input.write(b"more").await.is_err(), "closed");
        drop(input);
        assert!(sb.attach_input().is_some(), "free again");
        let mut got = Vec::new();
        while let Some(o) = out.recv().await {
            got.push(o);
        }
        child.wait().unwrap();
        assert!(
            got.contains(&Output::Stdout(Bytes::from_static(b"got hello\n"))),
            "{got:?}"
        );
        assert!(
            got.contains(&Output::Stderr(Bytes::from_static(b"oops\n"))),
            "{got:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("stdout")).unwrap(),
            "got hello\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("stderr")).unwrap(),
            "oops\n"
        );
        // Attaching after the end: the output is over at once.
        assert!(sb.attach_output().recv().await.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
