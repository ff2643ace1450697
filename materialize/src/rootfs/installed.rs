//! `lib/apk/db/installed`, `scripts.tar` and `triggers`, in the formats apk-tools writes.
//!
//! A record lists the package's index fields, then for each directory it owns an `F:` line
//! (with `M:uid:gid:mode` when that is not `0:0:755`) followed by its files as `R:` lines
//! (with `a:uid:gid:mode` when that is not `0:0:644`, and `Z:` the checksum). Records are
//! written in name order, as apk-tools 2.14 does. See: apk-tools `src/database.c`
//! (`apk_db_write_fdb`) and the databases in Alpine's minirootfs tarballs.

use std::fmt::Write as _;
use std::io;

use crate::apk::index::{Checksum, IndexEntry};

/// What the database records of one file or directory a package installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEntry {
    /// Path relative to the root, without trailing slash.
    pub path: Vec<u8>,
    /// Whether it is a directory (an `F:` line) or not (an `R:` line).
    pub is_dir: bool,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (0o777 for symlinks).
    pub mode: u32,
    /// SHA-1 of the content (of the target for symlinks), from the package's PAX record.
    pub checksum: Option<[u8; 20]>,
}

/// One install script of a package, from its control segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The script's name in the control segment, such as `.post-install`.
    pub name: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Everything the database says about one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The package's index fields; `checksum` must be the control segment's.
    pub record: IndexEntry,
    /// Files and directories in the package's order.
    pub entries: Vec<DbEntry>,
    /// Install scripts (recorded, never run).
    pub scripts: Vec<Script>,
    /// Trigger globs from `.PKGINFO`.
    pub triggers: Vec<String>,
}

/// Writes `lib/apk/db/installed` for `packages`, in name order.
pub fn installed(packages: &[InstalledPackage]) -> Vec<u8> {
    let mut sorted: Vec<&InstalledPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| a.record.name.cmp(&b.record.name));
    let mut out = Vec::new();
    for package in sorted {
        write_header(&mut out, &package.record);
        write_entries(&mut out, &package.entries);
        out.push(b'\n');
    }
    out
}

fn write_header(out: &mut Vec<u8>, r: &IndexEntry) {
    let mut text = String::new();
    let mut line = |letter: char, value: &str| {
        if !value.is_empty() {
            let _ = writeln!(text, "{letter}:{value}");
        }
    };
    line('C', &r.checksum.as_ref().map(Checksum::to_string).unwrap_or_default());
    line('P', &r.name);
    line('V', &r.version);
    line('A', &r.arch);
    line('S', &r.size.to_string());
    line('I', &r.installed_size.to_string());
    line('T', &r.description);
    line('U', &r.url);
    line('L', &r.license);
    line('o', &r.origin);
    line('m', &r.maintainer);
    line('t', &r.build_time.map(|t| t.to_string()).unwrap_or_default());
    line('c', &r.commit);
    line('k', &r.provider_priority.map(|k| k.to_string()).unwrap_or_default());
    line('D', &r.depends.join(" "));
    line('p', &r.provides.join(" "));
    line('i', &r.install_if.join(" "));
    line('r', &r.replaces.join(" "));
    line('q', &r.replaces_priority.map(|q| q.to_string()).unwrap_or_default());
    out.extend_from_slice(text.as_bytes());
}

/// apk keeps one record per directory a package owns, with that directory's files under
/// it: directories come in the order the package first names them (as an entry or as the
/// parent of a file), each followed by all of its files in package order.
fn write_entries(out: &mut Vec<u8>, entries: &[DbEntry]) {
    struct Dir<'a> {
        path: &'a [u8],
        acl: Option<&'a DbEntry>,
        files: Vec<&'a DbEntry>,
    }
    fn slot<'a>(
        dirs: &mut Vec<Dir<'a>>,
        slots: &mut std::collections::HashMap<&'a [u8], usize>,
        path: &'a [u8],
    ) -> usize {
        *slots.entry(path).or_insert_with(|| {
            dirs.push(Dir { path, acl: None, files: Vec::new() });
            dirs.len() - 1
        })
    }
    let mut dirs: Vec<Dir<'_>> = Vec::new();
    let mut slots = std::collections::HashMap::new();
    for entry in entries {
        if entry.is_dir {
            let i = slot(&mut dirs, &mut slots, entry.path.as_slice());
            dirs[i].acl = Some(entry);
        } else {
            let parent = match entry.path.iter().rposition(|b| *b == b'/') {
                Some(i) => &entry.path[..i],
                None => &entry.path[..0],
            };
            let i = slot(&mut dirs, &mut slots, parent);
            dirs[i].files.push(entry);
        }
    }

    for dir in &dirs {
        push_line(out, b"F:", dir.path);
        if let Some(acl) = dir.acl.filter(|a| (a.uid, a.gid, a.mode) != (0, 0, 0o755)) {
            push_acl(out, b"M:", acl);
        }
        for file in &dir.files {
            let base = file.path.rsplit(|b| *b == b'/').next().unwrap_or(&file.path);
            push_line(out, b"R:", base);
            if (file.uid, file.gid, file.mode) != (0, 0, 0o644) {
                push_acl(out, b"a:", file);
            }
            if let Some(sum) = file.checksum {
                push_line(out, b"Z:", Checksum::Sha1(sum).to_string().as_bytes());
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn push_acl(out: &mut Vec<u8>, prefix: &[u8], entry: &DbEntry) {
    let text = format!("{}:{}:{:o}", entry.uid, entry.gid, entry.mode & 0o7777);
    push_line(out, prefix, text.as_bytes());
}

/// Writes `lib/apk/db/scripts.tar`: one member per script, named
/// `<name>-<version>.<checksum>.<script>` without the script's leading dot, mode 0755,
/// owned by root, dated `time` (the build time, as apko dates them); packages in name order.
pub fn scripts_tar(packages: &[InstalledPackage], time: i64) -> io::Result<Vec<u8>> {
    let mut sorted: Vec<&InstalledPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| a.record.name.cmp(&b.record.name));
    let mut builder = tar::Builder::new(Vec::new());
    for package in sorted {
        let checksum =
            package.record.checksum.as_ref().map(Checksum::to_string).unwrap_or_default();
        for script in &package.scripts {
            let suffix = script.name.trim_start_matches('.');
            let name = format!(
                "{}-{}.{}.{}",
                package.record.name, package.record.version, checksum, suffix
            );
            let mut header = tar::Header::new_ustar();
            header.set_size(script.data.len() as u64);
            header.set_mode(0o755);
            header.set_uid(0);
            header.set_gid(0);
            header.set_username("root")?;
            header.set_groupname("root")?;
            // The ustar field apk reads holds no time before 1970: such a time is written 0.
            header.set_mtime(u64::try_from(time).unwrap_or(0));
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, script.data.as_slice())?;
        }
    }
    builder.into_inner()
}

/// Writes `lib/apk/db/triggers`: `<checksum> <glob> <glob>...` per package with triggers.
pub fn triggers(packages: &[InstalledPackage]) -> Vec<u8> {
    let mut sorted: Vec<&InstalledPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| a.record.name.cmp(&b.record.name));
    let mut out = String::new();
    for package in sorted.iter().filter(|p| !p.triggers.is_empty()) {
        let checksum =
            package.record.checksum.as_ref().map(Checksum::to_string).unwrap_or_default();
        let _ = writeln!(out, "{} {}", checksum, package.triggers.join(" "));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, is_dir: bool, mode: u32) -> DbEntry {
        DbEntry { path: path.into(), is_dir, uid: 0, gid: 0, mode, checksum: None }
    }

    #[test]
    fn records_group_files_under_their_directories() {
        let mut record = IndexEntry {
            name: "busybox-binsh".into(),
            version: "1.36.1-r29".into(),
            arch: "x86_64".into(),
            size: 1507,
            installed_size: 8192,
            provider_priority: Some(100),
            depends: vec!["busybox=1.36.1-r29".into()],
            ..IndexEntry::default()
        };
        record.checksum = Checksum::parse("Q1pcfTfDNEbNKQc2s1tia7da05M8Q=");
        let mut sh = entry("bin/sh", false, 0o777);
        sh.checksum = Some([0xa5; 20]);
        let package = InstalledPackage {
            record,
            entries: vec![entry("bin", true, 0o755), sh, entry("tmp", true, 0o1777)],
            scripts: vec![],
            triggers: vec![],
        };
        let text = String::from_utf8(installed(&[package])).unwrap();
        assert_eq!(
            text,
            "C:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=\nP:busybox-binsh\nV:1.36.1-r29\nA:x86_64\nS:1507\n\
             I:8192\nk:100\nD:busybox=1.36.1-r29\nF:bin\nR:sh\na:0:0:777\n\
             Z:Q1paWlpaWlpaWlpaWlpaWlpaWlpaU=\nF:tmp\nM:0:0:1777\n\n"
        );
    }

    #[test]
    fn each_directory_is_listed_once_with_all_its_files() {
        let mut out = Vec::new();
        let entries = [
            entry("etc", true, 0o755),
            entry("etc/modprobe.d", true, 0o755),
            entry("etc/modprobe.d/a.conf", false, 0o644),
            entry("etc/motd", false, 0o644),
        ];
        write_entries(&mut out, &entries);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "F:etc\nR:motd\nF:etc/modprobe.d\nR:a.conf\n");
    }

    #[test]
    fn files_outside_a_listed_directory_get_an_f_line() {
        let mut out = Vec::new();
        write_entries(&mut out, &[entry("usr/bin/x", false, 0o644)]);
        assert_eq!(out, b"F:usr/bin\nR:x\n");
    }

    #[test]
    fn scripts_are_dated_by_the_build_not_by_the_package() {
        let record = IndexEntry {
            name: "hello".into(),
            version: "1-r0".into(),
            checksum: Checksum::parse("Q1pcfTfDNEbNKQc2s1tia7da05M8Q="),
            ..IndexEntry::default()
        };
        let script = Script { name: ".post-install".into(), data: b"#!/bin/sh\n".to_vec() };
        let package =
            InstalledPackage { record, entries: vec![], scripts: vec![script], triggers: vec![] };

        let tar = scripts_tar(&[package], 1000).unwrap();

        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<_> = archive.entries().unwrap().map(Result::unwrap).collect();
        assert_eq!(entries.len(), 1);
        let header = entries[0].header();
        assert_eq!(
            &*header.path_bytes(),
            b"hello-1-r0.Q1pcfTfDNEbNKQc2s1tia7da05M8Q=.post-install"
        );
        assert_eq!((header.mtime().unwrap(), header.mode().unwrap()), (1000, 0o755));
        assert_eq!((header.username(), header.groupname()), (Ok(Some("root")), Ok(Some("root"))));
    }
}
