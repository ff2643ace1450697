//! What makes a directory a flatroot cache: flatroot's own `CACHEDIR.TAG` file, written
//! when the cache is first used ([`Cache::claim`]). Nothing in a directory without it that
//! holds other files is ever written, swept or collected.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::{Cache, CacheError, Kind, io_error};

/// The file that marks a directory as a flatroot cache, in the Cache Directory Tagging
/// format (backup tools skip such directories). Only a tagged directory is ever swept or
/// collected, so a mistaken `--cache-dir ~` removes nothing.
pub const TAG_FILE: &str = "CACHEDIR.TAG";

/// What [`TAG_FILE`] holds: the format's signature line, then a comment.
const TAG_TEXT: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
    # This file is a cache directory tag created by flatroot.\n\
    # For information about cache directory tags see https://bford.info/cachedir/\n";

/// The prefix of the temporary a tag is written under before it is renamed into place.
const TAG_TEMP_PREFIX: &str = ".CACHEDIR.TAG.";

/// Whether the file at `path` is flatroot's tag: `None` when there is none, `Some(false)`
/// for another tool's tag or anything else by that name.
fn is_our_tag(path: &Path) -> Option<bool> {
    match std::fs::symlink_metadata(path) {
        Err(_) => None,
        Ok(meta) if !meta.is_file() => Some(false),
        Ok(_) => Some(std::fs::read(path).is_ok_and(|bytes| bytes == TAG_TEXT.as_bytes())),
    }
}

/// Makes `dir` and its missing parents, `dir` itself readable by its owner alone: a cache's
/// entries go into images, so no other user may write them.
pub(super) fn make_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    // Missing parents are made at most 0755 whatever the umask: one others could write would
    // let them replace the cache (see `way_to`).
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        // The umask may have taken bits away, never added them; 0700 it is.
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)),
        Err(e) => Err(e),
    }
}

/// What a walk down the way to a cache directory found.
#[derive(Debug, PartialEq, Eq)]
enum Way {
    /// Nothing another user could change.
    Safe,
    /// A place where another user could make the way lead elsewhere.
    Unsafe(PathBuf),
    /// A place that does not exist, in a directory every user may write: another user could
    /// make it theirs (or have just moved theirs away), so nothing on the way can be trusted
    /// until this user has made it.
    Missing(PathBuf),
}

/// The way to `path` for the user `euid`: [`Way::Unsafe`] at the first file (a directory, a
/// symlink) on it that belongs to another user than `euid` or root, or directory every user
/// may write without the sticky bit. Every symlink met is followed, hop by hop, and its
/// target checked the same way; so on a safe way no other user can change what `path` leads
/// to. A component that does not exist ends the walk: safe in a directory only this user
/// (and its group) may write, where no one else can make it; [`Way::Missing`] in one every
/// user may write. Group-writable directories on the way are the group's business and are
/// not refused.
fn way_to(path: &Path, euid: u32) -> Way {
    const MAX_LINKS: usize = 40;
    let Ok(absolute) = std::path::absolute(path) else { return Way::Unsafe(path.to_path_buf()) };
    let mut todo = steps(&absolute);
    let mut at = PathBuf::from("/");
    let mut links = 0;

    while let Some(step) = todo.pop_front() {
        let name = match step {
            Step::Into(name) => name,
            Step::Up => {
                at.pop();
                continue;
            }
        };
        let next = at.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            let parent_open = std::fs::metadata(&at).is_ok_and(|m| m.mode() & 0o002 != 0);
            return if parent_open { Way::Missing(next) } else { Way::Safe };
        };
        let ours = meta.uid() == euid || meta.uid() == 0;
        let open_dir = meta.is_dir() && meta.mode() & 0o002 != 0 && meta.mode() & 0o1000 == 0;
        if !ours || open_dir {
            return Way::Unsafe(next);
        }

        if meta.file_type().is_symlink() {
            links += 1;
            let Ok(target) = std::fs::read_link(&next) else { return Way::Unsafe(next) };
            if links > MAX_LINKS {
                return Way::Unsafe(next);
            }
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            for step in steps(&target).into_iter().rev() {
                todo.push_front(step);
            }
            continue;
        }
        at = next;
    }
    Way::Safe
}

/// A step of a walk down a path: into a name, or up to the parent.
enum Step {
    Into(OsString),
    Up,
}

/// The steps of `path` from where it starts (the root for an absolute one).
fn steps(path: &Path) -> VecDeque<Step> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(Step::Into(name.to_os_string())),
            Component::ParentDir => Some(Step::Up),
            Component::RootDir | Component::Prefix(_) | Component::CurDir => None,
        })
        .collect()
}

impl Cache {
    /// Makes sure the directory is a flatroot cache before anything in it is written or
    /// removed: tagged with flatroot's own [`TAG_FILE`], or (with `create`) made (its owner's
    /// alone) and tagged when it is missing or empty. A cache is tagged before anything goes
    /// into it, so a directory that holds anything without the tag is never taken for one,
    /// whatever its subdirectories are named. Another tool's tag is not flatroot's, and a
    /// directory every user may write is refused: its entries go into images.
    ///
    /// # Errors
    /// [`CacheError::NotACache`] for a directory holding anything else, or a file;
    /// [`CacheError::Shared`] for a world-writable one; [`CacheError::Missing`] for a missing
    /// one without `create`; or [`CacheError::Io`].
    pub fn claim(&self, create: bool) -> Result<(), CacheError> {
        self.recognise(create, true)
    }

    /// What [`Cache::claim`] checks, for a reader: the same errors, but nothing is made or
    /// tagged, and an empty directory is an empty cache.
    ///
    /// # Errors
    /// As [`Cache::claim`] without `create`.
    pub fn check(&self) -> Result<(), CacheError> {
        self.recognise(false, false)
    }

    /// Whether entries may be taken from this cache: its way is [safe](Cache::way). Found
    /// once per directory and process; an unsafe cache is said in one warning and reads as
    /// empty. A way with a [missing](Way::Missing) place reads as empty too, and is looked at
    /// again at the next read: the cache is not made yet, or another user is moving it.
    pub fn trusted(&self) -> bool {
        static KNOWN: Mutex<BTreeMap<PathBuf, bool>> = Mutex::new(BTreeMap::new());
        let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&trusted) = known.get(&self.root) {
            return trusted;
        }

        let way = self.way();
        match &way {
            Way::Missing(_) => return false,
            Way::Unsafe(dir) => tracing::warn!(
                "{} may be written, or replaced, by users other than this one; the cache {} is \
                 not used",
                dir.display(),
                self.root.display()
            ),
            Way::Safe => {}
        }
        known.insert(self.root.clone(), way == Way::Safe);
        way == Way::Safe
    }

    /// Whether this process may keep entries in the cache and take them from it: it can be
    /// [claimed](Cache::claim) (made when missing) and is [trusted](Cache::trusted). Found
    /// once per directory and process. A cache that is not usable is said in one warning,
    /// naming why, whichever command or part of it asks first (downloads, unpacked package
    /// data, layer segments), so that every command using the cache says it alike; the
    /// askers then go on without it.
    pub fn usable(&self) -> bool {
        static KNOWN: Mutex<BTreeMap<PathBuf, bool>> = Mutex::new(BTreeMap::new());
        let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&usable) = known.get(&self.root) {
            return usable;
        }

        let usable = match self.claim(true) {
            Ok(()) => self.trusted(),
            // `trusted` says why such a cache is not used, once per process.
            Err(CacheError::Shared { .. }) => {
                self.trusted();
                false
            }
            Err(error) => {
                let why = crate::error_chain(&error);
                tracing::warn!("{why}; the cache {} is not used", self.root.display());
                false
            }
        };
        known.insert(self.root.clone(), usable);
        usable
    }

    /// The way to the cache's directory and its kinds' directories: [`Way::Unsafe`] at the
    /// first of them that a group or other users may write, else what [`way_to`] finds on
    /// the way to each, the first that is not safe. Another user who could change any of it
    /// could put entries into images.
    fn way(&self) -> Way {
        let euid = nix::unistd::geteuid().as_raw();
        let kinds = Kind::ALL.iter().map(|kind| self.root.join(kind.dir()));
        let dirs: Vec<PathBuf> = std::iter::once(self.root.clone()).chain(kinds).collect();
        let open = dirs.iter().find(|dir| {
            std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir() && meta.mode() & 0o022 != 0)
        });
        if let Some(dir) = open {
            return Way::Unsafe(dir.clone());
        }

        dirs.iter().map(|dir| way_to(dir, euid)).find(|way| *way != Way::Safe).unwrap_or(Way::Safe)
    }

    fn recognise(&self, create: bool, tag: bool) -> Result<(), CacheError> {
        match std::fs::metadata(&self.root) {
            Ok(meta) if !meta.is_dir() => {
                return Err(CacheError::NotACache {
                    path: self.root.clone(),
                    why: super::NOT_A_DIRECTORY,
                });
            }
            _ => {}
        }
        if let Way::Unsafe(dir) = self.way() {
            return Err(CacheError::Shared { path: dir });
        }
        match is_our_tag(&self.root.join(TAG_FILE)) {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(CacheError::NotACache {
                    path: self.root.clone(),
                    why: super::NOT_OUR_TAG,
                });
            }
            None => {}
        }

        let listing = match std::fs::read_dir(&self.root) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                make_private_dir(&self.root).map_err(io_error(&self.root))?;
                // Another user may have made a missing directory on the way meanwhile.
                if let Way::Unsafe(dir) | Way::Missing(dir) = self.way() {
                    return Err(CacheError::Shared { path: dir });
                }
                std::fs::read_dir(&self.root).map_err(io_error(&self.root))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CacheError::Missing { path: self.root.clone() });
            }
            Err(e) => return Err(CacheError::Io { path: self.root.clone(), source: e }),
        };

        for item in listing {
            let item = item.map_err(io_error(&self.root))?;
            let name = item.file_name();
            // Another process tagging it at this moment: its tag, or the tag's temporary.
            if name == TAG_FILE {
                return match is_our_tag(&item.path()) {
                    Some(true) => Ok(()),
                    _ => Err(CacheError::NotACache {
                        path: self.root.clone(),
                        why: super::NOT_OUR_TAG,
                    }),
                };
            }
            if name.to_string_lossy().starts_with(TAG_TEMP_PREFIX) {
                continue;
            }
            // Even the kinds' directories alone: another program's, or someone's, by chance.
            return Err(CacheError::NotACache { path: self.root.clone(), why: super::OTHER_FILES });
        }
        if !tag {
            return Ok(());
        }
        if !create {
            return Err(CacheError::NotACache { path: self.root.clone(), why: super::NO_TAG });
        }
        self.write_tag().map_err(io_error(&self.root.join(TAG_FILE)))
    }

    /// Writes [`TAG_FILE`] whole under a temporary name and renames it into place, so that
    /// no other process ever reads a half-written tag.
    fn write_tag(&self) -> io::Result<()> {
        let temp = tempfile::Builder::new().prefix(TAG_TEMP_PREFIX).tempfile_in(&self.root)?;
        std::fs::write(temp.path(), TAG_TEXT)?;
        temp.persist(self.root.join(TAG_FILE)).map(drop).map_err(|e| e.error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_way_to_a_cache_must_not_be_another_users_to_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let euid = nix::unistd::geteuid().as_raw();
        let cache = root.join("mine/cache");
        std::fs::create_dir_all(&cache).unwrap();
        assert_eq!(way_to(&cache, euid), Way::Safe);
        assert_eq!(way_to(&root.join("mine/not-yet/cache"), euid), Way::Safe);

        // A directory everyone may write, without the sticky bit: anyone can rename `cache`.
        let open = root.join("open");
        std::fs::create_dir_all(open.join("cache")).unwrap();
        mode(&open, 0o777);
        assert_eq!(way_to(&open.join("cache"), euid), Way::Unsafe(open.clone()));
        // With it (as /tmp has), what this user made there is safe.
        mode(&open, 0o1777);
        assert_eq!(way_to(&open.join("cache"), euid), Way::Safe);
        // But a place missing there could be made by anyone, or have just been moved away.
        assert_eq!(way_to(&open.join("gone/cache"), euid), Way::Missing(open.join("gone")));
        // Such a cache reads as empty until this user has made it, and is trusted then.
        let fresh = Cache::new(open.join("fresh"));
        assert!(!fresh.trusted());
        drop(fresh.temporary().unwrap());
        assert!(fresh.trusted());

        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP the parts with another user's files: they need root to chown");
            return;
        }
        let nobody = Some(nix::unistd::Uid::from_raw(65534));
        // Another user's directory, or symlink, in the sticky directory.
        let theirs = open.join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        nix::unistd::chown(&theirs, nobody, None).unwrap();
        assert_eq!(way_to(&theirs.join("cache"), euid), Way::Unsafe(theirs.clone()));
        let link = open.join("link");
        std::os::unix::fs::symlink(root.join("mine"), &link).unwrap();
        nix::unistd::fchownat(None, &link, nobody, None, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .unwrap();
        assert_eq!(way_to(&link.join("cache"), euid), Way::Unsafe(link.clone()));
        // Another user's directory anywhere on the way, even one only they may write.
        let closed = root.join("closed");
        std::fs::create_dir_all(closed.join("cache")).unwrap();
        nix::unistd::chown(&closed, nobody, None).unwrap();
        assert_eq!(way_to(&closed.join("cache"), euid), Way::Unsafe(closed.clone()));
        // Every hop of a chain of symlinks: this user's link to another user's link.
        let mine = root.join("mine-link");
        std::os::unix::fs::symlink(&link, &mine).unwrap();
        assert_eq!(way_to(&mine.join("cache"), euid), Way::Unsafe(link.clone()));
        // A kind's directory that leads through another user's link.
        let good = Cache::new(root.join("mine/cache"));
        std::os::unix::fs::symlink(
            link.join("cache/unpacked-elsewhere"),
            good.root.join("unpacked"),
        )
        .unwrap();
        assert_eq!(good.way(), Way::Unsafe(link.clone()));
        // The whole check, through the cache itself: the given path is refused though what
        // the link resolves to is this user's.
        let cache = Cache::new(link.join("cache"));
        assert!(!cache.trusted());
        assert!(matches!(cache.claim(false), Err(CacheError::Shared { .. })));
    }
}
