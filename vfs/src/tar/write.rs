//! Serializes a frozen tree into layer tar bytes.

use std::collections::BTreeMap;
use std::io;

use super::BLOCK;
use super::header::{Header, pax_records};
use crate::content::{Content, ContentId};
use crate::frozen::{Entry, FrozenTree};
use crate::node::{Node, NodeKind, Timestamp};

/// Options that shape the layer bytes; the bytes are a function of the tree and these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Clamp every mtime to at most this many seconds since the epoch
    /// (`SOURCE_DATE_EPOCH`); `None` keeps the tree's times.
    pub mtime_clamp: Option<i64>,
}

/// Where layer bytes go. `end_entry` marks the end of each tar entry, so that a compressor
/// can cut the stream at entry boundaries (segments that depend on the tree alone).
pub trait TarSink {
    /// Appends bytes to the layer.
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Marks that a regular file's headers are written and `len` bytes of its content
    /// follow, then the padding to a whole block. Called only for files with content; `id`
    /// names the content when its buffer is named (see [`ContentId`]).
    fn begin_content(&mut self, _len: u64, _id: Option<ContentId>) -> io::Result<()> {
        Ok(())
    }

    /// Appends a file's content, right after [`TarSink::begin_content`]: by default its bytes.
    /// A sink that can keep a reference to the content's buffer instead of copying the bytes
    /// does so here.
    fn write_content(&mut self, content: &Content) -> io::Result<()> {
        self.write_bytes(content.bytes())
    }

    /// Marks the end of one entry (its header, PAX header and padded content).
    fn end_entry(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`TarSink`] over any writer, ignoring entry boundaries.
pub struct WriteSink<W>(pub W);

impl<W: io::Write> TarSink for WriteSink<W> {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

const ZEROS: [u8; BLOCK] = [0u8; BLOCK];

/// Writes the whole tree as a tar stream: every entry but the root in walk order, then the
/// two zero blocks that end an archive.
///
/// Directories are named with a trailing slash; a hardlink after the first name of its node
/// is a link entry (`1`) naming that first path. Errors come only from the sink.
pub fn write_layer(
    tree: &FrozenTree,
    options: &LayerOptions,
    sink: &mut dyn TarSink,
) -> io::Result<()> {
    for entry in tree.walk().skip(1) {
        write_entry(tree, entry, options, sink)?;
        sink.end_entry()?;
    }
    sink.write_bytes(&ZEROS)?;
    sink.write_bytes(&ZEROS)?;
    sink.end_entry()
}

fn write_entry(
    tree: &FrozenTree,
    entry: &Entry,
    options: &LayerOptions,
    sink: &mut dyn TarSink,
) -> io::Result<()> {
    let node = tree.node(entry.node);
    let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mtime = match options.mtime_clamp {
        Some(limit) => node.meta.mtime.clamp_to(limit),
        None => node.meta.mtime,
    };

    let (typeflag, file): (u8, Option<&Content>) = if entry.is_link_follower {
        (b'1', None)
    } else {
        match &node.kind {
            NodeKind::Directory(_) => (b'5', None),
            NodeKind::File(c) => (b'0', Some(c)),
            NodeKind::Symlink(_) => (b'2', None),
            NodeKind::CharDevice { .. } => (b'3', None),
            NodeKind::BlockDevice { .. } => (b'4', None),
            NodeKind::Fifo => (b'6', None),
        }
    };
    let content: &[u8] = file.map_or(&[], Content::bytes);

    let mut header = Header::new(typeflag);
    let mut path = entry.path.to_vec();
    if typeflag == b'5' {
        path.push(b'/');
    }
    if !header.set_path(&path) {
        pax.insert(b"path".to_vec(), path.clone());
    }
    header.set_mode(node.meta.mode);
    if !header.set_uid(node.meta.uid) {
        pax.insert(b"uid".to_vec(), node.meta.uid.to_string().into_bytes());
    }
    if !header.set_gid(node.meta.gid) {
        pax.insert(b"gid".to_vec(), node.meta.gid.to_string().into_bytes());
    }
    if !header.set_size(content.len() as u64) {
        pax.insert(b"size".to_vec(), content.len().to_string().into_bytes());
    }
    if !header.set_mtime(mtime.secs) || mtime.nanos != 0 {
        pax.insert(b"mtime".to_vec(), pax_time(mtime));
    }
    if let Some(target) = link_target(tree, entry, node)
        && !header.set_link(target)
    {
        pax.insert(b"linkpath".to_vec(), target.to_vec());
    }
    if let NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } =
        node.kind
    {
        header.set_device(major, minor);
    }
    for (name, value) in &node.meta.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        pax.insert(key, value.to_vec());
    }

    if !pax.is_empty() {
        write_pax_header(&entry.path, mtime, &pax, sink)?;
    }
    sink.write_bytes(&header.finish())?;
    if let Some(file) = file.filter(|file| !file.is_empty()) {
        sink.begin_content(content.len() as u64, file.id())?;
        sink.write_content(file)?;
        let pad = (BLOCK - content.len() % BLOCK) % BLOCK;
        sink.write_bytes(&ZEROS[..pad])?;
    }
    Ok(())
}

fn link_target<'a>(tree: &'a FrozenTree, entry: &Entry, node: &'a Node) -> Option<&'a [u8]> {
    if entry.is_link_follower {
        return tree.first_path(entry.node);
    }
    match &node.kind {
        NodeKind::Symlink(target) => Some(target),
        _ => None,
    }
}

fn write_pax_header(
    path: &[u8],
    mtime: Timestamp,
    records: &BTreeMap<Vec<u8>, Vec<u8>>,
    sink: &mut dyn TarSink,
) -> io::Result<()> {
    let body = pax_records(records);
    let base = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
    let mut name = b"PaxHeaders/".to_vec();
    name.extend_from_slice(&base[..base.len().min(100 - name.len())]);

    let mut header = Header::new(b'x');
    header.set_path(&name);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(body.len() as u64);
    header.set_mtime(mtime.secs.max(0));
    sink.write_bytes(&header.finish())?;
    sink.write_bytes(&body)?;
    let pad = (BLOCK - body.len() % BLOCK) % BLOCK;
    sink.write_bytes(&ZEROS[..pad])
}

/// A PAX time value: the signed decimal value of the time, seconds, then a fraction without
/// trailing zeros when there is one (−5.25 s is `-5.25`, not the stored floor and fraction).
fn pax_time(t: Timestamp) -> Vec<u8> {
    if t.nanos == 0 {
        return t.secs.to_string().into_bytes();
    }

    let (negative, whole, nanos) = t.decimal_parts();
    let sign = if negative { "-" } else { "" };
    let fraction = format!("{nanos:09}");
    format!("{sign}{whole}.{}", fraction.trim_end_matches('0')).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::{Content, Metadata, Name, SharedBuffer, Tree};

    fn layer(tree: Tree, options: LayerOptions) -> Vec<u8> {
        let mut sink = WriteSink(Vec::new());
        write_layer(&tree.freeze(), &options, &mut sink).unwrap();
        sink.0
    }

    #[test]
    fn the_tar_crate_reads_back_every_field() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut dir = Metadata::directory(0o2755);
        dir.mtime = Timestamp::from_secs(1_700_000_000);
        tree.insert_dir_all(b"usr/bin", dir).unwrap();
        let mut suid = Metadata::file(0o4755);
        suid.uid = 3_000_000;
        suid.mtime = Timestamp { secs: 1_700_000_001, nanos: 500_000_000 };
        suid.xattrs.insert(b"security.capability".as_slice().into(), b"\x01\x00".as_slice().into());
        let file = tree
            .insert_file(b"usr/bin/ping", suid, Content::from_vec(b"#!/bin/sh\n".to_vec()))
            .unwrap();
        let bin = tree.lookup(b"usr/bin", crate::Follow::Final).unwrap();
        tree.link(bin, Name::new(b"pong").unwrap(), file, b"usr/bin/pong").unwrap();
        let long = [b"usr/bin/".to_vec(), vec![b'n'; 150]].concat();
        tree.insert_symlink(&long, Metadata::new(0o777), &[b'/'; 120]).unwrap();

        let bytes = layer(tree, LayerOptions::default());
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(&bytes[bytes.len() - 1024..], &[0u8; 1024][..]);

        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for item in archive.entries().unwrap() {
            let mut item = item.unwrap();
            let path = item.path_bytes().into_owned();
            let header = item.header().clone();
            let xattr = item.pax_extensions().unwrap().and_then(|mut exts| {
                exts.find_map(|ext| {
                    let ext = ext.unwrap();
                    (ext.key_bytes() == b"SCHILY.xattr.security.capability")
                        .then(|| ext.value_bytes().to_vec())
                })
            });
            let link = item.link_name_bytes().map(|l| l.into_owned());
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut item, &mut content).unwrap();
            seen.push((path, header.entry_type().as_byte(), header.mode().unwrap(), link, xattr));
            if !content.is_empty() {
                assert_eq!(content, b"#!/bin/sh\n");
                // 3,000,000 needs eight octal digits: ustar holds seven, so PAX carries it.
                assert_eq!(header.uid().unwrap(), 3_000_000);
                assert!(bytes.windows(12).any(|w| w == b"uid=3000000\n"));
            }
        }
        let names: Vec<&[u8]> = seen.iter().map(|s| &s.0[..]).collect();
        assert_eq!(
            names,
            vec![&b"usr/"[..], b"usr/bin/", &long[..], b"usr/bin/ping", b"usr/bin/pong"]
        );
        assert_eq!(seen[1].2, 0o2755);
        assert_eq!(seen[2].3.as_deref(), Some(&[b'/'; 120][..]));
        assert_eq!(seen[3].2, 0o4755);
        assert_eq!(seen[3].4.as_deref(), Some(&b"\x01\x00"[..]));
        assert_eq!((seen[4].1, seen[4].3.as_deref()), (b'1', Some(&b"usr/bin/ping"[..])));
    }

    #[test]
    fn clamping_rewrites_later_mtimes_only() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        let mut old = Metadata::file(0o644);
        old.mtime = Timestamp::from_secs(100);
        let mut new = Metadata::file(0o644);
        new.mtime = Timestamp { secs: 5000, nanos: 7 };
        tree.insert_file(b"old", old, Content::empty()).unwrap();
        tree.insert_file(b"new", new, Content::empty()).unwrap();
        let bytes = layer(tree, LayerOptions { mtime_clamp: Some(1000) });
        let mut archive = tar::Archive::new(&bytes[..]);
        let times: Vec<u64> =
            archive.entries().unwrap().map(|e| e.unwrap().header().mtime().unwrap()).collect();
        assert_eq!(times, vec![1000, 100]);
        assert!(!bytes.windows(5).any(|w| w == b"mtime"), "a clamped time needs no PAX");
    }

    /// Records where content marks and entry ends fall in the stream.
    #[derive(Default)]
    struct Marks {
        bytes: Vec<u8>,
        contents: Vec<(usize, u64, Option<ContentId>)>,
        ends: Vec<usize>,
    }

    impl TarSink for Marks {
        fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.bytes.extend_from_slice(bytes);
            Ok(())
        }

        fn begin_content(&mut self, len: u64, id: Option<ContentId>) -> io::Result<()> {
            self.contents.push((self.bytes.len(), len, id));
            Ok(())
        }

        fn end_entry(&mut self) -> io::Result<()> {
            self.ends.push(self.bytes.len());
            Ok(())
        }
    }

    #[test]
    fn content_is_marked_after_every_header_of_a_file_that_has_some() {
        let mut tree = Tree::new(Metadata::directory(0o755));
        tree.insert_file(b"empty", Metadata::file(0o644), Content::empty()).unwrap();
        // A name too long for the ustar header, so a PAX header goes first.
        let long = [b"dir/".to_vec(), vec![b'f'; 120]].concat();
        tree.insert_dir_all(b"dir", Metadata::directory(0o755)).unwrap();
        tree.insert_file(&long, Metadata::file(0o644), Content::from_vec(vec![7; 1000])).unwrap();
        let buffer: SharedBuffer = Arc::new(vec![9u8; 600]);
        let named = Content::named(buffer, [3; 32], 100, 500).unwrap();
        tree.insert_file(b"named", Metadata::file(0o644), named).unwrap();
        let mut sink = Marks::default();
        write_layer(&tree.freeze(), &LayerOptions::default(), &mut sink).unwrap();

        // One mark for each file with content: after the first one's PAX and ustar headers
        // (three blocks), right where its 1000 bytes begin, and before its entry ends.
        assert_eq!(sink.contents.len(), 2, "{:?}", sink.contents);
        let (at, len, id) = sink.contents[0];
        assert_eq!((len, id), (1000, None));
        assert_eq!(&sink.bytes[at..at + 1000], &[7u8; 1000][..]);
        let start = sink.ends.iter().copied().filter(|&end| end <= at).max().unwrap_or(0);
        assert_eq!(at - start, 3 * BLOCK, "PAX header, its records and the ustar header");
        assert!(sink.ends.contains(&(at + 1024)), "the padded content ends the entry");
        // The named file's mark carries its name and offset.
        assert_eq!(sink.contents[1].1, 500);
        assert_eq!(sink.contents[1].2, Some(ContentId { buffer: [3; 32], offset: 100 }));
    }

    #[test]
    fn sub_second_times_travel_in_pax() {
        assert_eq!(pax_time(Timestamp { secs: 5, nanos: 120_000_000 }), b"5.12");
        assert_eq!(pax_time(Timestamp { secs: 5, nanos: 0 }), b"5");
    }

    #[test]
    fn negative_sub_second_times_are_written_as_their_value() {
        // −5.25 s is stored as the floor −6 and 0.75 s.
        assert_eq!(pax_time(Timestamp { secs: -6, nanos: 750_000_000 }), b"-5.25");
        assert_eq!(pax_time(Timestamp { secs: -1, nanos: 500_000_000 }), b"-0.5");
        assert_eq!(pax_time(Timestamp { secs: -2, nanos: 999_999_999 }), b"-1.000000001");
        assert_eq!(pax_time(Timestamp { secs: -3, nanos: 0 }), b"-3");

        // The layer reader gives back the time the tree held.
        for t in [(-6, 750_000_000), (-1, 500_000_000), (-2, 999_999_999), (0, 1)] {
            let time = Timestamp { secs: t.0, nanos: t.1 };
            assert_eq!(crate::tar::read::parse_time(&pax_time(time)), Some(time));
        }
    }
}
