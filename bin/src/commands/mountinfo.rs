//! The kernel's table of this process's mounts (`/proc/self/mountinfo`), read to tell a
//! mount that `flatroot mount` made from any other before `flatroot umount` touches it.
//!
//! See: proc_pid_mountinfo(5) for the format.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};

/// The file system types of a `flatroot mount`: FUSE with the subtype flatroot sets, as
/// `fusermount3` mounts it for a user, or plain FUSE, as root's direct mount(2) shows it
/// (fuser passes no subtype to the kernel).
pub const FSTYPES: [&str; 2] = ["fuse.flatroot", "fuse"];

/// How the source name of a `flatroot mount` begins (`flatroot:SOURCE`).
pub const SOURCE_PREFIX: &str = "flatroot:";

/// One mount of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted, unescaped.
    pub mountpoint: PathBuf,
    /// The file system type (`fuse.flatroot`, `tmpfs`, …).
    pub fstype: String,
    /// The source the mount was given (`flatroot:image`, `tmpfs`, …), unescaped.
    pub source: String,
}

impl Mount {
    /// Whether `flatroot mount` made this mount: its type and source are the ones it sets.
    pub fn is_flatroot(&self) -> bool {
        FSTYPES.contains(&self.fstype.as_str()) && self.source.starts_with(SOURCE_PREFIX)
    }
}

/// Reads this process's mount table, in the kernel's order (a later mount on the same
/// directory hides an earlier one).
///
/// # Errors
/// When `/proc/self/mountinfo` cannot be read.
pub fn read() -> std::io::Result<Vec<Mount>> {
    let table = std::fs::read("/proc/self/mountinfo")?;
    Ok(parse(&table))
}

/// Parses the table's lines; a line without the fields the format promises is skipped.
pub fn parse(table: &[u8]) -> Vec<Mount> {
    table.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let mountpoint = fields.get(4)?;
    // Optional fields end with a lone `-`; then come the type and the source.
    let dash = fields.iter().skip(6).position(|f| *f == b"-")? + 6;
    let fstype = fields.get(dash + 1)?;
    let source = fields.get(dash + 2)?;
    Some(Mount {
        mountpoint: PathBuf::from(OsString::from_vec(unescape(mountpoint))),
        fstype: String::from_utf8_lossy(&unescape(fstype)).into_owned(),
        source: String::from_utf8_lossy(&unescape(source)).into_owned(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash, …).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The mount that is visible on `dir` (the last of those on it), if any.
pub fn on<'a>(mounts: &'a [Mount], dir: &Path) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mountpoint == dir)
}

/// The mounts below `dir` (not on it), in the table's order.
pub fn below<'a>(mounts: &'a [Mount], dir: &Path) -> Vec<&'a Mount> {
    mounts.iter().filter(|m| m.mountpoint != dir && m.mountpoint.starts_with(dir)).collect()
}

/// The absolute form of `path` as the mount table writes it. The directory above is
/// resolved (symlinks and all) and the last name only when it is a symlink: a mount whose
/// server is gone fails every look into it (ENOTCONN).
///
/// # Errors
/// When the working directory or the directory above cannot be resolved, or nothing is at
/// `path`.
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let resolved = match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) if name.as_bytes() != b".." => {
            std::fs::canonicalize(parent)?.join(name)
        }
        _ => return std::fs::canonicalize(&absolute),
    };
    // A mountpoint is taken as written, without a look at it: a look waits for the mount's
    // server, which may be stopped and never answer. The kernel lists no symlink as one.
    if read().is_ok_and(|mounts| on(&mounts, &resolved).is_some()) {
        return Ok(resolved);
    }
    // A symlink there is followed, as umount(8) follows it. Looking at a mount whose server
    // is gone fails (ENOTCONN): that name is the mount, as written.
    match std::fs::symlink_metadata(&resolved) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(&resolved),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(error),
        Ok(_) | Err(_) => Ok(resolved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /tmp/a\\040b rw,nosuid - tmpfs tmpfs rw
31 30 0:41 / /tmp/a\\040b/inner ro,nosuid,nodev,relatime shared:7 master:2 - \
fuse.flatroot flatroot:img\\040x ro,user_id=0,group_id=0
32 22 0:42 / /mnt ro - fuse.sshfs flatroot:fake ro
33 22 0:43 / /m2 ro - fuse.flatroot other ro
34 22 0:44 / /m3 ro - fuse flatroot:image ro
malformed line
";

    #[test]
    fn lines_parse_with_optional_fields_and_escapes() {
        let mounts = parse(TABLE);
        assert_eq!(mounts.len(), 6, "{mounts:?}");
        assert_eq!(mounts[1].mountpoint, Path::new("/tmp/a b"));
        assert_eq!(mounts[1].fstype, "tmpfs");
        assert_eq!(mounts[2].mountpoint, Path::new("/tmp/a b/inner"));
        assert_eq!(mounts[2].source, "flatroot:img x");
        assert!(mounts[2].is_flatroot());
        assert!(!mounts[1].is_flatroot(), "a tmpfs");
        assert!(!mounts[3].is_flatroot(), "another FUSE file system with a lookalike source");
        assert!(!mounts[4].is_flatroot(), "the type alone is not enough");
        assert!(mounts[5].is_flatroot(), "root's mount shows no subtype");
    }

    #[test]
    fn the_last_mount_on_a_directory_is_the_visible_one_and_nested_ones_are_found() {
        let mut table = TABLE.to_vec();
        table.extend_from_slice(b"40 30 0:50 / /tmp/a\\040b rw - fuse.flatroot flatroot:y ro\n");
        let mounts = parse(&table);
        assert_eq!(on(&mounts, Path::new("/tmp/a b")).unwrap().source, "flatroot:y");
        assert!(on(&mounts, Path::new("/tmp")).is_none());
        let nested = below(&mounts, Path::new("/tmp/a b"));
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].mountpoint, Path::new("/tmp/a b/inner"));
        assert!(below(&mounts, Path::new("/tmp/a")).is_empty(), "by components, not bytes");
    }

    #[test]
    fn a_backslash_without_three_octal_digits_stays() {
        assert_eq!(unescape(b"a\\b\\12"), b"a\\b\\12");
        assert_eq!(unescape(b"\\134x"), b"\\x");
    }
}
