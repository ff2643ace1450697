//! The ustar/pax/GNU header reader under [`super::read_entries`], also used for the
//! signature, control and index segments.

use std::ops::Range;

use super::{DataTarError, Limits};

/// Tar block size.
pub(super) const BLOCK: usize = 512;

/// One tar entry after extension headers are applied, before its name is normalised.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    /// Offset of the entry's own header (after any extension headers).
    pub offset: usize,
    /// The name as written (pax `path`, GNU long name, or prefix + name).
    pub name: Vec<u8>,
    /// The header's typeflag byte.
    pub typeflag: u8,
    /// Permission bits, `0o7777` at most.
    pub mode: u32,
    /// Owner, from pax `uid` or the header.
    pub uid: u32,
    /// Group, from pax `gid` or the header.
    pub gid: u32,
    /// Seconds, from pax `mtime` or the header.
    pub mtime: i64,
    /// Nanoseconds of the pax `mtime`.
    pub mtime_nsec: u32,
    /// The entry's content within the tar buffer (empty for non-files).
    pub content: Range<usize>,
    /// Link target as written (pax `linkpath`, GNU long link, or the header's).
    pub link: Vec<u8>,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// `SCHILY.xattr.*` records, in order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// `APK-TOOLS.checksum.SHA1`, decoded.
    pub checksum: Option<[u8; 20]>,
}

impl RawEntry {
    /// The name for messages.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
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
            let is_extension = matches!(header.typeflag, b'x' | b'g' | b'L' | b'K');
            // A pax `size` describes the next file, never another extension header.
            let size = if is_extension { header.size } else { ext.size.unwrap_or(header.size) };
            let name_for_errors = || {
                let name = ext.path.clone().or_else(|| ext.long_name.clone());
                String::from_utf8_lossy(&name.unwrap_or_else(|| header.name.clone())).into_owned()
            };
            let start = offset + BLOCK;
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
            // Cut segments drop the end-of-archive blocks but keep each entry's padding.
            let padded_end = start.saturating_add(len.div_ceil(BLOCK).saturating_mul(BLOCK));
            if padded_end > self.data.len() {
                return Err(DataTarError::Truncated {
                    offset: self.data.len(),
                    what: format!("the padding of {:?}", name_for_errors()),
                    needed: padded_end - self.data.len(),
                });
            }
            self.pos = padded_end;
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
                        path: shortened(&name),
                        what,
                        offset,
                        len: bytes.len(),
                        limit: self.limits.max_path_len,
                    });
                }
            }

            let checksum = match ext.checksum.take() {
                Some((pax_offset, value)) => Some(sha1_checksum(&value, &name, pax_offset)?),
                None => None,
            };
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
                checksum,
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
    /// The raw `APK-TOOLS.checksum.SHA1` value and the offset of the pax header giving it.
    checksum: Option<(usize, Vec<u8>)>,
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
        // Decoded with the entry it applies to, whose name a later record or the ustar
        // header may give, so that an error can name it.
        b"APK-TOOLS.checksum.SHA1" => ext.checksum = Some((offset, value.to_vec())),
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

/// Decodes an `APK-TOOLS.checksum.SHA1` value given for the entry `name` by the pax header at
/// `offset`.
fn sha1_checksum(value: &[u8], name: &[u8], offset: usize) -> Result<[u8; 20], DataTarError> {
    let mut digest = [0u8; 20];
    hex::decode_to_slice(value, &mut digest).map_err(|_| DataTarError::BadChecksum {
        path: lossy(name),
        offset,
        found: lossy(value),
    })?;
    Ok(digest)
}

/// A pax time `[-]<seconds>[.<fraction>]` as whole seconds and nanoseconds, rounding the
/// fraction down to nanoseconds; negative times count down from the epoch.
pub(super) fn pax_time(value: &[u8]) -> Option<(i64, u32)> {
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

/// `name` for a message: whole up to 256 bytes, else its first 256 and an ellipsis, so that
/// a hostile name of megabytes is not printed.
fn shortened(name: &[u8]) -> String {
    const SHOWN: usize = 256;
    if name.len() <= SHOWN {
        return String::from_utf8_lossy(name).into_owned();
    }
    format!("{}…", String::from_utf8_lossy(&name[..SHOWN]))
}
