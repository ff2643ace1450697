//! A repository in which one package is upgraded: the benchmark of a rebuild after an
//! upgrade needs one, and make-apk-repo makes packages from Debian's versions only.
//!
//! [`upgraded_repo`] reads one package of a signed repository, writes it again with its
//! release number raised and one regular file changed (its other entries, metadata and
//! dependencies as they were), signs it and a new index with the repository's own key, and
//! links every other package file of the original into the new repository unchanged.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use flatroot_materialize::apk::datatar::{DataEntry, EntryKind};
use flatroot_materialize::apk::index::IndexEntry;
use flatroot_materialize::apk::package::{Expect, read_package};
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::apk::signed_index::read_index;

use crate::fixture::apk::{Entry, PackageBuilder};
use crate::fixture::index::{IndexBuilder, IndexRecord};
use crate::fixture::keys::{Signature, SigningKey};

/// Writes into `out` the repository `repo` (make-apk-repo's layout: `ARCH/`, `keys/`) with
/// package `name` upgraded (`-rN` becomes `-rN+1`, the largest regular file gets bytes
/// appended), and returns the new version. Blueprints naming `repo` can name `out` instead.
pub fn upgraded_repo(repo: &Path, arch: &str, name: &str, out: &Path) -> Result<String> {
    let key_path = only_file(&repo.join("keys"), ".rsa")?;
    let key = SigningKey::load(&key_path).context("loading the repository key")?;
    let keyring = Keyring::load_files(&[key_path.with_extension("rsa.pub")])?;
    let index_path = repo.join(arch).join("APKINDEX.tar.gz");
    let index = read_index(&std::fs::read(&index_path)?, &index_path, &keyring, Trust::default())?;
    let record = index.entries.iter().find(|e| e.name == name).context("no such package")?;
    let file = repo.join(arch).join(format!("{}-{}.apk", record.name, record.version));
    let package =
        read_package(&std::fs::read(&file)?, &Expect::named(name), &keyring, Trust::default())?;

    let version = next_release(&record.version)?;
    let info = &package.pkginfo;
    let mut builder = PackageBuilder::new(name, &version, &info.arch)
        .description(&info.pkgdesc)
        .url(&info.url)
        .license(&info.license)
        .origin(&info.origin)
        .maintainer(&info.maintainer)
        .builddate(info.builddate.unwrap_or(0).max(0) as u64 + 1);
    for dep in &info.depends {
        builder = builder.depend(dep);
    }
    for provided in &info.provides {
        builder = builder.provides(provided);
    }
    for replaced in &info.replaces {
        builder = builder.replaces(replaced);
    }
    let largest = largest_file(&package.entries);
    let entries = package.entries.iter().enumerate().map(|(i, entry)| {
        let extra: &[u8] = if Some(i) == largest { b"\nupgraded\n" } else { b"" };
        fixture_entry(entry, &package.data, extra)
    });
    let built = builder.entries(entries).sign_with(&key).build()?;

    let dir = out.join(arch);
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(&dir)?;
    let mut records = Vec::new();
    for entry in &index.entries {
        if entry.name == name {
            continue;
        }
        let file = format!("{}-{}.apk", entry.name, entry.version);
        std::os::unix::fs::symlink(repo.join(arch).join(&file), dir.join(&file))?;
        records.push(record_of(entry));
    }
    std::fs::write(dir.join(built.file_name()), &built.bytes)?;
    let mut index = IndexBuilder::new("upgraded").package(&built).signature(Signature::sha1(&key));
    for record in records {
        index = index.record(record);
    }
    std::fs::write(dir.join("APKINDEX.tar.gz"), index.build()?)?;
    std::os::unix::fs::symlink(repo.join("keys"), out.join("keys"))?;
    Ok(version)
}

/// The one file of `dir` whose name ends in `suffix`.
fn only_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("{}: expected one *{suffix} file, found {}", dir.display(), found.len()),
    }
}

/// `1.2-r3` becomes `1.2-r4`; a version without `-r` gets `-r1`.
fn next_release(version: &str) -> Result<String> {
    match version.rsplit_once("-r") {
        Some((base, release)) => Ok(format!("{base}-r{}", release.parse::<u64>()? + 1)),
        None => Ok(format!("{version}-r1")),
    }
}

/// The index of the entry of the largest regular file.
fn largest_file(entries: &[DataEntry]) -> Option<usize> {
    let size = |e: &DataEntry| match &e.kind {
        EntryKind::File { content } => Some(content.len()),
        _ => None,
    };
    (0..entries.len()).filter(|&i| size(&entries[i]).is_some()).max_by_key(|&i| size(&entries[i]))
}

/// A fixture entry with the same kind, content, mode, owner, times and xattrs, with `extra`
/// appended to a regular file's content.
fn fixture_entry(entry: &DataEntry, data: &[u8], extra: &[u8]) -> Entry {
    let path = &entry.path;
    let base = match &entry.kind {
        EntryKind::Directory => Entry::dir(path),
        EntryKind::File { content } => Entry::file(path, [&data[content.clone()], extra].concat()),
        EntryKind::Symlink { target } => Entry::symlink(path, target),
        EntryKind::Hardlink { target } => Entry::hardlink(path, target),
        EntryKind::CharDevice { major, minor } => {
            Entry::char_device(path, u64::from(*major), u64::from(*minor))
        }
        EntryKind::BlockDevice { major, minor } => {
            Entry::block_device(path, u64::from(*major), u64::from(*minor))
        }
        EntryKind::Fifo => Entry::fifo(path),
    };
    let mut fixture = base
        .mode(entry.mode)
        .owner(u64::from(entry.uid), u64::from(entry.gid), "root", "root")
        .mtime(entry.mtime.max(0) as u64, entry.mtime_nsec);
    for (name, value) in &entry.xattrs {
        fixture = fixture.xattr(name, value.clone());
    }
    fixture
}

/// An index record with the fields of `entry`, in apk-tools' order; fields this reader
/// does not interpret follow as they were.
fn record_of(entry: &IndexEntry) -> IndexRecord {
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let fields = [
        ('C', entry.checksum.as_ref().map(ToString::to_string).unwrap_or_default()),
        ('P', entry.name.clone()),
        ('V', entry.version.clone()),
        ('A', entry.arch.clone()),
        ('S', entry.size.to_string()),
        ('I', entry.installed_size.to_string()),
        ('T', entry.description.clone()),
        ('U', entry.url.clone()),
        ('L', entry.license.clone()),
        ('o', entry.origin.clone()),
        ('m', entry.maintainer.clone()),
        ('t', entry.build_time.map(|t| t.to_string()).unwrap_or_default()),
        ('c', entry.commit.clone()),
        ('k', opt(entry.provider_priority)),
        ('D', entry.depends.join(" ")),
        ('p', entry.provides.join(" ")),
        ('i', entry.install_if.join(" ")),
        ('r', entry.replaces.join(" ")),
        ('q', opt(entry.replaces_priority)),
    ];
    let mut fields: Vec<(char, String)> =
        fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    fields.extend(entry.other.iter().cloned());
    IndexRecord { fields }
}
