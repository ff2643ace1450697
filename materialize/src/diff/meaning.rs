//! Generated files compared by what they say rather than by their bytes.
//!
//! apk-tools and flatroot write these files from the installed packages; two correct
//! writers (or two builds at different times) can order their records differently or stamp
//! different times on `scripts.tar` members. What counts:
//!
//! - `lib/apk/db/installed`: the set of records by package name, each with its fields (list
//!   fields as sets) and the set of its directories and files with their `M:`/`a:`/`Z:`;
//! - `lib/apk/db/scripts.tar`: members by name with their mode, owner and bytes, not their
//!   order or mtimes;
//! - `lib/apk/db/triggers` and `etc/apk/world`: the set of lines (apk sorts the world).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use crate::apk::index::IndexEntry;
use crate::rootfs::installed_read::{self, DbFile};

/// The generated files compared by meaning, relative to the root.
pub const GENERATED: [&str; 4] =
    ["lib/apk/db/installed", "lib/apk/db/scripts.tar", "lib/apk/db/triggers", "etc/apk/world"];

/// Whether `a` and `b`, two versions of the generated file at `path`, say the same.
///
/// `None` when `path` is not one of [`GENERATED`] or either side cannot be parsed (the
/// caller then compares bytes).
pub fn same_meaning(path: &[u8], a: &[u8], b: &[u8]) -> Option<bool> {
    match path {
        b"lib/apk/db/installed" => Some(installed(a)? == installed(b)?),
        b"lib/apk/db/scripts.tar" => Some(scripts(a)? == scripts(b)?),
        b"lib/apk/db/triggers" | b"etc/apk/world" => Some(lines(a) == lines(b)),
        _ => None,
    }
}

type Record = (IndexEntry, BTreeSet<DbFile>);

fn installed(bytes: &[u8]) -> Option<BTreeMap<String, Record>> {
    let records = installed_read::parse(bytes).ok()?;
    let mut out = BTreeMap::new();
    for record in records {
        let mut entry = record.record;
        for list in
            [&mut entry.depends, &mut entry.provides, &mut entry.install_if, &mut entry.replaces]
        {
            list.sort();
        }
        entry.other.sort();
        let files = record.files.into_iter().collect();
        out.insert(entry.name.clone(), (entry, files));
    }
    Some(out)
}

/// Mode, uid and gid (unset when a writer left the field empty) and the bytes.
type Member = (Option<u32>, Option<u64>, Option<u64>, Vec<u8>);

fn scripts(bytes: &[u8]) -> Option<BTreeMap<Vec<u8>, Member>> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = BTreeMap::new();
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let header = entry.header();
        let key = (header.mode().ok(), header.uid().ok(), header.gid().ok());
        let name = entry.path_bytes().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).ok()?;
        out.insert(name, (key.0, key.1, key.2, data));
    }
    Some(out)
}

fn lines(bytes: &[u8]) -> BTreeSet<&[u8]> {
    bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_records_compare_regardless_of_order() {
        let a = b"P:a\nV:1\nD:x y\nF:etc\nR:one\nR:two\n\nP:b\nV:2\n\n";
        let b = b"P:b\nV:2\n\nP:a\nV:1\nD:y x\nF:etc\nR:two\nR:one\n\n";
        assert_eq!(same_meaning(b"lib/apk/db/installed", a, b), Some(true));
        let c = b"P:b\nV:2\n\nP:a\nV:1.1\nD:y x\nF:etc\nR:two\nR:one\n\n";
        assert_eq!(same_meaning(b"lib/apk/db/installed", a, c), Some(false));
    }

    #[test]
    fn scripts_members_compare_without_their_mtimes() {
        let tar = |mtime: u64, body: &[u8]| {
            let mut builder = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_ustar();
            header.set_size(body.len() as u64);
            header.set_mode(0o755);
            header.set_mtime(mtime);
            builder.append_data(&mut header, "a-1.Q1x.post-install", body).unwrap();
            builder.into_inner().unwrap()
        };
        let path = b"lib/apk/db/scripts.tar";
        assert_eq!(same_meaning(path, &tar(1, b"echo"), &tar(2, b"echo")), Some(true));
        assert_eq!(same_meaning(path, &tar(1, b"echo"), &tar(1, b"true")), Some(false));
    }

    #[test]
    fn world_lines_are_a_set_and_other_paths_are_not_generated() {
        assert_eq!(same_meaning(b"etc/apk/world", b"a\nb\n", b"b\na\n"), Some(true));
        assert_eq!(same_meaning(b"etc/apk/world", b"a\n", b"a\nb\n"), Some(false));
        assert_eq!(same_meaning(b"etc/motd", b"a", b"a"), None);
    }
}
