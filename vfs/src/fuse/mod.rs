//! Serving a [`FrozenTree`] read-only through FUSE (feature `fuse`).
//!
//! [`mount`] mounts a tree and returns a [`Mounted`] session; [`Mounted::serve`] answers the
//! kernel until the file system is unmounted, on several worker threads at once. The tree is
//! immutable, so attributes and entries are given long cache lifetimes, files are opened with
//! `keep_cache`, and reads are slices of the tree's shared content buffers, never copies.
//! Every call that would change the file system fails with `EROFS`, and the mount itself is
//! read-only.
//!
//! ```no_run
//! use std::sync::Arc;
//! use flatroot_vfs::fuse::{self, MountConfig};
//! use flatroot_vfs::{Metadata, Tree};
//!
//! let tree = Arc::new(Tree::new(Metadata::directory(0o755)).freeze());
//! let mounted = fuse::mount(tree, "/mnt/image".as_ref(), &MountConfig::default())?;
//! mounted.serve()?; // returns once something unmounts /mnt/image
//! # Ok::<(), fuse::FuseError>(())
//! ```

mod attr;
mod fs;
mod ops;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{Config, MountOption, Session, SessionACL};

pub use fs::TreeFs;

use crate::frozen::FrozenTree;

/// How a tree is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    /// The source name `mount` and `/proc/mounts` show (default `flatroot`).
    pub fsname: String,
    /// Let users other than the one who mounted read the file system (FUSE `allow_other`;
    /// for a non-root user it needs `user_allow_other` in `/etc/fuse.conf`). Default: off.
    pub allow_other: bool,
    /// How many threads answer requests, each reading from its own clone of the FUSE
    /// connection; 0 and values above [`MAX_THREADS`] are taken as the nearest bound.
    /// Default: the number of CPUs available.
    pub threads: usize,
}

/// The most worker threads a mount runs: requests are answered from memory, so threads
/// beyond the cores that read the mount mostly add idle stacks.
pub const MAX_THREADS: usize = 64;

impl Default for MountConfig {
    fn default() -> MountConfig {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        MountConfig { fsname: "flatroot".to_string(), allow_other: false, threads }
    }
}

/// Why a tree could not be mounted or served.
#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    /// The kernel or `fusermount3` refused the mount.
    #[error("cannot mount on {mountpoint}")]
    Mount {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Reading requests from `/dev/fuse` failed while serving.
    #[error("serving the mount on {mountpoint} failed")]
    Serve {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Unmounting failed.
    #[error("cannot unmount {mountpoint}")]
    Unmount {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// A mounted tree whose requests are not being answered yet.
///
/// The kernel queues requests from the moment [`mount`] returns; they are answered once
/// [`Mounted::serve`] runs. Dropping a `Mounted` unmounts.
pub struct Mounted {
    session: Session<TreeFs>,
    mountpoint: PathBuf,
}

impl std::fmt::Debug for Mounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounted").field("mountpoint", &self.mountpoint).finish_non_exhaustive()
    }
}

/// Mounts `tree` read-only on `mountpoint` (which must be an existing directory).
///
/// The mount is `ro` with `default_permissions`, so the kernel checks the tree's modes and
/// owners itself; device nodes show their numbers whether or not the mount lets them be
/// opened. As root the kernel is asked directly; otherwise `fusermount3` mounts (and adds
/// `nosuid,nodev`).
///
/// Errors: [`FuseError::Mount`] when `/dev/fuse` cannot be opened or the mount is refused.
pub fn mount(
    tree: Arc<FrozenTree>,
    mountpoint: &Path,
    config: &MountConfig,
) -> Result<Mounted, FuseError> {
    let mut options = Config::default();
    options.mount_options = vec![
        MountOption::RO,
        MountOption::FSName(config.fsname.clone()),
        MountOption::Subtype("flatroot".to_string()),
        MountOption::DefaultPermissions,
    ];
    if config.allow_other {
        options.acl = SessionACL::All;
    }
    let threads = config.threads.clamp(1, MAX_THREADS);
    options.n_threads = Some(threads);
    // Each worker reads its own FUSE_DEV_IOC_CLONE'd descriptor (Linux 4.5 and later): the
    // kernel still queues every request once, but replies need no shared lock.
    options.clone_fd = threads > 1;
    let error = |source| FuseError::Mount { mountpoint: mountpoint.to_path_buf(), source };
    let session = Session::new(TreeFs::new(tree), mountpoint, &options).map_err(error)?;
    tracing::debug!(mountpoint = %mountpoint.display(), threads, "mounted");
    Ok(Mounted { session, mountpoint: mountpoint.to_path_buf() })
}

impl Mounted {
    /// The directory the tree is mounted on.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Answers the kernel until the file system goes away: unmounted (also lazily, once the
    /// last open file is closed) or its connection aborted.
    ///
    /// [`MountConfig::threads`] threads answer requests at once, and this call returns when
    /// the last of them has seen the connection end. If serving fails while the file system
    /// is still mounted, it is unmounted.
    pub fn serve(self) -> Result<(), FuseError> {
        let error = |source| FuseError::Serve { mountpoint: self.mountpoint.clone(), source };
        // The session runs on a thread of its own, so that this thread holds the mount and
        // decides what becomes of it when serving ends.
        let mut background = self.session.spawn().map_err(error)?;
        // `guard` is the one part of the session that can be taken out of it; a finished
        // thread stands in for it.
        let placeholder = std::thread::Builder::new().spawn(|| Ok(())).map_err(error)?;
        let serving = std::mem::replace(&mut background.guard, placeholder);
        let result = serving.join().unwrap_or_else(|_| Err(io::Error::other("a worker panicked")));
        match result {
            Ok(()) => {
                // The kernel has ended the connection, so there is nothing left to unmount;
                // and fuser 0.18.0 would unmount the path again (its `is_mounted` misreads
                // a dead connection), which could take down a newer mount on the same
                // directory. The mount record (a descriptor and a path) is left to the
                // process instead.
                // TODO(mount): drop normally once a fuser release has its PR #703 fix.
                std::mem::forget(background);
                Ok(())
            }
            Err(source) => Err(error(source)),
        }
    }
}

/// Detaches the mount on `mountpoint` at once (`umount -l`): it disappears from the
/// namespace, files already open keep working, and the server's [`Mounted::serve`] returns
/// when the last of them is closed. Without the privilege to unmount, this runs
/// `fusermount3 -u -z`.
///
/// Errors: [`FuseError::Unmount`] when neither way works.
pub fn unmount_lazily(mountpoint: &Path) -> Result<(), FuseError> {
    let error = |source| FuseError::Unmount { mountpoint: mountpoint.to_path_buf(), source };
    let c_path = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes())
        .map_err(|e| error(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        return Ok(());
    }
    let direct = io::Error::last_os_error();
    if direct.raw_os_error() != Some(libc::EPERM) {
        return Err(error(direct));
    }
    let output = std::process::Command::new("fusermount3")
        .args(["-u", "-z", "--"])
        .arg(mountpoint)
        .output()
        .map_err(error)?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(error(io::Error::other(message)))
}
