//! Where the files of an image read back with `image::open` keep their bytes: every file of
//! a layer points into one buffer, never into a copy of its own. A gzip or zstd layer is
//! inflated once into a buffer of the layer's size; an uncompressed layer, bare or inside an
//! archive, is read in place from a memory map of the file.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use std::io::Write as _;
use std::path::Path;

use flatroot_materialize::image;
use flatroot_vfs::tar::{LayerOptions, WriteSink, write_layer};
use flatroot_vfs::{Content, FrozenTree, Metadata, NodeKind, Tree};

/// A tree of a few hundred files of varied sizes, as an uncompressed layer tar.
fn layer_tar() -> Vec<u8> {
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_dir_all(b"usr/lib", Metadata::directory(0o755)).unwrap();
    for i in 0..300usize {
        let bytes: Vec<u8> = (0..(i * 131) % 9000).map(|j| (i * 31 + j * 7) as u8).collect();
        let path = format!("usr/lib/f{i:03}");
        tree.insert_file(path.as_bytes(), Metadata::file(0o644), Content::from_vec(bytes)).unwrap();
    }
    let mut out = Vec::new();
    write_layer(&tree.freeze(), &LayerOptions::default(), &mut WriteSink(&mut out)).unwrap();
    out
}

/// The address range that all non-empty file contents of `tree` span, and the sum of their
/// lengths.
fn span(tree: &FrozenTree) -> (usize, usize, usize) {
    let (mut low, mut high, mut total) = (usize::MAX, 0, 0);
    for entry in tree.walk() {
        if let NodeKind::File(content) = &tree.node(entry.node).kind
            && !content.is_empty()
        {
            let start = content.bytes().as_ptr() as usize;
            low = low.min(start);
            high = high.max(start + content.len());
            total += content.len();
        }
    }
    (low, high, total)
}

/// The file mapped at `address` in this process, from `/proc/self/maps`: `None` for
/// anonymous memory (the heap included).
fn mapped_file(address: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps.lines().find(|line| {
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        start <= address && address < end
    })?;
    line.split_whitespace().nth(5).filter(|path| path.starts_with('/')).map(str::to_string)
}

fn only_tree(path: &Path) -> FrozenTree {
    let mut views = image::open(path).unwrap();
    assert_eq!(views.len(), 1);
    views.remove(0).tree().unwrap()
}

#[test]
fn a_compressed_layer_is_inflated_once_into_one_buffer_its_files_point_into() {
    let tar = layer_tar();
    let dir = tempfile::tempdir().unwrap();
    let gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(&tar).unwrap();
        encoder.finish().unwrap()
    };
    // Several frames, as flatroot writes zstd layers: the first frame's size is only a start.
    let zstd: Vec<u8> =
        tar.chunks(64 << 10).flat_map(|part| zstd::encode_all(part, 3).unwrap()).collect();
    for (name, bytes) in [("layer.tar.gz", gzip), ("layer.tar.zst", zstd)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let tree = only_tree(&path);
        let (low, high, total) = span(&tree);
        assert!(total > 1 << 20, "{name}: the fixture has content");
        // Inside one buffer no larger than the tar itself: no file has a copy of its own.
        assert!(high - low <= tar.len(), "{name}: contents span {} bytes", high - low);
        assert_eq!(mapped_file(low), None, "{name}: inflated into memory, not a file map");
    }
}

#[test]
fn an_uncompressed_layer_is_read_in_place_from_a_map_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, layer_tar()).unwrap();
    let tree = only_tree(&path);
    let (low, high, _) = span(&tree);
    let file = std::fs::canonicalize(&path).unwrap().display().to_string();
    assert_eq!(mapped_file(low).as_deref(), Some(file.as_str()));
    assert_eq!(mapped_file(high - 1).as_deref(), Some(file.as_str()));
}

/// A `docker save` archive of one image whose layer member is `layer`.
fn docker_archive(path: &Path, layer: &[u8]) {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let manifest = br#"[{"Config":"config.json","RepoTags":[],"Layers":["layer/layer.tar"]}]"#;
    let mut archive = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in
        [("config.json", &config[..]), ("layer/layer.tar", layer), ("manifest.json", manifest)]
    {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        archive.append_data(&mut header, name, bytes).unwrap();
    }
    archive.into_inner().unwrap().flush().unwrap();
}

#[test]
fn a_docker_archive_member_is_a_range_of_the_archive_map_not_a_copy() {
    let tar = layer_tar();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    docker_archive(&path, &tar);
    let tree = only_tree(&path);
    let (low, high, _) = span(&tree);
    let file = std::fs::canonicalize(&path).unwrap().display().to_string();
    assert_eq!(mapped_file(low).as_deref(), Some(file.as_str()));
    assert_eq!(mapped_file(high - 1).as_deref(), Some(file.as_str()));

    // A gzip member is inflated into a buffer of its own, as a bare gzip layer is.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    encoder.write_all(&tar).unwrap();
    docker_archive(&path, &encoder.finish().unwrap());
    let tree = only_tree(&path);
    let (low, high, _) = span(&tree);
    assert!(high - low <= tar.len());
    assert_eq!(mapped_file(low), None);
    assert_eq!(image::open(&path).unwrap()[0].arch, "amd64", "the config is read from its member");
}
