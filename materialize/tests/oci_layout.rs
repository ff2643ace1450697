//! OCI image layouts as skopeo and umoci read them, written atomically.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

// Helpers in a test crate are outside `#[test]`, where clippy.toml already allows unwrap.

mod oci_support;

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use flatroot_materialize::oci::compress::{Compression, LayerEncoder};
use flatroot_materialize::oci::layout::{LayoutError, LayoutWriter};
use oci_support::{have_tool, names_in, run_ok, tiny_layer, write_layout};
use sha2::{Digest, Sha256};

/// Asserts that `bytes` are canonical JSON: compact, and every object's keys in byte order.
///
/// The keys are read off the raw text, since parsing into `serde_json::Value` would sort
/// them and hide the order the bytes have.
fn assert_canonical(bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut objects: Vec<Option<Vec<String>>> = Vec::new();
    let mut expect_key = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                objects.push(Some(Vec::new()));
                expect_key = true;
            }
            '[' => objects.push(None),
            '}' | ']' => {
                if let Some(Some(keys)) = objects.pop() {
                    let mut sorted = keys.clone();
                    sorted.sort();
                    assert_eq!(keys, sorted, "keys out of order in {text}");
                }
            }
            ',' => expect_key = matches!(objects.last(), Some(Some(_))),
            '"' => {
                let mut string = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => string.extend(chars.next()),
                        '"' => break,
                        c => string.push(c),
                    }
                }
                if expect_key {
                    if let Some(Some(keys)) = objects.last_mut() {
                        keys.push(string);
                    }
                    expect_key = false;
                }
            }
            c => assert!(!c.is_whitespace(), "whitespace outside strings in {text}"),
        }
    }
    // And it is JSON at all.
    serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
}

#[test]
fn layout_blobs_are_canonical_and_named_by_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let written = write_layout(&out, &tiny_layer(), Compression::gzip(), "latest");

    let index = fs::read(out.join("index.json")).unwrap();
    assert_eq!(index, written.index.0);
    assert_canonical(&index);
    let text = String::from_utf8(index).unwrap();
    assert!(
        text.starts_with(
            r#"{"annotations":{"org.opencontainers.image.title":"tiny"},"manifests":[{"#
        )
    );
    assert!(
        text.ends_with(
            r#""mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        )
    );

    for entry in fs::read_dir(out.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), entry.file_name().to_string_lossy());
    }
    let image = &written.images[0];
    assert_canonical(&image.config.0);
    assert_canonical(&image.manifest.0);
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.0).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        format!("sha256:{}", hex::encode(Sha256::digest(&image.config.0)))
    );
    assert_eq!(manifest["layers"][0]["digest"], written.layers[0].digest.to_string());
    assert_eq!(
        fs::read_to_string(out.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(names_in(dir.path()), ["image"]);
}

#[test]
fn skopeo_inspects_the_layout() {
    let test = "skopeo_inspects_the_layout";
    if !have_tool(test, "skopeo") {
        return;
    }
    for compression in [Compression::gzip(), Compression::zstd(), Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        let written = write_layout(&out, &tiny_layer(), compression, "v1");

        let reference = format!("oci:{}:v1", out.display());
        let info: serde_json::Value =
            serde_json::from_slice(&run_ok("skopeo", &["inspect", &reference])).unwrap();
        assert_eq!(info["Architecture"], "amd64");
        assert_eq!(info["Os"], "linux");
        assert_eq!(info["Layers"][0], written.layers[0].digest.to_string());
        assert_eq!(info["Env"][0], "PATH=/bin");
        assert_eq!(info["Created"], "2023-11-14T22:13:20Z");

        let raw = run_ok("skopeo", &["inspect", "--raw", &reference]);
        assert_eq!(raw, written.images[0].manifest.0, "{compression:?}");
    }
}

#[test]
fn umoci_unpacks_the_layout() {
    let test = "umoci_unpacks_the_layout";
    if !have_tool(test, "umoci") {
        return;
    }
    for compression in [Compression::gzip(), Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image");
        write_layout(&out, &tiny_layer(), compression, "latest");

        let bundle = dir.path().join("bundle");
        let image = format!("{}:latest", out.display());
        run_ok(
            "umoci",
            &["unpack", "--rootless", "--image", &image, &bundle.display().to_string()],
        );
        let rootfs = bundle.join("rootfs");
        assert_eq!(fs::read_to_string(rootfs.join("etc/hello")).unwrap(), "hello from flatroot\n");
        assert_eq!(fs::read_link(rootfs.join("bin/link")).unwrap(), Path::new("tool"));
        let config: serde_json::Value =
            serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["process"]["args"][0], "/bin/tool", "{compression:?}");
    }
}

#[test]
fn a_non_layout_directory_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docs");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), b"mine").unwrap();

    let error = LayoutWriter::create(&out).unwrap_err();
    assert!(matches!(error, LayoutError::NotALayout { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&out.display().to_string()) && message.contains("oci-layout"),
        "{message}"
    );
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(names_in(dir.path()), ["docs"]);
}

#[test]
fn an_existing_layout_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let first = write_layout(&out, &tiny_layer(), Compression::gzip(), "latest");
    let second = write_layout(&out, &tiny_layer(), Compression::zstd(), "latest");
    assert_ne!(first.index.0, second.index.0);

    assert_eq!(fs::read(out.join("index.json")).unwrap(), second.index.0);
    let old_layer = first.layers[0].digest.digest().to_owned();
    assert!(!out.join("blobs/sha256").join(old_layer).exists(), "old blobs must be gone");
    assert!(out.join("blobs/sha256").join(second.layers[0].digest.digest()).exists());
    assert_eq!(names_in(dir.path()), ["image"], "no temporary or old copy left beside it");
}

#[test]
fn a_failing_layer_leaves_no_output_and_no_temp_dir() {
    /// Yields some tar bytes, then fails like a broken package read.
    struct FailingReader(usize);
    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("package read failed"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'a');
            self.0 -= n;
            Ok(n)
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let layout = LayoutWriter::create(&out)?;
        assert!(layout.temp_dir().is_dir());
        let mut encoder = LayerEncoder::new(layout.blob_writer()?, Compression::gzip(), 2)?;
        io::copy(&mut FailingReader(5 << 20), &mut encoder)?;
        let (blob, _) = encoder.finish()?;
        blob.finish()?;
        layout.finish(b"{}")?;
        Ok(())
    })();

    let error = result.unwrap_err();
    assert!(error.to_string().contains("package read failed"), "{error}");
    assert!(!out.exists());
    assert!(names_in(dir.path()).is_empty(), "left behind: {:?}", names_in(dir.path()));
}

#[test]
fn a_failed_replacement_keeps_the_old_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let first = write_layout(&out, &tiny_layer(), Compression::gzip(), "latest");

    let layout = LayoutWriter::create(&out).unwrap();
    layout.add_blob(b"half").unwrap();
    drop(layout);

    assert_eq!(fs::read(out.join("index.json")).unwrap(), first.index.0);
    assert_eq!(names_in(dir.path()), ["image"]);
}

#[test]
#[should_panic(expected = "keys out of order")]
fn the_canonical_check_catches_unsorted_keys() {
    assert_canonical(br#"{"a":{"z":1,"b":2}}"#);
}

#[test]
#[should_panic(expected = "whitespace outside strings")]
fn the_canonical_check_catches_whitespace() {
    assert_canonical(br#"{"a": 1}"#);
}
