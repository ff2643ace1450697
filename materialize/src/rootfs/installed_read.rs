//! Reading `lib/apk/db/installed` back, as [`super::installed`] writes it and apk-tools
//! does: which package owns each path, and each record's fields and files.
//!
//! A record is APKINDEX text (read with [`parse_text`]) whose `F:`, `M:`, `R:`, `a:` and
//! `Z:` lines list the package's directories and files in order: `F:` names a directory
//! (relative to the root), `M:` its `uid:gid:mode`, `R:` a file in the last `F:` directory,
//! `a:` that file's `uid:gid:mode` and `Z:` its checksum. See: apk-tools `src/database.c`
//! (`apk_db_fdb_read`).

use std::collections::BTreeMap;

use crate::apk::index::{IndexEntry, IndexTextError, parse_text};

/// One directory or file line of a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbFile {
    /// Path relative to the root, without leading or trailing slash.
    pub path: Vec<u8>,
    /// Whether it came from an `F:` line (a directory) rather than an `R:` line.
    pub is_dir: bool,
    /// The `M:` or `a:` value (`uid:gid:mode`), when the record has one.
    pub acl: Option<String>,
    /// The `Z:` checksum as written, when the record has one.
    pub checksum: Option<String>,
}

/// One package's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRecord {
    /// The package fields; `other` keeps the letters apk writes that an index does not
    /// have (such as `s:` or `f:`), without the file lines.
    pub record: IndexEntry,
    /// Directories and files in the record's order.
    pub files: Vec<DbFile>,
}

/// Why an installed database cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InstalledReadError {
    /// The text is not APKINDEX-style records.
    #[error("lib/apk/db/installed is malformed")]
    Text(#[source] IndexTextError),
}

/// Parses the bytes of `lib/apk/db/installed` into its records, in file order.
///
/// apk writes paths as they are, so `F:` and `R:` values may hold bytes that are not UTF-8;
/// they come back exactly in [`DbFile::path`]. Elsewhere such bytes stand as characters of
/// Unicode's last private use area (U+10FF00 plus the byte). A `R:`, `a:`, `M:` or `Z:` line
/// before the line it qualifies is kept in `record.other`.
///
/// # Errors
/// [`InstalledReadError::Text`] for a line that is not `X:value` or a record without `P:`
/// or `V:`.
pub fn parse(bytes: &[u8]) -> Result<Vec<InstalledRecord>, InstalledReadError> {
    let text = decode(bytes);
    let entries = parse_text(&text).map_err(InstalledReadError::Text)?;
    Ok(entries.into_iter().map(split_files).collect())
}

/// Where the characters that stand for bytes that are not UTF-8 begin.
const RAW_BYTES: u32 = 0x10_FF00;

/// `bytes` as text, each byte that is not UTF-8 as the character `RAW_BYTES + byte`.
fn decode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for &byte in chunk.invalid() {
            text.push(char::from_u32(RAW_BYTES + u32::from(byte)).unwrap_or('\u{fffd}'));
        }
    }
    text
}

/// The bytes [`decode`] read as `text`.
fn encode(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u32::from(c).checked_sub(RAW_BYTES).and_then(|b| u8::try_from(b).ok()) {
            Some(byte) => bytes.push(byte),
            None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    bytes
}

fn split_files(mut record: IndexEntry) -> InstalledRecord {
    let mut files: Vec<DbFile> = Vec::new();
    let mut other = Vec::new();
    let mut dir: Option<Vec<u8>> = None;
    // Which entry `a:`/`Z:` (last file) and `M:` (last directory) qualify.
    let mut last_file: Option<usize> = None;
    let mut last_dir: Option<usize> = None;
    for (letter, value) in std::mem::take(&mut record.other) {
        match (letter, &dir) {
            ('F', _) => {
                let path = encode(value.trim_matches('/'));
                dir = Some(path.clone());
                files.push(DbFile { path, is_dir: true, acl: None, checksum: None });
                last_dir = Some(files.len() - 1);
                last_file = None;
            }
            ('R', Some(parent)) => {
                let mut path = parent.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&encode(&value));
                files.push(DbFile { path, is_dir: false, acl: None, checksum: None });
                last_file = Some(files.len() - 1);
            }
            ('M', _) if last_dir.is_some() && last_file.is_none() => {
                if let Some(entry) = last_dir.and_then(|i| files.get_mut(i)) {
                    entry.acl = Some(value);
                }
            }
            ('a', _) if last_file.is_some() => {
                if let Some(entry) = last_file.and_then(|i| files.get_mut(i)) {
                    entry.acl = Some(value);
                }
            }
            ('Z', _) if last_file.is_some() => {
                if let Some(entry) = last_file.and_then(|i| files.get_mut(i)) {
                    entry.checksum = Some(value);
                }
            }
            _ => other.push((letter, value)),
        }
    }
    record.other = other;
    InstalledRecord { record, files }
}

/// The package that owns each path: files by their `R:` line, directories by the first
/// record (in file order) that lists them, since many packages list a shared directory.
pub fn owners(records: &[InstalledRecord]) -> BTreeMap<Vec<u8>, String> {
    let mut owners = BTreeMap::new();
    for record in records {
        for file in &record.files {
            owners.entry(file.path.clone()).or_insert_with(|| record.record.name.clone());
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::installed::{DbEntry, InstalledPackage, installed};

    #[test]
    fn paths_that_are_not_utf8_come_back_exactly() {
        let db = b"P:hello\nV:1-r0\nF:usr/share/caf\xe9\nR:na\xefve\xff\n\n";
        let records = parse(db).unwrap();
        let paths: Vec<&[u8]> = records[0].files.iter().map(|f| f.path.as_slice()).collect();
        assert_eq!(paths, [&b"usr/share/caf\xe9"[..], &b"usr/share/caf\xe9/na\xefve\xff"[..]]);
        assert_eq!(owners(&records).get(&b"usr/share/caf\xe9/na\xefve\xff"[..]).unwrap(), "hello");
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let record = IndexEntry {
            name: "busybox".into(),
            version: "1.36.1-r29".into(),
            ..IndexEntry::default()
        };
        let file = |path: &str, is_dir: bool, mode: u32| DbEntry {
            path: path.into(),
            is_dir,
            uid: 0,
            gid: 0,
            mode,
            checksum: None,
        };
        let mut sh = file("bin/busybox", false, 0o755);
        sh.checksum = Some([7; 20]);
        let package = InstalledPackage {
            record,
            entries: vec![file("bin", true, 0o755), sh, file("tmp", true, 0o1777)],
            scripts: vec![],
            triggers: vec![],
        };
        let records = parse(&installed(&[package])).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].record.name, "busybox");
        assert!(records[0].record.other.is_empty(), "{:?}", records[0].record.other);
        let files = &records[0].files;
        let paths: Vec<&[u8]> = files.iter().map(|f| f.path.as_slice()).collect();
        assert_eq!(paths, [&b"bin"[..], b"bin/busybox", b"tmp"]);
        assert_eq!(files[1].acl.as_deref(), Some("0:0:755"));
        assert!(files[1].checksum.as_deref().is_some_and(|c| c.starts_with("Q1")));
        assert_eq!(files[2].acl.as_deref(), Some("0:0:1777"));
        assert_eq!(owners(&records).get(&b"bin/busybox"[..]).map(String::as_str), Some("busybox"));
    }

    #[test]
    fn files_of_the_root_directory_and_unknown_letters() {
        let text = b"P:a\nV:1\ns:testing\nF:\nR:top\nF:etc/\nR:x\nZ:Q1zz\n\nP:b\nV:2\nF:etc\n";
        let records = parse(text).unwrap();
        assert_eq!(records[0].record.other, vec![('s', "testing".to_string())]);
        let paths: Vec<&[u8]> = records[0].files.iter().map(|f| f.path.as_slice()).collect();
        assert_eq!(paths, [&b""[..], b"top", b"etc", b"etc/x"]);
        let owners = owners(&records);
        assert_eq!(owners.get(&b"etc"[..]).map(String::as_str), Some("a"), "first record wins");
    }

    #[test]
    fn a_malformed_line_is_an_error() {
        assert!(matches!(parse(b"P:a\nV:1\nbogus\n"), Err(InstalledReadError::Text(_))));
    }
}
