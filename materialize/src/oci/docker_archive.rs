//! A `docker save` archive, written atomically, that is also an OCI image layout in a tar.
//!
//! The layout follows what Docker writes since v25: every blob at `blobs/sha256/<hex>`, a
//! `manifest.json` that names each image's config, tags and layers by those paths (what
//! `docker load` and `skopeo ... docker-archive:` read), the legacy `repositories` map, and
//! the OCI `index.json` and `oci-layout` beside them. The `index.json` is the same bytes the
//! OCI layout gets ([`super::image::index_blob`]), so the image digest is the same in both.
//!
//! The layer is streamed into the tar in one pass ([`DockerArchiveWriter::blob_writer`]): its
//! tar header is written as a placeholder and filled in once the size and digest are known.
//! The archive is written to `.<name>.tmp-<pid>-<n>` beside the output and renamed into place
//! by [`DockerArchiveWriter::finish`]; a writer dropped before that removes the temporary file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::compress::LayerDigests;
use super::digest::{DigestError, sha256_digest};
use super::image::ImageBlobs;
use super::layout::{OCI_LAYOUT, StoredBlob, pending_sibling};
use super::pending::Pending;

/// The `NAME:TAG` an image gets when the blueprint names none (apko's default is the same
/// shape).
pub const DEFAULT_REPO_TAG: &str = "flatroot:latest";

/// The tar block size (POSIX ustar).
const BLOCK: u64 = 512;

/// Why a docker-archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DockerArchiveError {
    /// The output path holds something an archive must not replace (a directory, a
    /// symlink, a file that is not a tar archive), or has no file name.
    #[error("refusing to write an archive at {path}: it is {found}")]
    BadOutput {
        /// The output path.
        path: PathBuf,
        /// What is there, such as "a directory".
        found: &'static str,
    },
    /// A tag is not of the form `NAME:TAG`.
    #[error("invalid image tag {tag:?}: expected NAME:TAG")]
    InvalidTag {
        /// The tag as given.
        tag: String,
    },
    /// The same `NAME:TAG` was given to two images.
    #[error("image tag {tag} is used twice")]
    DuplicateTag {
        /// The repeated tag.
        tag: String,
    },
    /// An image names a layer that was not written into the archive first.
    #[error("layer {digest} is not in the archive")]
    MissingLayer {
        /// The layer's blob digest.
        digest: String,
    },
    /// An earlier streamed blob failed and could not be cut off again.
    #[error("the archive {path} was damaged by an earlier failed write")]
    Damaged {
        /// The temporary archive file.
        path: PathBuf,
    },
    /// A tar header could not be built for a member.
    #[error("cannot make a tar header for {member}")]
    Header {
        /// The member's path inside the archive.
        member: String,
        /// What the tar crate reported.
        #[source]
        source: io::Error,
    },
    /// A file system operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: "create", "write", "rename", ...
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
    /// Serializing `manifest.json` or `repositories` failed.
    #[error("cannot serialize the archive's {what}")]
    Json {
        /// Which file.
        what: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A digest could not be expressed as an OCI digest.
    #[error("cannot express the digest of a blob in {path}")]
    Digest {
        /// The temporary archive file.
        path: PathBuf,
        /// The refused digest.
        #[source]
        source: DigestError,
    },
}

/// The tag of each image in a multi-platform archive: `NAME:TAG` when there is one
/// platform, `NAME:TAG-ARCH` for each when there are several. `repo_tag` defaults to
/// [`DEFAULT_REPO_TAG`]; a name without a tag gets `latest`.
///
/// `ARCH` is written as given. apko's tags use the OCI spelling (`app:1.0-amd64`, see
/// chainguard-dev/apko#1123), so pass [`super::image::ImageSpec::arch`] rather than the APK
/// name (`x86_64`) to match them.
pub fn repo_tags(repo_tag: Option<&str>, arches: &[&str]) -> Vec<String> {
    let repo_tag = repo_tag.unwrap_or(DEFAULT_REPO_TAG);
    let repo_tag = match split_repo_tag(repo_tag) {
        Some(_) => repo_tag.to_owned(),
        None => format!("{repo_tag}:latest"),
    };
    match arches {
        [_] => vec![repo_tag],
        _ => arches.iter().map(|arch| format!("{repo_tag}-{arch}")).collect(),
    }
}

/// Splits `NAME:TAG` at the tag's colon, the last one after the last `/` (a registry's
/// `host:port/` is part of the name).
fn split_repo_tag(repo_tag: &str) -> Option<(&str, &str)> {
    let name_start = repo_tag.rfind('/').map_or(0, |slash| slash + 1);
    let colon = name_start + repo_tag.get(name_start..)?.rfind(':')?;
    let (name, tag) = (&repo_tag[..colon], &repo_tag[colon + 1..]);
    if name.is_empty() || tag.is_empty() { None } else { Some((name, tag)) }
}

/// One image as `manifest.json` lists it (the field names are Docker's).
#[derive(Serialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A docker-archive under construction in a temporary sibling of its output file.
#[derive(Debug)]
pub struct DockerArchiveWriter {
    out: PathBuf,
    temp: PathBuf,
    file: BufWriter<File>,
    /// Bytes written so far, always a multiple of the tar block size between members.
    position: u64,
    blobs: BTreeSet<String>,
    images: Vec<(String, String, String)>,
    damaged: bool,
    finished: bool,
    /// Keeps `temp` registered for removal on a signal while the writer lives.
    _pending: Pending,
}

/// What is at `out` when it is something a build must not replace: anything but nothing,
/// an empty file, or a tar archive (an earlier build's output).
fn not_replaceable(out: &Path) -> Option<&'static str> {
    let meta = fs::symlink_metadata(out).ok()?;
    if meta.is_dir() {
        return Some("a directory");
    }
    if meta.file_type().is_symlink() {
        return Some("a symlink");
    }
    if !meta.is_file() {
        return Some("something that is not a regular file");
    }
    if meta.len() == 0 {
        return None;
    }

    // A tar archive has the POSIX magic `ustar` at offset 257 of its first header.
    let mut header = [0u8; 512];
    let is_tar = File::open(out)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header))
        .is_ok_and(|()| &header[257..262] == b"ustar");
    if !is_tar {
        return Some("a file that is not a tar archive");
    }
    (!has_manifest(out)).then_some("a tar archive that is not a docker-archive (no manifest.json)")
}

/// Whether the tar at `path` has a top-level `manifest.json`, as every docker-archive does;
/// only the headers are read, the members' bytes skipped.
fn has_manifest(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    let mut archive = tar::Archive::new(file);
    let Ok(entries) = archive.entries_with_seek() else { return false };
    entries.filter_map(Result::ok).any(|entry| {
        let path = entry.path_bytes();
        path.strip_prefix(b"./").unwrap_or(&path) == b"manifest.json"
    })
}

impl DockerArchiveWriter {
    /// Where [`DockerArchiveWriter::finish`] puts the output.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Starts an archive that [`DockerArchiveWriter::finish`] will put at `out`, replacing
    /// an empty file or a docker-archive (a tar with a `manifest.json`) there.
    ///
    /// # Errors
    /// [`DockerArchiveError::BadOutput`] when `out` has no file name or is anything else
    /// (a directory, a symlink, a file that is not a tar archive);
    /// [`DockerArchiveError::Io`] when the temporary file cannot be created.
    pub fn create(out: &Path) -> Result<Self, DockerArchiveError> {
        let bad = |found| DockerArchiveError::BadOutput { path: out.to_owned(), found };
        if out.file_name().is_none() {
            return Err(bad("a path without a file name"));
        }
        if let Some(found) = not_replaceable(out) {
            return Err(bad(found));
        }

        let (temp, pending) = pending_sibling(out, |path| File::create_new(path).map(drop))
            .map_err(|(path, source)| DockerArchiveError::Io { action: "create", path, source })?;
        let file = match fs::OpenOptions::new().write(true).open(&temp) {
            Ok(file) => file,
            Err(source) => {
                let _ = fs::remove_file(&temp);
                return Err(DockerArchiveError::Io { action: "open", path: temp, source });
            }
        };

        let mut writer = Self {
            out: out.to_owned(),
            _pending: pending,
            temp,
            file: BufWriter::with_capacity(1 << 20, file),
            position: 0,
            blobs: BTreeSet::new(),
            images: Vec::new(),
            damaged: false,
            finished: false,
        };
        writer.directory("blobs/")?;
        writer.directory("blobs/sha256/")?;
        Ok(writer)
    }

    /// A writer that streams one blob (normally the compressed layer) into the archive as
    /// `blobs/sha256/<hex>`; [`ArchiveBlobWriter::finish`] fills in its tar header.
    ///
    /// # Errors
    /// [`DockerArchiveError::Damaged`] after an earlier failed blob; [`DockerArchiveError::Io`]
    /// when the placeholder header cannot be written.
    pub fn blob_writer(&mut self) -> Result<ArchiveBlobWriter<'_>, DockerArchiveError> {
        self.check()?;
        let header_at = self.position;
        self.write(&[0; BLOCK as usize])?;
        Ok(ArchiveBlobWriter { archive: self, header_at, hasher: Some(Sha256::new()), size: 0 })
    }

    /// As [`DockerArchiveWriter::blob_writer`], for a blob whose producer hashes the bytes as
    /// it writes them (the layer encoder does): the writer does not hash them a second time,
    /// and [`ArchiveBlobWriter::finish_as`] names the blob by the producer's digest.
    ///
    /// # Errors
    /// As [`DockerArchiveWriter::blob_writer`].
    pub fn prehashed_blob_writer(&mut self) -> Result<ArchiveBlobWriter<'_>, DockerArchiveError> {
        let mut writer = self.blob_writer()?;
        writer.hasher = None;
        Ok(writer)
    }

    /// Stores a blob held in memory; a blob already in the archive is not written again.
    ///
    /// # Errors
    /// As [`DockerArchiveWriter::blob_writer`].
    pub fn add_blob(&mut self, bytes: &[u8]) -> Result<StoredBlob, DockerArchiveError> {
        let mut writer = self.blob_writer()?;
        if let Err(source) = writer.write_all(bytes) {
            let path = writer.archive.temp.clone();
            return Err(DockerArchiveError::Io { action: "write", path, source });
        }
        writer.finish()
    }

    /// Adds one image under `repo_tag` (`NAME:TAG`): stores its config and manifest blobs and
    /// lists it in `manifest.json` and `repositories`. Its layer must already be in the
    /// archive (streamed with [`DockerArchiveWriter::blob_writer`]).
    ///
    /// # Errors
    /// [`DockerArchiveError::InvalidTag`], [`DockerArchiveError::DuplicateTag`],
    /// [`DockerArchiveError::MissingLayer`], or as [`DockerArchiveWriter::add_blob`].
    pub fn add_image(
        &mut self,
        repo_tag: &str,
        image: &ImageBlobs,
        layer: &LayerDigests,
    ) -> Result<(), DockerArchiveError> {
        if split_repo_tag(repo_tag).is_none() {
            return Err(DockerArchiveError::InvalidTag { tag: repo_tag.to_owned() });
        }
        if self.images.iter().any(|(tag, _, _)| tag == repo_tag) {
            return Err(DockerArchiveError::DuplicateTag { tag: repo_tag.to_owned() });
        }
        let layer_hex = layer.digest.digest().to_owned();
        if !self.blobs.contains(&layer_hex) {
            return Err(DockerArchiveError::MissingLayer { digest: layer.digest.to_string() });
        }

        let config = self.add_blob(&image.config.0)?;
        // The manifest is not read through manifest.json, but index.json points at it.
        self.add_blob(&image.manifest.0)?;
        self.images.push((repo_tag.to_owned(), config.digest.digest().to_owned(), layer_hex));
        Ok(())
    }

    /// Writes `index.json` (the given bytes, normally from [`super::image::index_blob`]),
    /// `manifest.json`, `oci-layout` and `repositories`, ends the tar and renames the archive
    /// into place.
    ///
    /// # Errors
    /// [`DockerArchiveError::Damaged`] after an earlier failed blob; [`DockerArchiveError::Io`]
    /// when a write or the rename fails, in which case the temporary file is removed.
    pub fn finish(mut self, index_json: &[u8]) -> Result<(), DockerArchiveError> {
        self.check()?;
        let manifest = self.manifest_json()?;
        let repositories = self.repositories_json()?;
        self.member("index.json", index_json)?;
        self.member("manifest.json", &manifest)?;
        self.member("oci-layout", OCI_LAYOUT)?;
        self.member("repositories", &repositories)?;

        // A tar ends with two zero blocks (POSIX ustar).
        self.write(&[0; 2 * BLOCK as usize])?;
        if let Err(source) = self.file.flush() {
            return Err(DockerArchiveError::Io {
                action: "write",
                path: self.temp.clone(),
                source,
            });
        }
        fs::rename(&self.temp, &self.out).map_err(|source| DockerArchiveError::Io {
            action: "rename",
            path: self.temp.clone(),
            source,
        })?;
        self.finished = true;
        tracing::debug!(out = %self.out.display(), images = self.images.len(), "archive written");
        Ok(())
    }

    fn manifest_json(&self) -> Result<Vec<u8>, DockerArchiveError> {
        let entries: Vec<ManifestEntry> = self
            .images
            .iter()
            .map(|(tag, config, layer)| ManifestEntry {
                config: format!("blobs/sha256/{config}"),
                repo_tags: vec![tag.clone()],
                layers: vec![format!("blobs/sha256/{layer}")],
            })
            .collect();
        serde_json::to_vec(&entries)
            .map_err(|source| DockerArchiveError::Json { what: "manifest.json", source })
    }

    /// The legacy `repositories` file: name → tag → the image's top layer id.
    fn repositories_json(&self) -> Result<Vec<u8>, DockerArchiveError> {
        let mut repositories: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for (repo_tag, _, layer) in &self.images {
            if let Some((name, tag)) = split_repo_tag(repo_tag) {
                repositories.entry(name).or_default().insert(tag, layer);
            }
        }
        serde_json::to_vec(&repositories)
            .map_err(|source| DockerArchiveError::Json { what: "repositories", source })
    }

    fn check(&self) -> Result<(), DockerArchiveError> {
        if self.damaged {
            return Err(DockerArchiveError::Damaged { path: self.temp.clone() });
        }
        Ok(())
    }

    /// A directory member, mode 0755, owned by root, mtime 0.
    fn directory(&mut self, member: &str) -> Result<(), DockerArchiveError> {
        let header = header(member, 0, tar::EntryType::Directory)?;
        self.write(header.as_bytes())
    }

    /// A regular member held in memory.
    fn member(&mut self, member: &str, bytes: &[u8]) -> Result<(), DockerArchiveError> {
        let header = header(member, bytes.len() as u64, tar::EntryType::Regular)?;
        self.write(header.as_bytes())?;
        self.write(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// Zero bytes up to the next block boundary after `size` bytes of content.
    fn pad(&mut self, size: u64) -> Result<(), DockerArchiveError> {
        let padding = (BLOCK - size % BLOCK) % BLOCK;
        self.write(&[0; BLOCK as usize][..padding as usize])
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DockerArchiveError> {
        if let Err(source) = self.file.write_all(bytes) {
            return Err(DockerArchiveError::Io {
                action: "write",
                path: self.temp.clone(),
                source,
            });
        }
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the archive back to `position`, dropping a blob that failed or is a duplicate.
    fn truncate(&mut self, position: u64) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().set_len(position)?;
        self.file.seek(SeekFrom::Start(position))?;
        self.position = position;
        Ok(())
    }

    /// Writes `header` over the placeholder at `at`, then returns to the end.
    fn patch_header(&mut self, at: u64, header: &tar::Header) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(header.as_bytes())?;
        self.file.seek(SeekFrom::Start(self.position))?;
        Ok(())
    }
}

impl Drop for DockerArchiveWriter {
    fn drop(&mut self) {
        if !self.finished
            && let Err(error) = fs::remove_file(&self.temp)
        {
            tracing::debug!(temp = %self.temp.display(), %error, "cannot remove temp archive");
        }
    }
}

/// A ustar header for a member owned by root with mtime 0, so the archive does not depend on
/// the clock or the host's users.
fn header(
    member: &str,
    size: u64,
    kind: tar::EntryType,
) -> Result<tar::Header, DockerArchiveError> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(member)
        .map_err(|source| DockerArchiveError::Header { member: member.to_owned(), source })?;
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    Ok(header)
}

/// One blob being streamed into a docker-archive. Dropping it before
/// [`ArchiveBlobWriter::finish`] cuts its bytes off the archive again.
#[derive(Debug)]
pub struct ArchiveBlobWriter<'a> {
    archive: &'a mut DockerArchiveWriter,
    header_at: u64,
    /// `None` for a prehashed blob.
    hasher: Option<Sha256>,
    size: u64,
}

impl ArchiveBlobWriter<'_> {
    /// Ends the blob: pads it, writes its header as `blobs/sha256/<hex>` and returns its
    /// digest and size. A blob already in the archive is cut off again rather than stored
    /// twice.
    ///
    /// # Errors
    /// [`DockerArchiveError::Io`] when the archive cannot be written or seeked.
    pub fn finish(mut self) -> Result<StoredBlob, DockerArchiveError> {
        let temp = self.archive.temp.clone();
        let Some(hasher) = self.hasher.take() else {
            let source = io::Error::other("a prehashed blob is named with finish_as");
            return Err(DockerArchiveError::Io { action: "name", path: temp, source });
        };
        let digest = sha256_digest(hasher.finalize().into())
            .map_err(|source| DockerArchiveError::Digest { path: temp, source })?;
        self.finish_as(&digest)
    }

    /// As [`ArchiveBlobWriter::finish`], naming the blob by `digest`, which the caller
    /// computed over exactly the bytes written.
    ///
    /// # Errors
    /// As [`ArchiveBlobWriter::finish`].
    pub fn finish_as(
        mut self,
        digest: &oci_spec::image::Digest,
    ) -> Result<StoredBlob, DockerArchiveError> {
        let temp = self.archive.temp.clone();
        let stored = StoredBlob { digest: digest.clone(), size: self.size };
        let hex = stored.digest.digest().to_owned();
        let io = |source| DockerArchiveError::Io { action: "write", path: temp.clone(), source };

        if self.archive.blobs.contains(&hex) {
            self.archive.truncate(self.header_at).map_err(io)?;
        } else {
            self.archive.pad(self.size)?;
            let member = format!("blobs/sha256/{hex}");
            let header = header(&member, self.size, tar::EntryType::Regular)?;
            self.archive.patch_header(self.header_at, &header).map_err(io)?;
            self.archive.blobs.insert(hex);
        }
        // Done: the drop below must not cut anything off.
        self.header_at = u64::MAX;
        Ok(stored)
    }
}

impl Write for ArchiveBlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.archive.file.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.size = self.size.saturating_add(n as u64);
        self.archive.position += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.archive.file.flush()
    }
}

impl Drop for ArchiveBlobWriter<'_> {
    fn drop(&mut self) {
        if self.header_at != u64::MAX
            && let Err(error) = self.archive.truncate(self.header_at)
        {
            tracing::debug!(%error, "cannot cut off an unfinished blob");
            self.archive.damaged = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_follow_apko_convention() {
        assert_eq!(repo_tags(None, &["amd64"]), ["flatroot:latest"]);
        assert_eq!(repo_tags(Some("app"), &["amd64"]), ["app:latest"]);
        assert_eq!(
            repo_tags(Some("localhost:5000/app:1.0"), &["amd64", "arm64"]),
            ["localhost:5000/app:1.0-amd64", "localhost:5000/app:1.0-arm64"]
        );
    }

    #[test]
    fn split_repo_tag_keeps_registry_ports_in_the_name() {
        assert_eq!(split_repo_tag("a/b:c"), Some(("a/b", "c")));
        assert_eq!(split_repo_tag("host:5000/b"), None);
        assert_eq!(split_repo_tag("b:"), None);
        assert_eq!(split_repo_tag(":t"), None);
    }

    #[test]
    fn archive_is_a_tar_with_blobs_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image.tar");
        let mut archive = DockerArchiveWriter::create(&out).unwrap();
        let mut blob = archive.blob_writer().unwrap();
        blob.write_all(&[7u8; 1000]).unwrap();
        let stored = blob.finish().unwrap();
        let again = archive.add_blob(&[7u8; 1000]).unwrap();
        assert_eq!(stored, again);
        archive.finish(b"{}").unwrap();

        let bytes = fs::read(&out).unwrap();
        let mut tar = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        let blob_name = format!("blobs/sha256/{}", stored.digest.digest());
        assert_eq!(
            names,
            [
                "blobs/",
                "blobs/sha256/",
                &blob_name,
                "index.json",
                "manifest.json",
                "oci-layout",
                "repositories"
            ]
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_blob_is_cut_off_and_dropped_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image.tar");
        let mut archive = DockerArchiveWriter::create(&out).unwrap();
        let before = archive.position;
        let mut blob = archive.blob_writer().unwrap();
        blob.write_all(&[1u8; 3000]).unwrap();
        drop(blob);
        assert_eq!(archive.position, before);
        drop(archive);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_prehashed_blob_is_named_by_the_digest_its_producer_gives() {
        let dir = tempfile::tempdir().unwrap();
        let mut archive = DockerArchiveWriter::create(&dir.path().join("image.tar")).unwrap();
        let digest = crate::oci::digest::digest_of(b"layer bytes").unwrap();

        let mut blob = archive.prehashed_blob_writer().unwrap();
        blob.write_all(b"layer bytes").unwrap();
        let stored = blob.finish_as(&digest).unwrap();
        let mut unnamed = archive.prehashed_blob_writer().unwrap();
        unnamed.write_all(b"x").unwrap();
        let unnamed = unnamed.finish();

        assert_eq!((stored.digest, stored.size), (digest.clone(), 11));
        assert!(archive.blobs.contains(digest.digest()));
        assert!(matches!(unnamed, Err(DockerArchiveError::Io { action: "name", .. })));
    }

    #[test]
    fn replaces_only_nothing_an_empty_file_or_a_docker_archive() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image.tar");
        fs::write(&out, "my notes\n").unwrap();
        let error = DockerArchiveWriter::create(&out).err().unwrap();
        assert!(matches!(error, DockerArchiveError::BadOutput { found, .. }
            if found == "a file that is not a tar archive"));
        assert_eq!(fs::read(&out).unwrap(), b"my notes\n");

        fs::write(&out, "").unwrap();
        assert!(not_replaceable(&out).is_none());
        let tar_of = |names: &[&str]| {
            let mut tar = tar::Builder::new(Vec::new());
            for name in names {
                let mut header = tar::Header::new_ustar();
                header.set_size(3);
                tar.append_data(&mut header, name, &b"abc"[..]).unwrap();
            }
            tar.into_inner().unwrap()
        };
        fs::write(&out, tar_of(&["backup/thesis.tex", "notes"])).unwrap();
        assert_eq!(
            not_replaceable(&out),
            Some("a tar archive that is not a docker-archive (no manifest.json)"),
            "someone's own archive is kept"
        );
        fs::write(&out, tar_of(&["blobs/sha256/aa", "manifest.json"])).unwrap();
        assert!(not_replaceable(&out).is_none(), "an earlier archive is replaced");

        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.tar")).unwrap();
        assert_eq!(not_replaceable(&dir.path().join("link.tar")), Some("a symlink"));
    }

    #[test]
    fn refuses_a_directory_as_output() {
        let dir = tempfile::tempdir().unwrap();
        let error = DockerArchiveWriter::create(dir.path()).unwrap_err();
        assert!(matches!(error, DockerArchiveError::BadOutput { found: "a directory", .. }));
    }
}
