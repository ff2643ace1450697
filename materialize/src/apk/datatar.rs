//! The tar inside an APK: entries of the data segment, read in place from the decompressed
//! buffer.
//!
//! [`read_entries`] walks a ustar/pax/GNU tar held in memory and returns one [`DataEntry`]
//! per filesystem object, with normalised byte-string paths and file contents as ranges
//! into the same buffer (never copied). It understands what real APK writers emit: POSIX
//! `ustar\0` and GNU `ustar  \0` headers, pax extended headers (`path`, `linkpath`, `size`,
//! `mtime` with fractional seconds, `uid`, `gid`, `SCHILY.xattr.*`,
//! `APK-TOOLS.checksum.SHA1`), GNU long names (`L`) and long link targets (`K`), base-256
//! numeric fields, and "cut" segments that end without end-of-archive blocks (abuild-tar
//! `--cut`, used for the signature and control segments).
//!
//! Every malformed input is an error naming the entry or byte offset; nothing panics:
//! `..` components, absolute names (after leading `./` is stripped), NUL in
//! names, sizes past the data, non-octal or overflowing numbers, malformed pax records,
//! non-zero bytes after the end-of-archive marker, and anything past [`Limits`].

use std::ops::Range;

mod ustar;

pub(crate) use ustar::{RawEntries, RawEntry};

/// Bounds on what hostile input may make a build hold, each checked while the input is
/// streamed: an index, a package's control and data segments, one tar's entries and names,
/// and how far compressed bytes may inflate. The defaults are far above any real Alpine or
/// Wolfi repository; [`Limit`] names each bound and the `flatroot build` option that
/// raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most entries one tar may hold; default 1,000,000.
    pub max_entries: usize,
    /// Longest path or link target, in bytes; default 4096 (Linux `PATH_MAX`).
    pub max_path_len: usize,
    /// Largest single file, in bytes; default 4 GiB.
    pub max_file_size: u64,
    /// Largest pax extended header or GNU long name, in bytes; default 1 MiB.
    pub max_extension_size: u64,
    /// Largest decompressed data segment of a package, in bytes; default 8 GiB. Used by
    /// [`crate::apk::package::read_package`] as the gzip output limit.
    pub max_data_size: u64,
    /// Largest decompressed signature or control segment of a package, in bytes; default
    /// 16 MiB (real control segments are a few KiB).
    pub max_control_size: u64,
    /// Largest decompressed `APKINDEX.tar.gz` index member, in bytes; default 512 MiB
    /// (Alpine's largest indexes inflate to a few MiB).
    pub max_index_size: u64,
    /// Most bytes one compressed byte of a package's data segment may inflate to; default
    /// 1000. Deflate cannot exceed about 1032:1, so only a bomb of one repeated byte trips
    /// the default. Checked only once the output passes [`RATIO_FLOOR`], so that small
    /// segments of tar padding are never refused.
    pub max_inflate_ratio: u64,
    /// Most symlinks one path of a package may pass through when it is placed in the tree;
    /// default 40, Linux's `ELOOP` bound ([`flatroot_vfs::MAX_SYMLINK_HOPS`]).
    pub max_symlink_hops: u32,
}

/// Output size below which [`Limits::max_inflate_ratio`] is not applied: 1 MiB.
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Limits {
    /// The gzip output limit for a data segment of `compressed` bytes: the smaller of
    /// [`Limits::max_data_size`] and the inflate ratio's bound, and which of the two it is.
    pub fn data_output_limit(&self, compressed: usize) -> (u64, Limit) {
        let by_ratio = (compressed as u64).saturating_mul(self.max_inflate_ratio).max(RATIO_FLOOR);
        if by_ratio < self.max_data_size {
            (by_ratio, Limit::InflateRatio)
        } else {
            (self.max_data_size, Limit::DataSize)
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_path_len: 4096,
            max_file_size: 4 << 30,
            max_extension_size: 1 << 20,
            max_data_size: 8 << 30,
            max_control_size: 16 << 20,
            max_index_size: 512 << 20,
            max_inflate_ratio: 1000,
            max_symlink_hops: flatroot_vfs::MAX_SYMLINK_HOPS,
        }
    }
}

/// One of the [`Limits`], for errors that say which bound was passed and how to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::max_index_size`].
    IndexSize,
    /// [`Limits::max_control_size`].
    ControlSize,
    /// [`Limits::max_data_size`].
    DataSize,
    /// [`Limits::max_file_size`].
    FileSize,
    /// [`Limits::max_entries`].
    Entries,
    /// [`Limits::max_path_len`].
    PathLength,
    /// [`Limits::max_inflate_ratio`].
    InflateRatio,
    /// [`Limits::max_symlink_hops`].
    SymlinkHops,
}

impl Limit {
    /// The `flatroot build` option that sets this limit, e.g. `--max-file-size`.
    pub fn option(self) -> &'static str {
        match self {
            Limit::IndexSize => "--max-index-size",
            Limit::ControlSize => "--max-control-size",
            Limit::DataSize => "--max-data-size",
            Limit::FileSize => "--max-file-size",
            Limit::Entries => "--max-entries",
            Limit::PathLength => "--max-path-length",
            Limit::InflateRatio => "--max-inflate-ratio",
            Limit::SymlinkHops => "--max-symlink-hops",
        }
    }

    /// The limit's value in `limits`.
    pub fn value(self, limits: &Limits) -> u64 {
        match self {
            Limit::IndexSize => limits.max_index_size,
            Limit::ControlSize => limits.max_control_size,
            Limit::DataSize => limits.max_data_size,
            Limit::FileSize => limits.max_file_size,
            Limit::Entries => limits.max_entries as u64,
            Limit::PathLength => limits.max_path_len as u64,
            Limit::InflateRatio => limits.max_inflate_ratio,
            Limit::SymlinkHops => u64::from(limits.max_symlink_hops),
        }
    }

    /// Which limit a tar error reports passing, if any.
    pub fn of_tar_error(error: &DataTarError, limits: &Limits) -> Option<Limit> {
        match error {
            DataTarError::TooManyEntries { .. } => Some(Limit::Entries),
            DataTarError::PathTooLong { .. } => Some(Limit::PathLength),
            DataTarError::TooLarge { limit, .. } if *limit == limits.max_file_size => {
                Some(Limit::FileSize)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Limit::IndexSize => "index size",
            Limit::ControlSize => "control segment size",
            Limit::DataSize => "data segment size",
            Limit::FileSize => "file size",
            Limit::Entries => "entries per package",
            Limit::PathLength => "path length",
            Limit::InflateRatio => "inflate ratio",
            Limit::SymlinkHops => "symlink hops",
        };
        f.write_str(name)
    }
}

/// One filesystem object of a package's data tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    /// Path relative to the image root, as bytes (not necessarily UTF-8): no leading `./` or
    /// `/`, no trailing `/`, no empty, `.` or `..` components. Empty only for an entry that
    /// names the root directory itself (`./`).
    pub path: Vec<u8>,
    /// What the entry is, with its content or target.
    pub kind: EntryKind,
    /// All twelve permission bits (`0o7777`), including setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner (tar `uid`, or pax `uid`); names in the header are not consulted.
    pub uid: u32,
    /// Numeric group (tar `gid`, or pax `gid`).
    pub gid: u32,
    /// Modification time, whole seconds since the epoch (pax `mtime` if present).
    pub mtime: i64,
    /// Nanoseconds of the pax `mtime`'s fraction; 0 when the time is whole seconds.
    pub mtime_nsec: u32,
    /// Extended attributes from `SCHILY.xattr.<name>` pax records, in header order, names
    /// without the prefix (e.g. `security.capability`).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The pax `APK-TOOLS.checksum.SHA1` value. For a regular file apk-tools checks it
    /// against the content; writers also put the SHA-1 of the target on symlinks and the
    /// linked file's checksum on hardlinks, which apk-tools records but does not check.
    pub checksum: Option<[u8; 20]>,
}

/// The type of a [`DataEntry`], as its tar typeflag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Typeflag `5`.
    Directory,
    /// Typeflag `0`, NUL or `7`: the content is `data[content]` of the buffer read.
    File {
        /// Byte range of the content within the tar buffer.
        content: Range<usize>,
    },
    /// Typeflag `2`: the target, exactly as written (may be absolute or contain `..`).
    Symlink {
        /// Link target bytes.
        target: Vec<u8>,
    },
    /// Typeflag `1`: another entry of the same tar, normalised like [`DataEntry::path`].
    /// Whether that entry exists (earlier, as a regular file) is for the unpacker to check.
    Hardlink {
        /// Normalised path of the entry linked to.
        target: Vec<u8>,
    },
    /// Typeflag `3`.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// Typeflag `4`.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// Typeflag `6`.
    Fifo,
}

/// What is wrong with a tar; `offset` is the byte offset of the header concerned, `path`
/// the entry's name as far as it is known (lossily decoded for display).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataTarError {
    /// The data ends inside a header or its content.
    #[error("tar truncated at byte {offset}: {what} needs {needed} more bytes")]
    Truncated {
        /// Offset where the missing bytes start.
        offset: usize,
        /// A header, or the content of the named entry.
        what: String,
        /// Bytes missing.
        needed: usize,
    },
    /// A header block whose checksum field does not match its bytes.
    #[error("tar header at byte {offset}: checksum mismatch")]
    HeaderChecksum {
        /// Header offset.
        offset: usize,
    },
    /// A header without the `ustar` magic (v7 tar, or not a tar at all).
    #[error("tar header at byte {offset}: no ustar magic")]
    NotUstar {
        /// Header offset.
        offset: usize,
    },
    /// A numeric header field or pax value that is not a number, or overflows.
    #[error("tar header at byte {offset}: field {field}: not a valid number: {found:?}")]
    BadNumber {
        /// Header offset.
        offset: usize,
        /// Field name (`size`, `mode`, `uid`, ...).
        field: &'static str,
        /// The field's bytes, lossily decoded.
        found: String,
    },
    /// A pax extended header that does not follow `<len> <key>=<value>\n`.
    #[error("pax header at byte {offset}: {reason}")]
    BadPax {
        /// Offset of the pax header block.
        offset: usize,
        /// What is malformed.
        reason: String,
    },
    /// A name with a `..` component.
    #[error("entry {path:?} at byte {offset}: '..' component")]
    DotDot {
        /// The name as written.
        path: String,
        /// Header offset.
        offset: usize,
    },
    /// An absolute name (a leading `/` once leading `./` is stripped).
    #[error("entry {path:?} at byte {offset}: absolute path")]
    Absolute {
        /// The name as written.
        path: String,
        /// Header offset.
        offset: usize,
    },
    /// A name with a component starting with `.wh.`: in an image layer that is a whiteout,
    /// which a runtime would take to delete a file instead of installing one.
    #[error(
        "entry {path:?} at byte {offset}: a name starting with '.wh.', which image layers \
         reserve for whiteouts"
    )]
    Whiteout {
        /// The name as written.
        path: String,
        /// Header offset.
        offset: usize,
    },
    /// A name or link target with a NUL byte inside.
    #[error("entry at byte {offset}: NUL byte in {what}")]
    Nul {
        /// Header offset.
        offset: usize,
        /// `path` or `link target`.
        what: &'static str,
    },
    /// An entry other than the root directory with an empty name.
    #[error("entry at byte {offset}: empty name")]
    EmptyName {
        /// Header offset.
        offset: usize,
    },
    /// A path or link target longer than [`Limits::max_path_len`].
    #[error("entry {path:?} at byte {offset}: {what} of {len} bytes exceeds the limit of {limit}")]
    PathTooLong {
        /// The entry's path, shortened to its first 256 bytes.
        path: String,
        /// Which name is too long: "path" or "link target".
        what: &'static str,
        /// Header offset.
        offset: usize,
        /// Length found.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More entries than [`Limits::max_entries`].
    #[error("tar has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A file or extension header larger than its limit.
    #[error("entry {path:?} at byte {offset}: size {size} exceeds the limit of {limit}")]
    TooLarge {
        /// The name as far as known.
        path: String,
        /// Header offset.
        offset: usize,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A typeflag this reader does not support (sparse files, volume labels, ...).
    #[error("entry {path:?} at byte {offset}: unsupported typeflag {typeflag:?}")]
    UnsupportedType {
        /// The name as written.
        path: String,
        /// Header offset.
        offset: usize,
        /// The typeflag byte.
        typeflag: char,
    },
    /// A pax header or GNU long name at the end with no entry after it.
    #[error("extension header at byte {offset} is not followed by an entry")]
    DanglingExtension {
        /// Offset of the extension header.
        offset: usize,
    },
    /// Non-zero bytes after the end-of-archive marker.
    #[error("non-zero data at byte {offset} after the end-of-archive marker")]
    TrailingData {
        /// Offset of the first such block.
        offset: usize,
    },
    /// An `APK-TOOLS.checksum.SHA1` value that is not 40 hex digits.
    #[error(
        "entry {path:?}: APK-TOOLS.checksum.SHA1 of the pax header at byte {offset} is not 40 \
         hex digits: {found:?}"
    )]
    BadChecksum {
        /// The name of the entry the pax header applies to.
        path: String,
        /// Offset of the pax header block giving the value.
        offset: usize,
        /// The value found.
        found: String,
    },
    /// A symlink whose target is empty, which no file system can hold (`symlink("", ..)`
    /// fails with `ENOENT` on Linux) and which a lookup would otherwise take for `.`.
    #[error("entry {path:?} at byte {offset}: symlink with an empty target")]
    EmptySymlinkTarget {
        /// The entry's name.
        path: String,
        /// Header offset.
        offset: usize,
    },
    /// An entry with an extended attribute no Linux file can hold (see
    /// [`flatroot_vfs::check_xattr`]): an empty name, a namespace alone (`user.`), a value
    /// past 64 KiB. apk-tools could not set it, and a mount of the image could not serve it.
    #[error("entry {path:?} at byte {offset} has an xattr that no Linux file can hold")]
    Xattr {
        /// The entry's name.
        path: String,
        /// Header offset.
        offset: usize,
        /// Which attribute, and what is wrong with it (boxed: the rare error keeps the
        /// others small).
        #[source]
        source: Box<flatroot_vfs::XattrError>,
    },
    /// A hard link whose target is empty (or `.`, `./`): it names no file to link to.
    #[error("entry {path:?} at byte {offset}: hard link with an empty target")]
    EmptyHardlinkTarget {
        /// The entry's name.
        path: String,
        /// Header offset.
        offset: usize,
    },
}

/// Reads every entry of a data tar held in `data`, in archive order.
///
/// Regular file contents are ranges into `data`. Pax records `APK-TOOLS.checksum.SHA1` are
/// parsed but not checked here; [`crate::apk::package::read_package`] checks them. A tar may
/// end with end-of-archive blocks (which must then be all zero to the end) or without them.
///
/// # Errors
/// Any [`DataTarError`]; the first problem found stops the walk.
pub fn read_entries(data: &[u8], limits: &Limits) -> Result<Vec<DataEntry>, DataTarError> {
    let mut entries = Vec::new();
    for raw in RawEntries::new(data, limits) {
        let raw = raw?;
        if entries.len() >= limits.max_entries {
            return Err(DataTarError::TooManyEntries { limit: limits.max_entries });
        }
        entries.push(to_data_entry(raw)?);
    }
    Ok(entries)
}

/// Turns a raw entry into a [`DataEntry`], normalising its names.
fn to_data_entry(raw: RawEntry) -> Result<DataEntry, DataTarError> {
    let offset = raw.offset;
    let path = normalise(&raw.name, offset)?;
    let kind = match raw.typeflag {
        b'5' => EntryKind::Directory,
        b'0' | b'\0' | b'7' => EntryKind::File { content: raw.content },
        b'2' if raw.link.is_empty() => {
            return Err(DataTarError::EmptySymlinkTarget {
                path: String::from_utf8_lossy(&raw.name).into_owned(),
                offset,
            });
        }
        b'2' => EntryKind::Symlink { target: raw.link },
        b'1' => {
            let target = normalise(&raw.link, offset)?;
            if target.is_empty() {
                return Err(DataTarError::EmptyHardlinkTarget {
                    path: String::from_utf8_lossy(&raw.name).into_owned(),
                    offset,
                });
            }
            EntryKind::Hardlink { target }
        }
        b'3' => EntryKind::CharDevice { major: raw.major, minor: raw.minor },
        b'4' => EntryKind::BlockDevice { major: raw.major, minor: raw.minor },
        b'6' => EntryKind::Fifo,
        other => {
            return Err(DataTarError::UnsupportedType {
                path: String::from_utf8_lossy(&raw.name).into_owned(),
                offset,
                typeflag: char::from(other),
            });
        }
    };
    if path.is_empty() && kind != EntryKind::Directory {
        return Err(DataTarError::EmptyName { offset });
    }
    for (name, value) in &raw.xattrs {
        flatroot_vfs::check_xattr(name, value).map_err(|source| DataTarError::Xattr {
            path: String::from_utf8_lossy(&raw.name).into_owned(),
            offset,
            source: Box::new(source),
        })?;
    }
    Ok(DataEntry {
        path,
        kind,
        mode: raw.mode,
        uid: raw.uid,
        gid: raw.gid,
        mtime: raw.mtime,
        mtime_nsec: raw.mtime_nsec,
        xattrs: raw.xattrs,
        checksum: raw.checksum,
    })
}

/// Normalises a tar name: strips leading `./`, drops empty and `.` components, and rejects
/// `..` and absolute names. A package names paths relative to the root it is installed in;
/// an absolute name is refused rather than quietly rerooted, so that no entry can mean a
/// place outside the tree to any reader.
fn normalise(name: &[u8], offset: usize) -> Result<Vec<u8>, DataTarError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    let mut rest = name;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    if rest.starts_with(b"/") {
        return Err(DataTarError::Absolute { path: shown(), offset });
    }

    let mut out = Vec::with_capacity(rest.len());
    for component in rest.split(|&b| b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => return Err(DataTarError::DotDot { path: shown(), offset }),
            c if c.starts_with(b".wh.") => {
                return Err(DataTarError::Whiteout { path: shown(), offset });
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
