//! Starting a container's first process: the posix launcher (its own session and process
//! group) and the linux launcher (also new mount and pid namespaces, bind-mounted volumes, and
//! optionally an image's root filesystem entered with `pivot_root`).
//!
//! Containers start through [`spawn`]: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` with the
//! pid and mount namespaces created in the same call, so the agent's page tables are never
//! copied and the child is pid 1 of its namespace with the agent as its parent (waited on
//! through the pidfd, [`wait_child`]). Everything the child does before exec is in
//! [`Plan::enter`]-style steps that only make system calls on buffers prepared beforehand; it
//! joins its cgroups before exec, so nothing it starts escapes them.
//!
//! [`apply_in_group`] does the same steps as a `pre_exec` hook of a `tokio::process::Command`
//! (the executor uses it to start a task in its image, in a new mount namespace made with
//! `unshare`); a pid namespace needs [`spawn`].

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{Error, Result};

/// A bind mount into the container.
#[derive(Clone, Debug, PartialEq)]
pub struct BindMount {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears (in the container's view; inside the rootfs when there is one).
    pub target: PathBuf,
    /// Mounted read-only.
    pub readonly: bool,
}

/// An image's root filesystem to run in.
#[derive(Clone, Debug, PartialEq)]
pub struct Rootfs {
    /// The provisioned rootfs on the host.
    pub path: PathBuf,
    /// The sandbox on the host, mounted at [`SANDBOX_IN_ROOTFS`].
    pub sandbox: PathBuf,
    /// The working directory inside (default the sandbox).
    pub working_dir: Option<String>,
}

/// Where the sandbox appears inside an image's rootfs.
pub const SANDBOX_IN_ROOTFS: &str = "/mnt/mesos/sandbox";

/// A resource limit for `setrlimit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rlimit {
    /// Which.
    pub resource: nix::sys::resource::Resource,
    /// Soft limit (`u64::MAX`: unlimited).
    pub soft: u64,
    /// Hard limit (`u64::MAX`: unlimited).
    pub hard: u64,
}

/// What the child does before exec, as asked for.
#[derive(Clone, Debug, Default)]
pub struct Isolation {
    /// `cgroup.procs` files to join.
    pub cgroup_procs: Vec<PathBuf>,
    /// New mount namespace.
    pub mount_namespace: bool,
    /// New pid namespace (implies a mount namespace, for a fresh /proc).
    pub pid_namespace: bool,
    /// Bind mounts (need a mount namespace).
    pub mounts: Vec<BindMount>,
    /// An image's rootfs (needs a mount namespace).
    pub rootfs: Option<Rootfs>,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// The user to become last, after everything that needs root.
    pub run_as: Option<RunAs>,
    /// A network namespace to join: the file it is bind mounted on (network/cni).
    pub net_namespace: Option<PathBuf>,
    /// A UTS namespace of its own with this hostname.
    pub hostname: Option<String>,
    /// An IPC namespace of its own (namespaces/ipc).
    pub ipc_namespace: bool,
    /// An IPC namespace to join: the file it is bind mounted on (a nested container sharing
    /// its parent's).
    pub join_ipc: Option<PathBuf>,
    /// A directory (a tmpfs) mounted at the container's `/dev/shm`.
    pub shm: Option<PathBuf>,
    /// The capabilities to keep (linux/capabilities).
    pub capabilities: Option<Capabilities>,
    /// `no_new_privs` (linux/nnp).
    pub no_new_privs: bool,
    /// With an image: a `/dev` of its own holding these host device nodes (linux/devices),
    /// rather than the host's.
    pub devices: Option<Vec<PathBuf>>,
}

/// A container's own `/dev` (linux/devices), in C strings: a tmpfs holding device nodes bound
/// from the host's, directories, `pts` (a devpts of its own), `shm` and links.
struct DevPlan {
    /// Directories to make, parents first (`pts`, `shm`, `net`...).
    dirs: Vec<CString>,
    /// (the host's node, the node inside).
    nodes: Vec<(CString, CString)>,
    pts: CString,
    shm: CString,
    /// (what the link points to, the link).
    links: Vec<(CString, CString)>,
}

impl DevPlan {
    fn new(dev_at: &Path, devices: &[PathBuf]) -> Result<DevPlan> {
        let mut dirs = vec![dev_at.join("pts"), dev_at.join("shm")];
        let mut nodes = Vec::new();
        for d in devices {
            let rel = d.strip_prefix("/dev").map_err(|_| {
                Error::Invalid(format!("device '{}' is not under /dev", d.display()))
            })?;
            let inside = dev_at.join(rel);
            let mut parents: Vec<PathBuf> = inside
                .ancestors()
                .skip(1)
                .take_while(|p| *p != dev_at)
                .map(Path::to_path_buf)
                .collect();
            parents.reverse();
            for p in parents {
                if !dirs.contains(&p) {
                    dirs.push(p);
                }
            }
            nodes.push((cstr(d)?, cstr(&inside)?));
        }
        let links = [
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
            ("pts/ptmx", "ptmx"),
        ]
        .iter()
        .map(|(to, name)| Ok((cstr(Path::new(to))?, cstr(&dev_at.join(name))?)))
        .collect::<Result<_>>()?;
        Ok(DevPlan {
            dirs: dirs.iter().map(|d| cstr(d)).collect::<Result<_>>()?,
            nodes,
            pts: cstr(&dev_at.join("pts"))?,
            shm: cstr(&dev_at.join("shm"))?,
            links,
        })
    }

    /// Makes the `/dev` at its place (in the child, before `pivot_root`): system calls on
    /// prepared buffers only.
    unsafe fn make(&self, dev_at: &CString) -> nix::Result<()> {
        use nix::libc;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        nix::mount::mount(
            Some(c"tmpfs"),
            dev_at.as_c_str(),
            Some(c"tmpfs"),
            flags,
            Some(c"mode=755"),
        )?;
        for d in &self.dirs {
            if libc::mkdir(d.as_ptr(), 0o755) != 0 {
                return Err(nix::errno::Errno::last());
            }
        }
        for (host, inside) in &self.nodes {
            let fd = libc::open(
                inside.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o666,
            );
            if fd < 0 {
                return Err(nix::errno::Errno::last());
            }
            libc::close(fd);
            bind(host, inside, false)?;
        }
        nix::mount::mount(
            Some(c"devpts"),
            self.pts.as_c_str(),
            Some(c"devpts"),
            flags,
            Some(c"newinstance,ptmxmode=0666,mode=0620"),
        )?;
        nix::mount::mount(
            Some(c"tmpfs"),
            self.shm.as_c_str(),
            Some(c"tmpfs"),
            flags | MsFlags::MS_NODEV,
            Some(c"mode=1777"),
        )?;
        for (to, link) in &self.links {
            if libc::symlink(to.as_ptr(), link.as_ptr()) != 0 {
                return Err(nix::errno::Errno::last());
            }
        }
        Ok(())
    }
}

/// Capability sets, as bit masks (bit n: capability n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The only capabilities the command has after exec (`None`: what its user has).
    pub effective: Option<u64>,
    /// The bounding set (`None`: unchanged).
    pub bounding: Option<u64>,
}

/// A user to run as: ids resolved before the fork (name lookups are not async-signal-safe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// Its supplementary groups.
    pub groups: Vec<u32>,
}

impl RunAs {
    /// Looks `user` up in the system's user database, with its groups.
    pub fn lookup(user: &str) -> Result<RunAs> {
        let u = nix::unistd::User::from_name(user)
            .map_err(|e| Error::Invalid(format!("cannot look user '{user}' up: {e}")))?
            .ok_or_else(|| Error::Invalid(format!("user '{user}' does not exist on this agent")))?;
        let name = CString::new(user.as_bytes())
            .map_err(|_| Error::Invalid("a user name with a NUL byte".into()))?;
        let groups = nix::unistd::getgrouplist(&name, u.gid)
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_else(|_| vec![u.gid.as_raw()]);
        Ok(RunAs {
            name: user.to_string(),
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            groups,
        })
    }
}

struct CMount {
    source: CString,
    target: CString,
    readonly: bool,
}

/// [`Isolation`] turned into C strings before the fork.
pub struct Plan {
    procs: Vec<CString>,
    unshare: CloneFlags,
    pid_ns: bool,
    mounts: Vec<CMount>,
    rootfs: Option<(CString, CString, CString, CString, CString)>,
    workdir: Option<CString>,
    rlimits: Vec<Rlimit>,
    run_as: Option<(nix::unistd::Uid, nix::unistd::Gid, Vec<nix::unistd::Gid>)>,
    net_ns: Option<CString>,
    hostname: Option<CString>,
    ipc_ns: Option<CString>,
    /// The directory mounted at `/dev/shm`, and where that is before `pivot_root`.
    shm: Option<(CString, CString)>,
    /// A `/dev` of its own (linux/devices).
    dev: Option<DevPlan>,
    caps: Option<Capabilities>,
    /// The highest capability number this kernel knows (for the bounding set).
    last_cap: u32,
    no_new_privs: bool,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("path '{}' contains a NUL byte", p.display())))
}

fn mkdirs(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io("cannot create", p, e))
}

/// Creates what a bind target needs to exist: a directory for a directory, an empty file for
/// a file.
fn prepare_target(source: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    if source.is_dir() {
        mkdirs(target)
    } else {
        if let Some(p) = target.parent() {
            mkdirs(p)?;
        }
        std::fs::File::create(target)
            .map(drop)
            .map_err(|e| Error::io("cannot create", target, e))
    }
}

impl Plan {
    /// Prepares `iso`: checks paths, creates mount points (inside the rootfs too), and
    /// converts every path to a C string.
    pub fn new(iso: &Isolation) -> Result<Plan> {
        let mut unshare = CloneFlags::empty();
        let needs_ns = iso.mount_namespace
            || iso.pid_namespace
            || !iso.mounts.is_empty()
            || iso.rootfs.is_some()
            || iso.shm.is_some();
        if needs_ns {
            unshare |= CloneFlags::CLONE_NEWNS;
        }
        if iso.hostname.is_some() {
            unshare |= CloneFlags::CLONE_NEWUTS;
        }
        if iso.pid_namespace {
            unshare |= CloneFlags::CLONE_NEWPID;
        }
        if iso.ipc_namespace {
            unshare |= CloneFlags::CLONE_NEWIPC;
        }
        let shm = match (&iso.shm, &iso.rootfs) {
            (None, _) => None,
            (Some(s), None) => Some((cstr(s)?, c"/dev/shm".to_owned())),
            (Some(s), Some(r)) => Some((cstr(s)?, cstr(&r.path.join("dev/shm"))?)),
        };
        let dev = match (&iso.devices, &iso.rootfs) {
            (Some(d), Some(r)) => Some(DevPlan::new(&r.path.join("dev"), d)?),
            _ => None,
        };
        let mut mounts = Vec::new();
        let mut rootfs = None;
        let mut workdir = None;
        if let Some(r) = &iso.rootfs {
            let inside = |p: &str| r.path.join(p.trim_start_matches('/'));
            let sandbox_at = inside(SANDBOX_IN_ROOTFS);
            mkdirs(&sandbox_at)?;
            mkdirs(&inside("proc"))?;
            mkdirs(&inside("dev"))?;
            if iso.net_namespace.is_some() {
                mkdirs(&inside("sys"))?;
            }
            mkdirs(&inside("tmp"))?;
            rootfs = Some((
                cstr(&r.path)?,
                cstr(&r.sandbox)?,
                cstr(&sandbox_at)?,
                cstr(&inside("proc"))?,
                cstr(&inside("dev"))?,
            ));
            let wd = r.working_dir.as_deref().unwrap_or(SANDBOX_IN_ROOTFS);
            workdir = Some(cstr(Path::new(wd))?);
            for m in &iso.mounts {
                if !m.source.exists() {
                    return Err(Error::Invalid(format!(
                        "volume source '{}' does not exist",
                        m.source.display()
                    )));
                }
                let t = inside(&m.target.to_string_lossy());
                prepare_target(&m.source, &t)?;
                mounts.push(CMount {
                    source: cstr(&m.source)?,
                    target: cstr(&t)?,
                    readonly: m.readonly,
                });
            }
        } else {
            for m in &iso.mounts {
                if !m.source.exists() {
                    return Err(Error::Invalid(format!(
                        "volume source '{}' does not exist",
                        m.source.display()
                    )));
                }
                prepare_target(&m.source, &m.target)?;
                mounts.push(CMount {
                    source: cstr(&m.source)?,
                    target: cstr(&m.target)?,
                    readonly: m.readonly,
                });
            }
        }
        Ok(Plan {
            procs: iso
                .cgroup_procs
                .iter()
                .map(|p| cstr(p))
                .collect::<Result<_>>()?,
            unshare,
            pid_ns: iso.pid_namespace,
            mounts,
            rootfs,
            workdir,
            rlimits: iso.rlimits.clone(),
            net_ns: iso.net_namespace.as_deref().map(cstr).transpose()?,
            ipc_ns: iso.join_ipc.as_deref().map(cstr).transpose()?,
            shm,
            dev,
            caps: iso.capabilities,
            last_cap: std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(40),
            no_new_privs: iso.no_new_privs,
            hostname: iso
                .hostname
                .as_deref()
                .map(|h| {
                    CString::new(h).map_err(|_| Error::Invalid("a hostname with a NUL byte".into()))
                })
                .transpose()?,
            run_as: iso.run_as.as_ref().map(|u| {
                (
                    nix::unistd::Uid::from_raw(u.uid),
                    nix::unistd::Gid::from_raw(u.gid),
                    u.groups
                        .iter()
                        .map(|g| nix::unistd::Gid::from_raw(*g))
                        .collect(),
                )
            }),
        })
    }

    /// Runs in the child between fork and exec. Only system calls on prepared buffers.
    ///
    /// # Safety
    /// Must be called only in a freshly forked child (as a `pre_exec` hook).
    pub unsafe fn enter(&self) -> std::io::Result<()> {
        self.enter_with(false)
    }

    /// As [`Plan::enter`]; with `cloned` the namespaces were made by `clone` already (the
    /// caller is pid 1 of its pid namespace), so there is nothing to unshare or fork.
    unsafe fn enter_with(&self, cloned: bool) -> std::io::Result<()> {
        use nix::libc;
        self.isolate(cloned)?;
        let os = |r: libc::c_int| {
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let caps = self.caps.unwrap_or_default();
        if let Some(b) = caps.bounding {
            for cap in 0..=self.last_cap.min(63) {
                if b & (1u64 << cap) == 0 {
                    os(libc::prctl(
                        libc::PR_CAPBSET_DROP,
                        cap as libc::c_ulong,
                        0,
                        0,
                        0,
                    ))?;
                }
            }
        }
        if caps.effective.is_some() {
            // Root gains no capabilities at exec, and the permitted set survives setuid: the
            // ambient set below is all the command will have.
            const NOROOT: libc::c_ulong = 1 << 0;
            const NOROOT_LOCKED: libc::c_ulong = 1 << 1;
            const KEEP_CAPS: libc::c_ulong = 1 << 4;
            os(libc::prctl(
                libc::PR_SET_SECUREBITS,
                NOROOT | NOROOT_LOCKED | KEEP_CAPS,
                0,
                0,
                0,
            ))?;
        }
        // Once nothing needs root any more: the user (groups, then gid, then uid).
        if let Some((uid, gid, groups)) = &self.run_as {
            let err = |e: nix::errno::Errno| std::io::Error::from_raw_os_error(e as i32);
            nix::unistd::setgroups(groups).map_err(err)?;
            nix::unistd::setgid(*gid).map_err(err)?;
            nix::unistd::setuid(*uid).map_err(err)?;
        }
        if let Some(e) = caps.effective {
            #[repr(C)]
            struct Header {
                version: u32,
                pid: libc::c_int,
            }
            #[repr(C)]
            #[derive(Clone, Copy)]
            struct Data {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            let header = Header {
                version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
                pid: 0,
            };
            let word = |w: u32| (e >> (32 * w)) as u32;
            let data = [0, 1].map(|w| Data {
                effective: word(w),
                permitted: word(w),
                inheritable: word(w),
            });
            os(libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int)?;
            for cap in 0..=self.last_cap.min(63) {
                if e & (1u64 << cap) != 0 {
                    os(libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                        0,
                        0,
                    ))?;
                }
            }
        }
        if self.no_new_privs {
            os(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        Ok(())
    }

    /// The steps of [`Plan::enter_with`] that need root: cgroups, limits, namespaces, mounts.
    unsafe fn isolate(&self, cloned: bool) -> std::io::Result<()> {
        use nix::fcntl::{open, OFlag};
        use nix::sys::stat::Mode;
        let err = |e: nix::errno::Errno| std::io::Error::from_raw_os_error(e as i32);
        for p in &self.procs {
            let fd = open(
                p.as_c_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(err)?;
            let r = nix::unistd::write(std::os::fd::BorrowedFd::borrow_raw(fd), b"0");
            let _ = nix::unistd::close(fd);
            r.map_err(err)?;
        }
        for l in &self.rlimits {
            nix::sys::resource::setrlimit(l.resource, l.soft, l.hard).map_err(err)?;
        }
        // Namespaces to join, each kept on a file (network/cni's, a parent's IPC namespace).
        for (ns, kind) in [
            (&self.net_ns, CloneFlags::CLONE_NEWNET),
            (&self.ipc_ns, CloneFlags::CLONE_NEWIPC),
        ] {
            if let Some(ns) = ns {
                let fd = open(
                    ns.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(err)?;
                let fd = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd);
                nix::sched::setns(&fd, kind).map_err(err)?;
            }
        }
        if self.unshare.is_empty() {
            return Ok(());
        }
        if !cloned {
            nix::sched::unshare(self.unshare).map_err(err)?;
        }
        if let Some(h) = &self.hostname {
            let r = nix::libc::sethostname(h.as_ptr(), h.as_bytes().len());
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let none: Option<&std::ffi::CStr> = None;
        nix::mount::mount(
            none,
            c"/",
            none,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            none,
        )
        .map_err(err)?;
        if self.pid_ns && !cloned {
            // A pid namespace applies to children of the unsharer: only `spawn` makes one.
            return Err(std::io::Error::from_raw_os_error(nix::libc::EINVAL));
        }
        for m in &self.mounts {
            bind(&m.source, &m.target, m.readonly).map_err(err)?;
        }
        match &self.rootfs {
            None => {
                if let Some((shm, at)) = &self.shm {
                    bind(shm, at, false).map_err(err)?;
                }
                if self.pid_ns {
                    let _ = nix::mount::umount2(c"/proc", MntFlags::MNT_DETACH);
                    nix::mount::mount(
                        Some(c"proc"),
                        c"/proc",
                        Some(c"proc"),
                        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                        none,
                    )
                    .map_err(err)?;
                }
            }
            Some((root, sandbox, sandbox_at, proc_at, dev_at)) => {
                // pivot_root needs the new root to be a mount point.
                bind(root, root, false).map_err(err)?;
                bind(sandbox, sandbox_at, false).map_err(err)?;
                match &self.dev {
                    Some(d) => d.make(dev_at).map_err(err)?,
                    None => nix::mount::mount(
                        Some(c"/dev"),
                        dev_at.as_c_str(),
                        none,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        none,
                    )
                    .map_err(err)?,
                }
                // Its own /dev/shm over the host's.
                if let Some((shm, at)) = &self.shm {
                    bind(shm, at, false).map_err(err)?;
                }
                nix::mount::mount(
                    Some(c"proc"),
                    proc_at.as_c_str(),
                    Some(c"proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    none,
                )
                .map_err(err)?;
                nix::unistd::chdir(root.as_c_str()).map_err(err)?;
                // Stack the old root under the new one, then detach it.
                nix::unistd::pivot_root(c".", c".").map_err(err)?;
                nix::mount::umount2(c".", MntFlags::MNT_DETACH).map_err(err)?;
                nix::unistd::chdir(c"/").map_err(err)?;
            }
        }
        if self.net_ns.is_some() {
            // A sysfs of the container's network namespace (its /sys/class/net), as Mesos
            // mounts for a container on a network of its own.
            let _ = nix::mount::umount2(c"/sys", MntFlags::MNT_DETACH);
            nix::mount::mount(
                Some(c"sysfs"),
                c"/sys",
                Some(c"sysfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                none,
            )
            .map_err(err)?;
        }
        if let Some(w) = &self.workdir {
            nix::unistd::chdir(w.as_c_str()).map_err(err)?;
        }
        Ok(())
    }
}

fn bind(source: &CString, target: &CString, readonly: bool) -> nix::Result<()> {
    let none: Option<&std::ffi::CStr> = None;
    nix::mount::mount(
        Some(source.as_c_str()),
        target.as_c_str(),
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )?;
    if readonly {
        nix::mount::mount(
            Some(source.as_c_str()),
            target.as_c_str(),
            none,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
            none,
        )?;
    }
    Ok(())
}

/// Converts `ContainerInfo.rlimit_info` into limits (absent values mean unlimited).
pub fn rlimits(info: &mesos_api::protocol::container::RLimitInfo) -> Result<Vec<Rlimit>> {
    use mesos_api::protocol::container::RLimitType as T;
    use nix::sys::resource::Resource as R;
    let mut out = Vec::new();
    for l in &info.rlimits {
        let resource = match l.kind {
            T::As => R::RLIMIT_AS,
            T::Core => R::RLIMIT_CORE,
            T::Cpu => R::RLIMIT_CPU,
            T::Data => R::RLIMIT_DATA,
            T::Fsize => R::RLIMIT_FSIZE,
            T::Locks => R::RLIMIT_LOCKS,
            T::Memlock => R::RLIMIT_MEMLOCK,
            T::Msgqueue => R::RLIMIT_MSGQUEUE,
            T::Nice => R::RLIMIT_NICE,
            T::Nofile => R::RLIMIT_NOFILE,
            T::Nproc => R::RLIMIT_NPROC,
            T::Rss => R::RLIMIT_RSS,
            T::Rtprio => R::RLIMIT_RTPRIO,
            T::Rttime => R::RLIMIT_RTTIME,
            T::Sigpending => R::RLIMIT_SIGPENDING,
            T::Stack => R::RLIMIT_STACK,
            T::Unknown => return Err(Error::Invalid("rlimit of an unknown type".into())),
        };
        let (soft, hard) = match (l.soft, l.hard) {
            (None, None) => (u64::MAX, u64::MAX),
            (Some(s), Some(h)) if s <= h => (s, h),
            (Some(s), Some(h)) => {
                return Err(Error::Invalid(format!(
                    "rlimit {}: soft limit {s} is above the hard limit {h}",
                    l.kind
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "rlimit {}: give both soft and hard, or neither for unlimited",
                    l.kind
                )))
            }
        };
        out.push(Rlimit {
            resource,
            soft,
            hard,
        });
    }
    Ok(out)
}

/// Applies `plan` to `cmd` as its pre-exec hook, leaving the session alone (for a task the
/// executor starts in its own process group).
pub fn apply_in_group(cmd: &mut tokio::process::Command, plan: Plan) {
    // SAFETY: `Plan::enter` only makes async-signal-safe system calls on buffers made before
    // the fork.
    unsafe {
        cmd.pre_exec(move || plan.enter());
    }
}

/// A process to start with [`spawn`]: everything prepared before the clone.
pub struct SpawnSpec {
    /// The program (a path; not looked up in `PATH`).
    pub program: PathBuf,
    /// argv[1..].
    pub args: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The working directory (before any rootfs; the plan's own wins after pivot_root).
    pub cwd: PathBuf,
    /// Standard input (`None`: `/dev/null`).
    pub stdin: Option<std::fs::File>,
    /// Standard output.
    pub stdout: std::fs::File,
    /// Standard error.
    pub stderr: std::fs::File,
    /// Standard input is a terminal, to become the process's controlling terminal.
    pub tty: bool,
}

struct Child<'a> {
    program: &'a std::ffi::CStr,
    argv: &'a [*const nix::libc::c_char],
    envp: &'a [*const nix::libc::c_char],
    cwd: &'a std::ffi::CStr,
    stdin: i32,
    stdout: i32,
    stderr: i32,
    tty: bool,
    plan: &'a Plan,
    /// The errno of the step that failed (0: exec'd).
    error: std::sync::atomic::AtomicI32,
}

extern "C" fn child_main(arg: *mut nix::libc::c_void) -> nix::libc::c_int {
    use nix::libc;
    // SAFETY: `arg` points at the `Child` the parent keeps alive while it is suspended
    // (CLONE_VFORK); only system calls on prepared buffers follow.
    unsafe {
        let c = &*(arg as *const Child);
        let fail = |e: i32| -> ! {
            c.error.store(e.max(1), std::sync::atomic::Ordering::SeqCst);
            libc::_exit(127)
        };
        // Default dispositions, then let signals in (the parent blocked them).
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if libc::setsid() < 0 {
            fail(*libc::__errno_location());
        }
        for (from, to) in [(c.stdin, 0), (c.stdout, 1), (c.stderr, 2)] {
            if libc::dup2(from, to) < 0 {
                fail(*libc::__errno_location());
            }
        }
        // The new session's controlling terminal.
        if c.tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            fail(*libc::__errno_location());
        }
        if libc::chdir(c.cwd.as_ptr()) < 0 {
            fail(*libc::__errno_location());
        }
        if let Err(e) = c.plan.enter_with(true) {
            fail(e.raw_os_error().unwrap_or(libc::EINVAL));
        }
        libc::execve(c.program.as_ptr(), c.argv.as_ptr(), c.envp.as_ptr());
        fail(*libc::__errno_location())
    }
}

/// Starts a container's first process with `clone(CLONE_VM | CLONE_VFORK)`, creating its
/// pid and mount namespaces in the same call: no page tables are copied (the agent may be a
/// large process) and the process is pid 1 of its namespace with the agent as its parent.
/// Returns its OS pid and a pidfd to wait on.
pub fn spawn(spec: SpawnSpec, plan: &Plan) -> Result<(i32, std::os::fd::OwnedFd)> {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let program = cstr(&spec.program)?;
    let mut argv_c = vec![program.clone()];
    for a in &spec.args {
        argv_c.push(
            CString::new(a.as_bytes())
                .map_err(|_| Error::Invalid("argument with a NUL byte".into()))?,
        );
    }
    let mut env_c = Vec::new();
    for (k, v) in &spec.env {
        env_c.push(
            CString::new(format!("{k}={v}")).map_err(|_| {
                Error::Invalid(format!("environment variable '{k}' has a NUL byte"))
            })?,
        );
    }
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env_c.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let cwd = cstr(&spec.cwd)?;
    let devnull =
        std::fs::File::open("/dev/null").map_err(|e| Error::io("cannot open", "/dev/null", e))?;
    let child = Child {
        program: &program,
        argv: &argv,
        envp: &envp,
        cwd: &cwd,
        stdin: spec
            .stdin
            .as_ref()
            .map_or(devnull.as_raw_fd(), |f| f.as_raw_fd()),
        stdout: spec.stdout.as_raw_fd(),
        stderr: spec.stderr.as_raw_fd(),
        tty: spec.tty,
        plan,
        error: std::sync::atomic::AtomicI32::new(0),
    };
    let mut stack = vec![0u8; 256 << 10];
    // The stack grows down; keep the top 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // Every namespace the plan asks for comes with the clone (the child unshares nothing).
    flags |= plan.unshare.bits();
    if plan.pid_ns {
        flags |= libc::CLONE_NEWPID;
    }
    let mut pidfd: libc::c_int = -1;
    // SAFETY: signals are blocked around the clone so no handler of the parent runs on the
    // child's stack; the child only makes system calls and execs (or exits) while the parent
    // waits (CLONE_VFORK), so everything it borrows outlives it.
    let os_pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let os_pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            flags,
            &child as *const Child as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        );
        let errno = *libc::__errno_location();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if os_pid < 0 {
            return Err(Error::Launch(format!(
                "clone: {}",
                std::io::Error::from_raw_os_error(errno)
            )));
        }
        os_pid
    };
    drop(stack);
    // SAFETY: CLONE_PIDFD stored a new descriptor we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let e = child.error.load(std::sync::atomic::Ordering::SeqCst);
    if e != 0 {
        // It exited without exec'ing: reap it.
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(os_pid, &mut st, 0) };
        return Err(Error::Launch(format!(
            "{}: {}",
            spec.program.display(),
            std::io::Error::from_raw_os_error(e)
        )));
    }
    Ok((os_pid, pidfd))
}

/// Waits for a child started by [`spawn`] to end and reaps it: its raw wait status.
pub async fn wait_child(os_pid: i32, pidfd: std::os::fd::OwnedFd) -> Option<i32> {
    use nix::libc;
    // SAFETY: the descriptor is owned by the AsyncFd for as long as it is registered.
    let registered = unsafe { tokio::io::unix::AsyncFd::register(pidfd) };
    if let Ok(afd) = &registered {
        let _ = afd.readable().await;
    }
    let mut st = 0;
    loop {
        // SAFETY: reaping our own child.
        let r = unsafe { libc::waitpid(os_pid, &mut st, libc::WNOHANG) };
        if r == os_pid {
            return Some(st);
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(if registered.is_ok() {
            1
        } else {
            100
        }))
        .await;
    }
}

/// `program` as a path: as given when it has a `/`, else found in `PATH` (from `env`, else the
/// agent's).
pub fn resolve(program: &Path, env: &[(String, String)]) -> PathBuf {
    if program.as_os_str().as_bytes().contains(&b'/') {
        return program.to_path_buf();
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| program.to_path_buf())
}

/// The session id of process `pid` (field 6 of `/proc/<pid>/stat`), if it is still there.
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // After it: state, ppid, pgrp, session.
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// SIGKILLs every process of session `sid`: a container's first process leads its own
/// session, and what it starts stays in that session even when its parent dies and it is
/// reparented (a task in its own process group under a killed executor), so a posix
/// container ends whole. Repeats while new members appear (bounded). Blocking: it reads
/// `/proc`. Returns how many processes it signalled.
pub fn kill_session(sid: i32) -> usize {
    if sid <= 1 {
        return 0;
    }
    let me = std::process::id() as i32;
    let mut killed = 0;
    for _ in 0..10 {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return killed;
        };
        let members: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| *p != me && session_of(*p) == Some(sid))
            .collect();
        if members.is_empty() {
            break;
        }
        for p in members {
            if nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL)
                .is_ok()
            {
                killed += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    killed
}
