//! Pseudo-terminals for containers with a TTY (sessions with `tty_info`): one is opened with a
//! window size, the container gets the terminal side as its controlling terminal and standard
//! streams, and its owner keeps the other side and resizes it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{Error, Result};

/// A new pseudo-terminal of `rows` x `columns`: (the owner's side, the container's side).
/// Both are opened close-on-exec, so no other container started meanwhile inherits them.
pub fn open(rows: u16, columns: u16) -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    let fail = |what: &str, e: nix::Error| Error::Invalid(format!("cannot {what}: {e}"));
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| fail("open a pseudo-terminal", e))?;
    nix::pty::grantpt(&master).map_err(|e| fail("grant the pseudo-terminal", e))?;
    nix::pty::unlockpt(&master).map_err(|e| fail("unlock the pseudo-terminal", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| fail("name the pseudo-terminal", e))?;
    let side = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| fail("open the pseudo-terminal's side", e))?;
    // SAFETY: `open` just returned this descriptor, which nothing else owns.
    let side = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(side) };
    // SAFETY: `posix_openpt` owns its descriptor; it is handed over whole.
    let master = unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            master,
        ))
    };
    set_window_size(master.as_fd(), rows, columns)?;
    Ok((master, side))
}

mod ioctl {
    nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, nix::pty::Winsize);
}

/// Resizes the terminal whose owner's side is `master` (its processes get SIGWINCH).
pub fn set_window_size(master: BorrowedFd<'_>, rows: u16, columns: u16) -> Result<()> {
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives across the call.
    unsafe { ioctl::set_winsize(master.as_raw_fd(), &size) }
        .map(|_| ())
        .map_err(|e| Error::Invalid(format!("cannot resize the terminal: {e}")))
}

/// Makes a command's child, in a process group of its own (`process_group(0)`), the
/// foreground process group of the terminal on its standard input, so that it may read it and
/// the terminal's signals (^C) reach it. SIGTTOU is ignored around the call, as a shell does:
/// a background group may not otherwise take the terminal.
pub fn foreground_on_terminal(c: &mut std::process::Command) {
    use nix::sys::signal::{signal, SigHandler, Signal};
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec; it only calls async-signal-safe functions
    // (signal, getpid, tcsetpgrp) and allocates nothing.
    unsafe {
        c.pre_exec(|| {
            let fd = BorrowedFd::borrow_raw(0);
            signal(Signal::SIGTTOU, SigHandler::SigIgn)?;
            let taken = nix::unistd::tcsetpgrp(fd, nix::unistd::getpid());
            signal(Signal::SIGTTOU, SigHandler::SigDfl)?;
            taken?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_opens_and_resizes() {
        let (master, slave) = open(24, 80).unwrap();
        let size = |fd: BorrowedFd<'_>| {
            let mut ws = nix::pty::Winsize {
                ws_row: 0,
                ws_col: 0,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, nix::pty::Winsize);
            // SAFETY: TIOCGWINSZ writes one `winsize` into the buffer given.
            unsafe { get_winsize(fd.as_raw_fd(), &mut ws) }.unwrap();
            (ws.ws_row, ws.ws_col)
        };
        assert_eq!(size(slave.as_fd()), (24, 80));
        set_window_size(master.as_fd(), 50, 132).unwrap();
        assert_eq!(size(slave.as_fd()), (50, 132));
    }
}
