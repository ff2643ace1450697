//! docker-archive files as skopeo reads them, single- and multi-platform.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

// Helpers in a test crate are outside `#[test]`, where clippy.toml already allows unwrap.

mod oci_support;

use std::fs;
use std::io::Write;
use std::path::Path;

use flatroot_materialize::oci::compress::{Compression, LayerDigests};
use flatroot_materialize::oci::docker_archive::{DockerArchiveWriter, repo_tags};
use flatroot_materialize::oci::image::ImageSpec;
use oci_support::{Written, blobs_for, encode_into, have_tool, names_in, run_ok, tiny_layer};

/// Writes an archive with one image per arch, tagged by apko's convention from `name_tag`.
fn write_archive(out: &Path, arches: &[&str], name_tag: Option<&str>) -> (Written, Vec<String>) {
    let mut archive = DockerArchiveWriter::create(out).unwrap();
    let mut layers: Vec<LayerDigests> = Vec::new();
    for arch in arches {
        // A different file per arch, so each image has a layer of its own.
        let mut tar = tar::Builder::new(Vec::new());
        let data = format!("built for {arch}\n");
        let mut header = tar::Header::new_ustar();
        header.set_path("etc/arch").unwrap();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append(&header, data.as_bytes()).unwrap();
        let mut tar = tar.into_inner().unwrap();
        tar.splice(0..0, tiny_layer()[..tiny_layer().len() - 1024].iter().copied());

        let blob = archive.blob_writer().unwrap();
        let (blob, layer) = encode_into(blob, &tar, Compression::gzip(), 2);
        let stored = blob.finish().unwrap();
        assert_eq!(stored.digest, layer.digest);
        layers.push(layer);
    }

    // Tags take the OCI spelling of the arch, as apko's do.
    let oci_arches: Vec<String> =
        arches.iter().map(|a| ImageSpec::for_apk_arch(a).unwrap().arch).collect();
    let oci_arches: Vec<&str> = oci_arches.iter().map(String::as_str).collect();
    let tags = repo_tags(name_tag, &oci_arches);
    let tag_only: Vec<Option<&str>> =
        tags.iter().map(|t| t.rsplit_once(':').map(|(_, tag)| tag)).collect();
    let written = blobs_for(arches, &layers, &tag_only);
    for ((image, layer), tag) in written.images.iter().zip(&layers).zip(&tags) {
        archive.add_image(tag, image, layer).unwrap();
    }
    archive.finish(&written.index.0).unwrap();
    (written, tags)
}

fn inspect(reference: &str) -> serde_json::Value {
    serde_json::from_slice(&run_ok("skopeo", &["inspect", reference])).unwrap()
}

#[test]
fn single_image_archive_reads_back() {
    let test = "single_image_archive_reads_back";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image.tar");
    let (written, tags) = write_archive(&out, &["x86_64"], None);
    assert_eq!(tags, ["flatroot:latest"]);
    assert_eq!(names_in(dir.path()), ["image.tar"]);

    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    let mut manifest = None;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("manifest.json") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            manifest = Some(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
        }
    }
    let manifest = manifest.unwrap();
    assert_eq!(manifest[0]["RepoTags"][0], "flatroot:latest");
    let config_hex = written.images[0].config.1.digest().digest().to_owned();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{config_hex}"));

    if !have_tool(test, "skopeo") {
        return;
    }
    let info = inspect(&format!("docker-archive:{}", out.display()));
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Env"][0], "PATH=/bin");
    // The archive is also an OCI layout in a tar, with the same index.
    let info = inspect(&format!("oci-archive:{}:latest", out.display()));
    assert_eq!(info["Digest"], written.images[0].manifest.1.digest().to_string());
}

#[test]
fn multi_image_archive_is_addressed_by_tag() {
    let test = "multi_image_archive_is_addressed_by_tag";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("multi.tar");
    let (written, tags) = write_archive(&out, &["x86_64", "aarch64"], Some("example/app:1.2"));
    assert_eq!(tags, ["example/app:1.2-amd64", "example/app:1.2-arm64"]);
    if !have_tool(test, "skopeo") {
        return;
    }

    for (tag, arch) in tags.iter().zip(["amd64", "arm64"]) {
        let info = inspect(&format!("docker-archive:{}:{tag}", out.display()));
        assert_eq!(info["Architecture"], arch, "{tag}");
    }

    // Copy the arm64 image out to an OCI layout, and check its layer is the one written.
    let oci = dir.path().join("copied");
    let source = format!("docker-archive:{}:{}", out.display(), tags[1]);
    let destination = format!("oci:{}:copied", oci.display());
    run_ok("skopeo", &["copy", "--quiet", &source, &destination]);
    let info = inspect(&destination);
    assert_eq!(info["Architecture"], "arm64");
    let copied_layer = info["Layers"][0].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blob = fs::read(oci.join("blobs/sha256").join(&copied_layer)).unwrap();
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&blob[..]), &mut tar)
        .unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&tar)),
        written.layers[1].diff_id.digest(),
        "skopeo's copy holds the same uncompressed layer"
    );
}

#[test]
fn a_failed_archive_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image.tar");
    // An earlier build's archive (a tar with a manifest.json: nothing else is replaced).
    let mut previous = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(8);
    previous.append_data(&mut header, "manifest.json", &b"previous"[..]).unwrap();
    let previous = previous.into_inner().unwrap();
    fs::write(&out, &previous).unwrap();
    {
        let mut archive = DockerArchiveWriter::create(&out).unwrap();
        let mut blob = archive.blob_writer().unwrap();
        blob.write_all(&[0u8; 10_000]).unwrap();
        // The build fails here: the writers are dropped unfinished.
    }
    assert_eq!(fs::read(&out).unwrap(), previous);
    assert_eq!(names_in(dir.path()), ["image.tar"]);
}
