//! Reads a layer tar (already decompressed, in memory or memory-mapped) back into a tree.
//!
//! Contents are not copied: every file is a range of the layer buffer. Entries may come in
//! any order; a missing parent directory is created with mode 0755, as container runtimes
//! do when they unpack a layer. PAX records for `path`, `linkpath`, `size`, `uid`, `gid`,
//! `mtime` and `SCHILY.xattr.*` are honoured, and so are GNU long names.

use std::collections::BTreeMap;

use crate::content::{Content, SharedBuffer};
use crate::name::{Lossy, XattrError, check_xattr, components};
use crate::node::{Metadata, Node, NodeKind, Timestamp};
use crate::tree::{Follow, Tree, TreeError};

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The tar structure is broken (bad header checksum, truncated data, bad PAX record).
    #[error("layer tar is malformed near byte {offset}")]
    Malformed {
        /// Byte offset of the header concerned, as far as it is known.
        offset: u64,
        /// What the tar reader said.
        #[source]
        source: std::io::Error,
    },
    /// An entry that the tree cannot hold there.
    #[error("layer entry {path:?} cannot be placed in the tree")]
    Entry {
        /// The entry's name.
        path: Lossy,
        /// What the tree said.
        #[source]
        source: TreeError,
    },
    /// A hardlink to a name that no earlier entry of the layer placed, or to a directory.
    #[error("layer entry {path:?} is a hardlink to {target:?}, which {why}")]
    BadHardlink {
        /// The link's name.
        path: Lossy,
        /// The name it links to.
        target: Lossy,
        /// What the target is instead of an earlier non-directory.
        why: HardlinkTarget,
    },
    /// The layers applied to one tree place more entries than their [`EntryBudget`] allows.
    #[error("the layers place more than {limit} entries")]
    TooManyEntries {
        /// The budget's limit.
        limit: usize,
    },
    /// The paths of the entries the layers place come to more bytes than their
    /// [`EntryBudget`] allows ([`PATH_BYTES_PER_ENTRY`] for each entry of its limit).
    #[error("the paths of the entries the layers place come to more than {limit} bytes")]
    TooMuchPath {
        /// The budget's limit, in bytes.
        limit: u64,
    },
    /// A name or link target longer than the reader allows (see
    /// [`EntryBudget::with_max_path`]), or a link target longer than a symlink may be.
    #[error("layer entry {path:?}: its {what} is {len} bytes long, past the limit of {limit}")]
    PathTooLong {
        /// The entry's name.
        path: Lossy,
        /// `name` or `link target`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A sparse file in the PAX form GNU tar writes (`GNU.sparse.*` records), whose data is
    /// an encoding of the file, not the file.
    #[error("layer entry {path:?} is a sparse file (PAX GNU.sparse records), which is not read")]
    Sparse {
        /// The file's name, as the records give it.
        path: Lossy,
    },
    /// An entry with an extended attribute no Linux file can hold (see
    /// [`check_xattr`]): served as it is, it would fail `listxattr` or `getxattr` on the
    /// whole file.
    #[error("layer entry {path:?} has an xattr that no Linux file can hold")]
    Xattr {
        /// The entry's name.
        path: Lossy,
        /// Which attribute, and what is wrong with it (boxed: the rare error keeps the
        /// others small).
        #[source]
        source: Box<XattrError>,
    },
    /// An entry for the root itself (`./`, `/`, `.`, an empty name) that is not a
    /// directory: the root of an image is a directory, and no layer may change that.
    /// A directory entry for the root is allowed and gives the root its metadata.
    ///
    /// See: umoci's "refusing to change type of root directory",
    /// <https://github.com/opencontainers/umoci/blob/main/oci/layer/tar_extract.go>.
    #[error(
        "layer entry {path:?} is {kind} naming the root directory, and a layer cannot change \
         the root's type"
    )]
    RootType {
        /// The entry's name.
        path: Lossy,
        /// What the entry is, as the message says it: `a regular file`, `a symlink`, ...
        kind: &'static str,
    },
    /// A symlink without a target, which no Linux filesystem can hold (symlink(2) refuses
    /// an empty target).
    #[error("layer entry {path:?} is a symlink with an empty target")]
    EmptySymlink {
        /// The entry's name.
        path: Lossy,
    },
    /// A whiteout (`.wh.NAME`) whose `NAME` is empty, `.` or `..`: it names no entry.
    #[error("layer entry {path:?} is a whiteout that names no entry (empty, . or ..)")]
    BadWhiteout {
        /// The entry's name.
        path: Lossy,
    },
    /// An entry type flatroot does not represent (sparse files, tape volumes).
    #[error("layer entry {path:?} has unsupported type {typeflag:?}")]
    Unsupported {
        /// The entry's name.
        path: Lossy,
        /// The typeflag byte.
        typeflag: char,
    },
}

/// What is wrong with a hardlink's target: see [`ReadError::BadHardlink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardlinkTarget {
    /// No earlier entry has the name.
    Missing,
    /// It names a directory.
    Directory,
    /// It has a `..` component.
    DotDot,
    /// It ends in `/`, which only a directory's name may, and names a file.
    TrailingSlash,
}

impl std::fmt::Display for HardlinkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HardlinkTarget::Missing => "is not an earlier entry",
            HardlinkTarget::Directory => "is a directory",
            HardlinkTarget::DotDot => "has a '..' component",
            HardlinkTarget::TrailingSlash => "ends in '/' but names no directory",
        })
    }
}

/// Builds a tree from the layer tar in `buffer`; the root gets `root` metadata.
pub fn read_layer(buffer: SharedBuffer, root: Metadata) -> Result<Tree, ReadError> {
    let mut tree = Tree::new(root);
    read_layer_into(&mut tree, buffer)?;
    Ok(tree)
}

/// Applies the layer tar in `buffer` over `tree`: later entries replace earlier ones of the
/// same name. Whiteout files (`.wh.*`) are kept as they are, as plain entries; an image's
/// layers are read with [`apply_layer`], which honours them.
pub fn read_layer_into(tree: &mut Tree, buffer: SharedBuffer) -> Result<(), ReadError> {
    read_entries(tree, buffer, false, &mut EntryBudget::new(usize::MAX))
}

/// How many entries the layers applied to one tree may still place: what bounds the tree an
/// image's layers make, in memory and in time. Each tar entry spends the nodes it adds to the
/// tree (a file, and the directories made on the way to it), and at least one, so that
/// neither many entries nor one long path gets past it, and a layer applied many times
/// spends each time.
///
/// It bounds the bytes of their paths too: a tree holds every entry's whole path, and a
/// deep one costs memory quadratic in its depth (a 10 KB layer of 450 names of 4 KB, each
/// making 2,000 directories, would hold 2 GB of paths). Each entry spends its path's length
/// for every node it adds, which is the sum of their paths' lengths or more.
#[derive(Debug, Clone)]
pub struct EntryBudget {
    limit: usize,
    spent: usize,
    max_path: usize,
    path_limit: u64,
    path_spent: u64,
}

/// The bytes of path an [`EntryBudget`] allows for each entry of its limit: far more than
/// real images hold (their paths average under a hundred bytes).
pub const PATH_BYTES_PER_ENTRY: u64 = 256;

/// The longest symlink target Linux holds (`PATH_MAX` less its NUL): a longer one could be
/// listed but never read back.
const MAX_LINK_TARGET: usize = 4095;

impl EntryBudget {
    /// A budget of `limit` entries, of names and link targets of any length a symlink may
    /// have.
    pub fn new(limit: usize) -> EntryBudget {
        let path_limit = (limit as u64).saturating_mul(PATH_BYTES_PER_ENTRY);
        EntryBudget { limit, spent: 0, max_path: usize::MAX, path_limit, path_spent: 0 }
    }

    /// This budget, with no entry name or link target longer than `max_path` bytes.
    #[must_use]
    pub fn with_max_path(self, max_path: usize) -> EntryBudget {
        EntryBudget { max_path, ..self }
    }

    /// Refuses a `name` or link `target` of the entry `path` past [`Self::with_max_path`],
    /// or a symlink's target (`symbolic`) past what a symlink holds.
    fn check_lengths(
        &self,
        path: &[u8],
        target: Option<&[u8]>,
        symbolic: bool,
    ) -> Result<(), ReadError> {
        let too_long = |what, len, limit| ReadError::PathTooLong {
            path: Lossy(path.to_vec()),
            what,
            len,
            limit,
        };
        if path.len() > self.max_path {
            return Err(too_long("name", path.len(), self.max_path));
        }
        let limit = if symbolic { self.max_path.min(MAX_LINK_TARGET) } else { self.max_path };
        match target {
            Some(target) if target.len() > limit => {
                Err(too_long("link target", target.len(), limit))
            }
            _ => Ok(()),
        }
    }

    /// Spends one entry of a path `path_len` bytes long that added `added` nodes.
    fn spend(&mut self, added: usize, path_len: usize) -> Result<(), ReadError> {
        let added = added.max(1);
        self.spent = self.spent.saturating_add(added);
        if self.spent > self.limit {
            return Err(ReadError::TooManyEntries { limit: self.limit });
        }
        let bytes = (added as u64).saturating_mul(path_len as u64);
        self.path_spent = self.path_spent.saturating_add(bytes);
        if self.path_spent > self.path_limit {
            return Err(ReadError::TooMuchPath { limit: self.path_limit });
        }
        Ok(())
    }
}

/// The prefix of an OCI whiteout's name: `.wh.NAME` deletes `NAME` of the lower layers.
const WHITEOUT: &[u8] = b".wh.";

/// The name of an opaque whiteout: the lower layers' entries of its directory are hidden.
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Applies one layer of an image over `tree`, which holds the layers below it, with the
/// OCI image spec's whiteouts: an entry `DIR/.wh.NAME` deletes `DIR/NAME` of the lower
/// layers, and `DIR/.wh..wh..opq` deletes every entry they had in `DIR`. Whiteouts never
/// hide what their own layer holds, wherever in the layer it comes, and no `.wh.` entry
/// is ever placed in the tree: in the lowest layer they hide nothing and vanish. A
/// whiteout whose directory the lower layers lack hides nothing either.
///
/// See: <https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>.
///
/// Errors: as [`read_layer_into`], [`ReadError::BadWhiteout`] for a whiteout of an empty
/// name, `.` or `..`, and [`ReadError::TooManyEntries`] once the layer's entries overspend
/// `budget`, which the caller carries from one layer of an image to the next.
pub fn apply_layer(
    tree: &mut Tree,
    buffer: SharedBuffer,
    budget: &mut EntryBudget,
) -> Result<(), ReadError> {
    // Every whiteout acts before any entry of its layer is placed, so that it reaches the
    // lower layers only, whatever order the layer lists its entries in.
    for path in whiteouts(&buffer) {
        let hidden = last_name(&path).strip_prefix(WHITEOUT).unwrap_or_default();
        if matches!(hidden, b"" | b"." | b"..") {
            return Err(ReadError::BadWhiteout { path: Lossy(path) });
        }
        let Ok((dir, marker)) = tree.parent_of(&path) else {
            // The directory is not in the lower layers (or cannot be reached): nothing to
            // hide.
            continue;
        };
        if marker.as_bytes() == OPAQUE {
            let names: Vec<Vec<u8>> = match &tree.node(dir).kind {
                NodeKind::Directory(entries) => {
                    entries.keys().map(|n| n.as_bytes().to_vec()).collect()
                }
                _ => Vec::new(),
            };
            for name in names {
                tree.unlink(dir, &name);
            }
        } else if let Some(name) = marker.as_bytes().strip_prefix(WHITEOUT)
            // Other `.wh..wh.` names are reserved by the spec and hide nothing.
            && !name.starts_with(WHITEOUT)
        {
            tree.unlink(dir, name);
        }
    }
    read_entries(tree, buffer, true, budget)
}

/// The paths of the whiteout entries of a layer, in its order, as far as it can be read:
/// a malformed layer is reported by the reading of its entries that follows, with what
/// exactly is wrong and where.
fn whiteouts(buffer: &SharedBuffer) -> Vec<Vec<u8>> {
    let bytes: &[u8] = (**buffer).as_ref();
    // Seeking over each entry's content, so that finding the whiteouts reads headers only
    // instead of copying the whole layer once more.
    let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
    let Ok(entries) = archive.entries_with_seek() else { return Vec::new() };
    let paths = entries.map_while(Result::ok).map(|item| item.path_bytes().into_owned());
    paths.filter(|path| is_whiteout(path)).collect()
}

/// Whether the last name of `path` is a whiteout's (`.wh.` and more).
fn is_whiteout(path: &[u8]) -> bool {
    last_name(path).starts_with(WHITEOUT)
}

/// The last name of `path`, a trailing `/` aside.
fn last_name(path: &[u8]) -> &[u8] {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    trimmed.rsplit(|b| *b == b'/').next().unwrap_or(trimmed)
}

/// Reads the entries of the layer in `buffer` into `tree`, each spent from `budget`; with
/// `skip_whiteouts`, entries whose name is a whiteout's are left out.
fn read_entries(
    tree: &mut Tree,
    buffer: SharedBuffer,
    skip_whiteouts: bool,
    budget: &mut EntryBudget,
) -> Result<(), ReadError> {
    let bytes: &[u8] = (*buffer).as_ref();
    // Content is taken as ranges of `buffer`, never read: seeking over it spares a copy of
    // the whole layer into a sink.
    let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
    let malformed = |offset: u64| move |source| ReadError::Malformed { offset, source };

    let entries = archive.entries_with_seek().map_err(malformed(0))?;
    let mut last_offset = 0;
    // The node count before the entry being placed, and its path's length: an entry is
    // spent when the next one comes (or the layer ends), whichever way its placing ended.
    let mut placing: Option<(usize, usize)> = None;
    for item in entries {
        if let Some((before, path_len)) = placing {
            budget.spend(tree.node_count() - before, path_len)?;
        }
        let mut item = item.map_err(malformed(last_offset))?;
        last_offset = item.raw_header_position();
        let path = item.path_bytes().into_owned();
        placing = Some((tree.node_count(), path.len()));
        if skip_whiteouts && is_whiteout(&path) {
            continue;
        }
        let entry_error = |source| ReadError::Entry { path: Lossy(path.clone()), source };

        let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        if let Some(extensions) = item.pax_extensions().map_err(malformed(last_offset))? {
            for ext in extensions {
                let ext = ext.map_err(malformed(last_offset))?;
                pax.insert(ext.key_bytes().to_vec(), ext.value_bytes().to_vec());
            }
        }
        if pax.keys().any(|key| key.starts_with(b"GNU.sparse.")) {
            let name = pax.get(&b"GNU.sparse.name"[..]).unwrap_or(&path);
            return Err(ReadError::Sparse { path: Lossy(name.clone()) });
        }
        let header = item.header();
        check_size(header, &pax).map_err(malformed(last_offset))?;
        let meta = metadata(header, &pax).map_err(malformed(last_offset))?;
        for (name, value) in &meta.xattrs {
            check_xattr(name, value)
                .map_err(|e| ReadError::Xattr { path: Lossy(path.clone()), source: Box::new(e) })?;
        }
        // The byte itself: the tar crate reads NUL as '0', which hides a pre-POSIX entry.
        let typeflag = header.as_old().linkflag[0];
        let link = item.link_name_bytes().map(|l| l.into_owned());
        let target = link.as_deref().filter(|_| matches!(typeflag, b'1' | b'2'));
        budget.check_lengths(&path, target, typeflag == b'2')?;

        // A pre-POSIX regular file (typeflag NUL) whose name ends in `/` is a directory, as
        // GNU tar, Go's archive/tar and so umoci and containerd read it; a '0' of that name
        // stays a regular file of the name without its slash, as containerd and Docker
        // place it.
        // See: <https://pkg.go.dev/archive/tar#TypeRegA>.
        let typeflag = match typeflag {
            b'\0' if path.ends_with(b"/") => b'5',
            other => other,
        };

        let names = components(&path).map_err(|e| entry_error(e.into()))?;
        if names.is_empty() {
            if typeflag != b'5' {
                return Err(ReadError::RootType { path: Lossy(path), kind: kind_name(typeflag) });
            }
            // The root entry (`./`) carries the root's own metadata.
            tree.node_mut(tree.root()).meta = meta;
            continue;
        }
        let parent = parent_path(&path);
        tree.insert_dir_all(&parent, Metadata::directory(0o755)).map_err(entry_error)?;

        let kind = match typeflag {
            b'5' => {
                match tree.lookup(&path, Follow::NotFinal) {
                    Ok(id) if tree.node(id).is_dir() => tree.node_mut(id).meta = meta,
                    _ => {
                        let (dir, name) = tree.parent_of(&path).map_err(entry_error)?;
                        let node = Node { kind: NodeKind::Directory(BTreeMap::new()), meta };
                        let id = tree.add(node);
                        tree.unlink(dir, name.as_bytes());
                        tree.link(dir, name, id, &path).map_err(entry_error)?;
                    }
                }
                continue;
            }
            b'1' => {
                let target = link.unwrap_or_default();
                let bad = |why| ReadError::BadHardlink {
                    path: Lossy(path.clone()),
                    target: Lossy(target.clone()),
                    why,
                };
                // Refused as in an entry's name, rather than clamped at the root.
                if target.split(|b| *b == b'/').any(|part| part == b"..") {
                    return Err(bad(HardlinkTarget::DotDot));
                }
                // Any non-directory may have several names (GNU tar archives a hardlinked
                // symlink or device node as a link entry too); a directory never.
                // An empty target names no entry (a lookup would find the root).
                // A trailing `/` is judged below, once the entry it names is known.
                let named = target
                    .iter()
                    .rposition(|b| *b != b'/')
                    .map_or(&[][..], |end| target.get(..=end).unwrap_or_default());
                if named.is_empty() && !target.is_empty() {
                    return Err(bad(HardlinkTarget::Directory));
                }
                let id = Some(named)
                    .filter(|named| !named.is_empty())
                    .and_then(|named| tree.lookup(named, Follow::NotFinal).ok())
                    .ok_or_else(|| bad(HardlinkTarget::Missing))?;
                if tree.node(id).is_dir() {
                    return Err(bad(HardlinkTarget::Directory));
                }
                // As `link(2)` refuses `file/` with ENOTDIR.
                if target.ends_with(b"/") {
                    return Err(bad(HardlinkTarget::TrailingSlash));
                }
                let (dir, name) = tree.parent_of(&path).map_err(entry_error)?;
                tree.link(dir, name, id, &path).map_err(entry_error)?;
                continue;
            }
            b'0' | b'\0' | b'7' => {
                let start = usize::try_from(item.raw_file_position()).unwrap_or(usize::MAX);
                let len = usize::try_from(item.size()).unwrap_or(usize::MAX);
                let content = Content::shared(buffer.clone(), start, len).map_err(|e| {
                    ReadError::Malformed { offset: last_offset, source: std::io::Error::other(e) }
                })?;
                NodeKind::File(content)
            }
            b'2' => match link.filter(|target| !target.is_empty()) {
                Some(target) => NodeKind::Symlink(target.into()),
                None => return Err(ReadError::EmptySymlink { path: Lossy(path) }),
            },
            b'3' | b'4' => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                if typeflag == b'3' {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                }
            }
            b'6' => NodeKind::Fifo,
            other => {
                return Err(ReadError::Unsupported {
                    path: Lossy(path),
                    typeflag: char::from(other),
                });
            }
        };
        let (dir, name) = tree.parent_of(&path).map_err(entry_error)?;
        let id = tree.add(Node { kind, meta });
        // A later entry of the same name replaces an earlier one, as when a layer is unpacked.
        tree.unlink(dir, name.as_bytes());
        tree.link(dir, name, id, &path).map_err(entry_error)?;
    }
    if let Some((before, path_len)) = placing {
        budget.spend(tree.node_count() - before, path_len)?;
    }
    Ok(())
}

/// What an entry of `typeflag` is, as messages say it.
fn kind_name(typeflag: u8) -> &'static str {
    match typeflag {
        b'0' | b'\0' | b'7' => "a regular file",
        b'1' => "a hardlink",
        b'2' => "a symlink",
        b'3' => "a character device",
        b'4' => "a block device",
        b'5' => "a directory",
        b'6' => "a FIFO",
        _ => "an entry of an unsupported type",
    }
}

fn parent_path(path: &[u8]) -> Vec<u8> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    match trimmed.iter().rposition(|b| *b == b'/') {
        Some(i) => trimmed[..i].to_vec(),
        None => Vec::new(),
    }
}

fn metadata(header: &tar::Header, pax: &BTreeMap<Vec<u8>, Vec<u8>>) -> std::io::Result<Metadata> {
    let number = |key: &[u8]| -> Option<&[u8]> { pax.get(key).map(Vec::as_slice) };
    let parse_u32 = |bytes: &[u8]| -> std::io::Result<u32> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("a PAX id that is not a 32-bit number"))
    };
    let uid = match number(b"uid") {
        Some(v) => parse_u32(v)?,
        None => u32::try_from(header.uid()?).map_err(std::io::Error::other)?,
    };
    let gid = match number(b"gid") {
        Some(v) => parse_u32(v)?,
        None => u32::try_from(header.gid()?).map_err(std::io::Error::other)?,
    };
    let mtime = match number(b"mtime") {
        Some(v) => parse_time(v).ok_or_else(|| std::io::Error::other("a malformed PAX mtime"))?,
        None => {
            Timestamp::from_secs(i64::try_from(header.mtime()?).map_err(std::io::Error::other)?)
        }
    };
    let mut xattrs = crate::node::Xattrs::new();
    for (key, value) in pax {
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            xattrs.insert(name.into(), value.as_slice().into());
        }
    }
    Ok(Metadata { mode: header.mode()? & 0o7777, uid, gid, mtime, xattrs })
}

/// Parses a PAX time: an optionally negative integer, optionally a fraction of up to nine
/// significant digits (more are truncated). The fraction has the sign of the whole value, so
/// `-5.25` is stored as the floor −6 and 750000000 ns.
pub(crate) fn parse_time(bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let secs: i64 = whole.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }

    let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;

    // `whole` of "-0.5" parses as 0: the sign is read from the text.
    if !whole.starts_with('-') || nanos == 0 {
        return Some(Timestamp { secs, nanos });
    }
    Some(Timestamp { secs: secs.checked_sub(1)?, nanos: 1_000_000_000 - nanos })
}

/// Refuses sizes the tar crate would misread: a base-256 `size` field wider than 64 bits
/// (it keeps only the low bytes, so 2^88 reads as 0) and a pax `size` record that is not a
/// number (it falls back to the header's field). Either would silently change where the
/// next header is looked for.
fn check_size(header: &tar::Header, pax: &BTreeMap<Vec<u8>, Vec<u8>>) -> std::io::Result<()> {
    let field = &header.as_old().size;
    if field[0] & 0x80 != 0 && (field[0] & 0x7f != 0 || field[1..4].iter().any(|&b| b != 0)) {
        return Err(std::io::Error::other("size field overflows 64 bits"));
    }
    if let Some(value) = pax.get(&b"size"[..]) {
        let parsed = std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
        if parsed.is_none() {
            return Err(std::io::Error::other("pax size record is not a number"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
