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
//! `..` components, names that stay absolute once `./` and one `/` are stripped, NUL in
//! names, sizes past the data, non-octal or overflowing numbers, malformed pax records,
//! non-zero bytes after the end-of-archive marker, and anything past [`Limits`].

use std::ops::Range;

const BLOCK: usize = 512;

/// Bounds on what one tar may hold, so that hostile input cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_path_len: 4096,
            max_file_size: 4 << 30,
            max_extension_size: 1 << 20,
            max_data_size: 8 << 30,
        }
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
    /// A name that is still absolute after stripping `./` and one `/`.
    #[error("entry {path:?} at byte {offset}: absolute path")]
    Absolute {
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
    #[error("entry {path:?} at byte {offset}: name of {len} bytes exceeds the limit of {limit}")]
    PathTooLong {
        /// The name, shortened to its first 100 bytes.
        path: String,
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
    #[error("entry {path:?}: APK-TOOLS.checksum.SHA1 is not 40 hex digits: {found:?}")]
    BadChecksum {
        /// The entry's name.
        path: String,
        /// The value found.
        found: String,
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
        entries.push(raw.into_data_entry()?);
    }
    Ok(entries)
}

/// One tar entry after extension headers are applied, before its name is normalised.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    /// Offset of the entry's own header (after any extension headers).
    pub offset: usize,
    /// The name as written (pax `path`, GNU long name, or prefix + name).
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub content: Range<usize>,
    pub link: Vec<u8>,
    pub major: u32,
    pub minor: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub checksum: Option<[u8; 20]>,
}

impl RawEntry {
    /// The name for messages.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    fn into_data_entry(self) -> Result<DataEntry, DataTarError> {
        let offset = self.offset;
        let path = normalise(&self.name, offset)?;
        let kind = match self.typeflag {
            b'5' => EntryKind::Directory,
            b'0' | b'\0' | b'7' => EntryKind::File { content: self.content },
            b'2' => EntryKind::Symlink { target: self.link },
            b'1' => {
                let target = normalise(&self.link, offset)?;
                if target.is_empty() {
                    return Err(DataTarError::EmptyName { offset });
                }
                EntryKind::Hardlink { target }
            }
            b'3' => EntryKind::CharDevice { major: self.major, minor: self.minor },
            b'4' => EntryKind::BlockDevice { major: self.major, minor: self.minor },
            b'6' => EntryKind::Fifo,
            other => {
                return Err(DataTarError::UnsupportedType {
                    path: String::from_utf8_lossy(&self.name).into_owned(),
                    offset,
                    typeflag: char::from(other),
                });
            }
        };
        if path.is_empty() && kind != EntryKind::Directory {
            return Err(DataTarError::EmptyName { offset });
        }
        Ok(DataEntry {
            path,
            kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            mtime: self.mtime,
            mtime_nsec: self.mtime_nsec,
            xattrs: self.xattrs,
            checksum: self.checksum,
        })
    }
}

/// Normalises a tar name: strips leading `./` and one `/`, drops empty and `.` components,
/// and rejects `..` and names that stay absolute.
fn normalise(name: &[u8], offset: usize) -> Result<Vec<u8>, DataTarError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    let mut rest = name;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    if let Some(r) = rest.strip_prefix(b"/") {
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

/// Iterator over the entries of a tar in memory, applying pax and GNU extension headers.
///
/// Global pax headers (`g`) are read for well-formedness and otherwise ignored, as apk-tools
/// ignores them. Stops after the end-of-archive marker or at the end of the data.
pub(crate) struct RawEntries<'a> {
    data: &'a [u8],
    pos: usize,
    limits: Limits,
    done: bool,
}

impl<'a> RawEntries<'a> {
    /// Starts at the beginning of `data`.
    pub fn new(data: &'a [u8], limits: &Limits) -> Self {
        RawEntries { data, pos: 0, limits: *limits, done: false }
    }

    fn next_entry(&mut self) -> Result<Option<RawEntry>, DataTarError> {
        let mut ext = Extensions::default();
        let mut ext_offset = None;
        loop {
            if self.pos == self.data.len() {
                // A cut segment ends right after its last entry.
                if let Some(offset) = ext_offset {
                    return Err(DataTarError::DanglingExtension { offset });
                }
                return Ok(None);
            }
            let offset = self.pos;
            let header =
                self.data.get(offset..offset + BLOCK).ok_or_else(|| DataTarError::Truncated {
                    offset: self.data.len(),
                    what: "a header".into(),
                    needed: offset + BLOCK - self.data.len(),
                })?;
            if header.iter().all(|&b| b == 0) {
                if let Some(offset) = ext_offset {
                    return Err(DataTarError::DanglingExtension { offset });
                }
                self.check_end(offset)?;
                return Ok(None);
            }
            let header = Header::parse(header, offset)?;
            let size = ext.size.unwrap_or(header.size);
            let name_for_errors = || {
                let name = ext.path.clone().or_else(|| ext.long_name.clone());
                String::from_utf8_lossy(&name.unwrap_or_else(|| header.name.clone())).into_owned()
            };
            let start = offset + BLOCK;
            let is_extension = matches!(header.typeflag, b'x' | b'g' | b'L' | b'K');
            let limit = if is_extension {
                self.limits.max_extension_size
            } else {
                self.limits.max_file_size
            };
            if size > limit {
                return Err(DataTarError::TooLarge {
                    path: name_for_errors(),
                    offset,
                    size,
                    limit,
                });
            }
            // Sizes fit in usize once under the limit on 64-bit hosts; still checked.
            let len = usize::try_from(size).map_err(|_| DataTarError::TooLarge {
                path: name_for_errors(),
                offset,
                size,
                limit,
            })?;
            let end =
                start.checked_add(len).filter(|&end| end <= self.data.len()).ok_or_else(|| {
                    DataTarError::Truncated {
                        offset: self.data.len(),
                        what: format!("the content of {:?}", name_for_errors()),
                        needed: start.saturating_add(len) - self.data.len(),
                    }
                })?;
            let padded = len.div_ceil(BLOCK) * BLOCK;
            // Cut segments drop the end-of-archive blocks but keep each entry's padding.
            self.pos = start.saturating_add(padded).min(self.data.len());
            if start + padded > self.data.len() {
                return Err(DataTarError::Truncated {
                    offset: self.data.len(),
                    what: format!("the padding of {:?}", name_for_errors()),
                    needed: start + padded - self.data.len(),
                });
            }
            let body = &self.data[start..end];

            match header.typeflag {
                b'x' => {
                    parse_pax(body, offset, &mut ext, true)?;
                    ext_offset = Some(offset);
                    continue;
                }
                b'g' => {
                    parse_pax(body, offset, &mut Extensions::default(), false)?;
                    continue;
                }
                b'L' => {
                    ext.long_name = Some(gnu_name(body, offset, "path")?);
                    ext_offset = Some(offset);
                    continue;
                }
                b'K' => {
                    ext.long_link = Some(gnu_name(body, offset, "link target")?);
                    ext_offset = Some(offset);
                    continue;
                }
                _ => {}
            }

            let name = ext.path.take().or(ext.long_name.take()).unwrap_or(header.name);
            let link = ext.linkpath.take().or(ext.long_link.take()).unwrap_or(header.link);
            for (bytes, what) in [(&name, "path"), (&link, "link target")] {
                if bytes.contains(&0) {
                    return Err(DataTarError::Nul { offset, what });
                }
                if bytes.len() > self.limits.max_path_len {
                    return Err(DataTarError::PathTooLong {
                        path: String::from_utf8_lossy(&bytes[..100.min(bytes.len())]).into(),
                        offset,
                        len: bytes.len(),
                        limit: self.limits.max_path_len,
                    });
                }
            }
            return Ok(Some(RawEntry {
                offset,
                name,
                typeflag: header.typeflag,
                mode: header.mode,
                uid: ext.uid.unwrap_or(header.uid),
                gid: ext.gid.unwrap_or(header.gid),
                mtime: ext.mtime.map_or(header.mtime, |(s, _)| s),
                mtime_nsec: ext.mtime.map_or(0, |(_, ns)| ns),
                content: start..end,
                link,
                major: header.major,
                minor: header.minor,
                xattrs: ext.xattrs,
                checksum: ext.checksum,
            }));
        }
    }

    /// After the first zero block, everything to the end must be zero too (apk-tools reads
    /// the remaining records and fails on a non-zero one).
    fn check_end(&mut self, offset: usize) -> Result<(), DataTarError> {
        self.done = true;
        let rest = &self.data[offset..];
        if let Some(i) = rest.iter().position(|&b| b != 0) {
            return Err(DataTarError::TrailingData { offset: offset + i / BLOCK * BLOCK });
        }
        Ok(())
    }
}

impl Iterator for RawEntries<'_> {
    type Item = Result<RawEntry, DataTarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Values that extension headers set for the next entry.
#[derive(Default)]
struct Extensions {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<(i64, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    checksum: Option<[u8; 20]>,
}

/// The fields of one ustar header block that matter here.
struct Header {
    name: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    typeflag: u8,
    link: Vec<u8>,
    major: u32,
    minor: u32,
}

impl Header {
    fn parse(block: &[u8], offset: usize) -> Result<Header, DataTarError> {
        // ustar layout: name 0..100, mode 100, uid 108, gid 116, size 124, mtime 136,
        // chksum 148, typeflag 156, linkname 157..257, magic 257, version 263,
        // uname 265, gname 297, devmajor 329, devminor 337, prefix 345..500.
        let magic = &block[257..265];
        let posix = &magic[..6] == b"ustar\0";
        if &magic[..5] != b"ustar" {
            return Err(DataTarError::NotUstar { offset });
        }
        check_header_sum(block, offset)?;

        let num = |range: Range<usize>, field| number(&block[range], offset, field);
        let mut name = cstr(&block[..100]).to_vec();
        let prefix = cstr(&block[345..500]);
        // GNU headers keep atime/ctime where POSIX has the prefix, so only POSIX has one.
        if posix && !prefix.is_empty() {
            name = [prefix, b"/", &name].concat();
        }
        let small = |v: u64, field| {
            u32::try_from(v).map_err(|_| DataTarError::BadNumber {
                offset,
                field,
                found: v.to_string(),
            })
        };
        let mtime = num(136..148, "mtime")?;
        Ok(Header {
            name,
            mode: small(num(100..108, "mode")?, "mode")? & 0o7777,
            uid: small(num(108..116, "uid")?, "uid")?,
            gid: small(num(116..124, "gid")?, "gid")?,
            size: num(124..136, "size")?,
            mtime: i64::try_from(mtime).map_err(|_| DataTarError::BadNumber {
                offset,
                field: "mtime",
                found: mtime.to_string(),
            })?,
            typeflag: block[156],
            link: cstr(&block[157..257]).to_vec(),
            major: small(num(329..337, "devmajor")?, "devmajor")?,
            minor: small(num(337..345, "devminor")?, "devminor")?,
        })
    }
}

/// Checks the header checksum: the sum of all bytes with the checksum field read as spaces.
/// Historic writers summed signed bytes, so either sum is accepted.
fn check_header_sum(block: &[u8], offset: usize) -> Result<(), DataTarError> {
    let stored = number(&block[148..156], offset, "chksum")?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
        return Err(DataTarError::HeaderChecksum { offset });
    }
    Ok(())
}

/// The bytes of a NUL-terminated (or full-width) header string.
fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Reads a numeric header field: octal digits with optional leading spaces, ended by NUL or
/// space, or GNU base-256 when the first byte has its high bit set. An empty field is 0.
fn number(field: &[u8], offset: usize, name: &'static str) -> Result<u64, DataTarError> {
    let bad = || DataTarError::BadNumber {
        offset,
        field: name,
        found: String::from_utf8_lossy(field).into_owned(),
    };
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // Base-256: the remaining bits, big-endian; a set sign bit (0xff) is negative.
        if field[0] == 0xff {
            return Err(bad());
        }
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value =
                value.checked_mul(256).and_then(|v| v.checked_add(u64::from(b))).ok_or_else(bad)?;
        }
        return Ok(value);
    }

    let text = field.iter().skip_while(|&&b| b == b' ');
    let mut value: u64 = 0;
    let mut ended = false;
    for &b in text {
        match b {
            b'0'..=b'7' if !ended => {
                value = value
                    .checked_mul(8)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or_else(bad)?;
            }
            b'\0' | b' ' => ended = true,
            _ => return Err(bad()),
        }
    }
    Ok(value)
}

/// A GNU long name body: the name, ended by one or more NULs.
fn gnu_name(body: &[u8], offset: usize, what: &'static str) -> Result<Vec<u8>, DataTarError> {
    let end = body.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let name = &body[..end];
    if name.contains(&0) {
        return Err(DataTarError::Nul { offset, what });
    }
    Ok(name.to_vec())
}

/// Parses pax records `<len> <key>=<value>\n` into `ext` (when `apply`), strictly.
fn parse_pax(
    mut body: &[u8],
    offset: usize,
    ext: &mut Extensions,
    apply: bool,
) -> Result<(), DataTarError> {
    let bad = |reason: String| DataTarError::BadPax { offset, reason };
    while !body.is_empty() {
        let space = body
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without a length".into()))?;
        let len: usize = std::str::from_utf8(&body[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad record length {:?}", lossy(&body[..space]))))?;
        if len <= space + 1 || len > body.len() {
            return Err(bad(format!("record length {len} does not fit the header")));
        }
        let record = &body[space + 1..len];
        body = &body[len..];
        let Some(record) = record.strip_suffix(b"\n") else {
            return Err(bad("record does not end with a newline".into()));
        };
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad(format!("record without '=': {:?}", lossy(record))))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        if apply {
            apply_pax(key, value, offset, ext)?;
        }
    }
    Ok(())
}

fn apply_pax(
    key: &[u8],
    value: &[u8],
    offset: usize,
    ext: &mut Extensions,
) -> Result<(), DataTarError> {
    let decimal = |field: &'static str| -> Result<u64, DataTarError> {
        std::str::from_utf8(value)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DataTarError::BadNumber { offset, field, found: lossy(value) })
    };
    let small = |field: &'static str| -> Result<u32, DataTarError> {
        u32::try_from(decimal(field)?).map_err(|_| DataTarError::BadNumber {
            offset,
            field,
            found: lossy(value),
        })
    };
    match key {
        b"path" => ext.path = Some(value.to_vec()),
        b"linkpath" => ext.linkpath = Some(value.to_vec()),
        b"size" => ext.size = Some(decimal("size")?),
        b"uid" => ext.uid = Some(small("uid")?),
        b"gid" => ext.gid = Some(small("gid")?),
        b"mtime" => {
            ext.mtime = Some(pax_time(value).ok_or_else(|| DataTarError::BadNumber {
                offset,
                field: "mtime",
                found: lossy(value),
            })?);
        }
        b"APK-TOOLS.checksum.SHA1" => {
            let mut digest = [0u8; 20];
            hex::decode_to_slice(value, &mut digest).map_err(|_| DataTarError::BadChecksum {
                path: ext.path.as_deref().map(lossy).unwrap_or_default(),
                found: lossy(value),
            })?;
            ext.checksum = Some(digest);
        }
        _ => {
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                match ext.xattrs.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.to_vec(),
                    None => ext.xattrs.push((name.to_vec(), value.to_vec())),
                }
            }
            // Other keys (atime, ctime, uname, gname, APK-TOOLS.checksum.MD5, ...) do not
            // affect the tree.
        }
    }
    Ok(())
}

/// A pax time `[-]<seconds>[.<fraction>]` as whole seconds and nanoseconds, rounding the
/// fraction down to nanoseconds; negative times count down from the epoch.
fn pax_time(value: &[u8]) -> Option<(i64, u32)> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, digit) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    if !negative {
        return Some((seconds, nanos));
    }
    if nanos == 0 {
        return Some((seconds.checked_neg()?, 0));
    }
    Some((seconds.checked_neg()?.checked_sub(1)?, 1_000_000_000 - nanos))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
#[path = "datatar_tests.rs"]
mod tests;
