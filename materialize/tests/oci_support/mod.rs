//! Helpers shared by the `oci_*` integration tests: finding tools and data, a tiny layer,
//! and writing a whole image the way the build will.
// `allow`, not `expect`: each test binary uses a different part of this module, and test
// helpers may unwrap and print (SKIP lines) as the tests themselves do.
#![allow(dead_code, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flatroot_materialize::oci::compress::{Compression, LayerDigests, LayerEncoder};
use flatroot_materialize::oci::image::{ImageBlobs, ImageSpec, image_blobs, index_blob};
use flatroot_materialize::oci::layout::LayoutWriter;

/// Whether the system (a tool, the realworld data) is required rather than optional.
fn required() -> bool {
    std::env::var("FLATROOT_REQUIRE_SYSTEM").as_deref() == Ok("1")
}

/// Reports a missing prerequisite: panics under `FLATROOT_REQUIRE_SYSTEM=1`, else prints
/// `SKIP` and returns false.
pub fn present(test: &str, what: &str, is_present: bool) -> bool {
    if !is_present {
        if required() {
            panic!("{test}: missing {what}");
        }
        eprintln!("SKIP {test}: missing {what}");
    }
    is_present
}

/// Whether `tool` runs at all.
pub fn have_tool(test: &str, tool: &str) -> bool {
    let runs = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    present(test, &format!("the {tool} tool"), runs)
}

/// The realworld corpus, if present.
pub fn realworld_file(test: &str, rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("FLATROOT_REALWORLD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld")
    });
    let path = dir.join(rel);
    present(test, &format!("{rel} under FLATROOT_REALWORLD"), path.is_file()).then_some(path)
}

/// Runs a command with `stdin` fed to it, returning its output; panics if it cannot start.
pub fn run(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // A tool that exits early closes the pipe; its status tells the story.
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

/// Runs a command and asserts it succeeded, returning its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> Vec<u8> {
    let output = run(program, args, b"");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Splits a tar archive into its entries (header through padding), the trailer last.
pub fn tar_entries(tar: &[u8]) -> Vec<&[u8]> {
    let mut archive = tar::Archive::new(tar);
    let mut starts: Vec<usize> =
        archive.entries().unwrap().map(|e| e.unwrap().raw_header_position() as usize).collect();
    // The reader reports the real header's position, so a PAX or GNU long-name header ends
    // up with the entry before it: a boundary a little early, which is still a valid cut.
    starts.dedup();
    let mut entries = Vec::new();
    for pair in starts.windows(2) {
        entries.push(&tar[pair[0]..pair[1]]);
    }
    if let Some(&last) = starts.last() {
        let mut end = last;
        let mut archive = tar::Archive::new(&tar[last..]);
        if let Some(entry) = archive.entries().unwrap().next() {
            let entry = entry.unwrap();
            end = last
                + entry.raw_file_position() as usize
                + (entry.size() as usize).div_ceil(512) * 512;
        }
        entries.push(&tar[last..end]);
        entries.push(&tar[end..]);
    }
    entries
}

/// A tiny layer: a directory, a file, an executable and a symlink, as a tar.
pub fn tiny_layer() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).unwrap();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    };
    add("etc/", tar::EntryType::Directory, 0o755, b"", None);
    add("etc/hello", tar::EntryType::Regular, 0o644, b"hello from flatroot\n", None);
    add("bin/", tar::EntryType::Directory, 0o755, b"", None);
    add("bin/tool", tar::EntryType::Regular, 0o755, b"#!/bin/sh\necho tool\n", None);
    add("bin/link", tar::EntryType::Symlink, 0o777, b"", Some("tool"));
    builder.into_inner().unwrap()
}

/// Compresses `tar` entry by entry into `out`.
pub fn encode_into<W: Write>(
    out: W,
    tar: &[u8],
    compression: Compression,
    jobs: usize,
) -> (W, LayerDigests) {
    let mut encoder = LayerEncoder::new(out, compression, jobs).unwrap();
    for entry in tar_entries(tar) {
        encoder.entry(entry).unwrap();
    }
    encoder.finish().unwrap()
}

/// One written image: what a test checks against.
pub struct Written {
    pub images: Vec<ImageBlobs>,
    pub layers: Vec<LayerDigests>,
    pub index: (Vec<u8>, oci_spec::image::Descriptor),
}

/// Builds the config, manifest and index for one layer per arch.
pub fn blobs_for(arches: &[&str], layers: &[LayerDigests], tags: &[Option<&str>]) -> Written {
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for ((arch, layer), tag) in arches.iter().zip(layers).zip(tags) {
        let mut spec = ImageSpec::for_apk_arch(arch).unwrap();
        spec.cmd = vec!["/bin/tool".into()];
        spec.env = [("PATH".to_owned(), "/bin".to_owned())].into();
        spec.created = Some(1_700_000_000);
        let image = image_blobs(&spec, layer, &BTreeMap::new()).unwrap();
        entries.push(image.index_entry(*tag));
        images.push(image);
    }
    let annotations = [("org.opencontainers.image.title".to_owned(), "tiny".to_owned())].into();
    let index = index_blob(&entries, &annotations).unwrap();
    Written { images, layers: layers.to_vec(), index }
}

/// Writes a single-arch layout of `tar` at `out`, tagged `tag`.
pub fn write_layout(out: &Path, tar: &[u8], compression: Compression, tag: &str) -> Written {
    let layout = LayoutWriter::create(out).unwrap();
    let blob = layout.blob_writer().unwrap();
    let (blob, layer) = encode_into(blob, tar, compression, 2);
    let stored = blob.finish().unwrap();
    assert_eq!(stored.digest, layer.digest);

    let written = blobs_for(&["x86_64"], &[layer], &[Some(tag)]);
    for image in &written.images {
        layout.add_image(image).unwrap();
    }
    layout.finish(&written.index.0).unwrap();
    written
}

/// The names in a directory, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
