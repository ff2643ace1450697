//! Helpers shared by the command-line integration tests: running `flatroot`, reading its
//! images back, and listing trees and unpacked directories in one comparable form.

#![allow(dead_code, reason = "each test binary uses a different part of the support module")]

pub mod mount;
pub mod registry;
pub mod remote;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flatroot_materialize::image::{self, ImageView};
use flatroot_vfs::{FrozenTree, NodeKind};
use sha2::{Digest as _, Sha256};

/// A signed package `big` of the hostile fixtures' version and arch, holding `data/NAME`
/// with `content`: what the crash tests build, large enough to kill a build mid-way.
pub fn big_package(name: &str, content: Vec<u8>) -> flatroot_benches::fixture::apk::BuiltPackage {
    use flatroot_benches::fixture::apk::{Entry, PackageBuilder};
    use flatroot_benches::fixture::{hostile, keys::SigningKey};
    let key = SigningKey::test_key().unwrap();
    PackageBuilder::new("big", hostile::VERSION, hostile::ARCH)
        .builddate(hostile::BUILDDATE)
        .entry(Entry::dir("data"))
        .entry(Entry::file(format!("data/{name}"), content))
        .sign_with(&key)
        .build()
        .unwrap()
}

/// A local repository under `dir` signed by the test key, whose index describes each
/// package's first element and holds its second as the package file, and the path of a
/// blueprint installing `world` from it: a repository that lies about its packages.
pub fn lying_repository(
    dir: &Path,
    packages: &[(flatroot_benches::fixture::apk::BuiltPackage, Vec<u8>)],
    world: &str,
) -> PathBuf {
    use flatroot_benches::fixture::index::IndexBuilder;
    use flatroot_benches::fixture::keys::{Signature, SigningKey};
    let key = SigningKey::test_key().unwrap();
    let arch_dir = dir.join("repo/x86_64");
    std::fs::create_dir_all(&arch_dir).unwrap();
    let mut index = IndexBuilder::new("lies");
    for (described, file) in packages {
        std::fs::write(arch_dir.join(described.file_name()), file).unwrap();
        index = index.package(described);
    }
    let index = index.signature(Signature::sha1(&key)).build().unwrap();
    std::fs::write(arch_dir.join("APKINDEX.tar.gz"), index).unwrap();

    let blueprint = dir.join("lies.yaml");
    let yaml = format!(
        concat!(
            "contents:\n  repositories: [{}]\n  keyring: [{}]\n  packages: [{}]\n",
            "archs: [x86_64]\n",
        ),
        dir.join("repo").display(),
        root().join("testdata/keys/flatroot-test.rsa.pub").display(),
        world,
    );
    std::fs::write(&blueprint, yaml).unwrap();
    blueprint
}

/// The package `builder` makes, signed by the test key.
pub fn signed(
    builder: flatroot_benches::fixture::apk::PackageBuilder,
) -> flatroot_benches::fixture::apk::BuiltPackage {
    let key = flatroot_benches::fixture::keys::SigningKey::test_key().unwrap();
    builder.sign_with(&key).build().unwrap()
}

/// The error a build and a lock give for [`impostor_repository`]'s package, but for the path
/// of its file.
pub const IMPOSTOR_ERROR: &str = "package victim-1.0-r0: .PKGINFO says pkgname \"impostor\" \
                                  and pkgver \"2.0-r0\", the index says P:victim and V:1.0-r0";

/// A [`lying_repository`] under `dir` whose index describes the file of package `impostor`
/// 2.0-r0 (checksum, size and all) as `victim` 1.0-r0, and the blueprint installing
/// `victim` from it.
pub fn impostor_repository(dir: &Path) -> PathBuf {
    let impostor =
        signed(flatroot_benches::fixture::apk::PackageBuilder::new("impostor", "2.0-r0", "x86_64"));
    let mut described = impostor.clone();
    described.info.name = "victim".into();
    described.info.version = "1.0-r0".into();
    lying_repository(dir, &[(described, impostor.bytes.clone())], "victim")
}

/// The repository root (tests run with the crate directory as working directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `flatroot` command with a clean, fixed environment, run from the repository root.
///
/// Its default cache is one directory under Cargo's temporary directory, shared by every
/// test (as a user's cache is shared by their builds), never the user's own.
pub fn flatroot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flatroot"));
    command
        .current_dir(root())
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("FLATROOT_LOG")
        .env("XDG_CACHE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-cache"));
    command
}

/// Runs a command and returns its output, with stderr shown on failure to start.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("flatroot starts")
}

/// The text of stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns the trimmed stdout.
pub fn success(output: &Output) -> String {
    assert!(output.status.success(), "flatroot failed: {}\n{}", output.status, stderr(output));
    stdout(output).trim().to_string()
}

/// Asserts that `text` names `file` at a line and column followed by `: {rest}`, and that
/// the file holds `written` there; returns the line and column.
pub fn assert_placed(text: &str, file: &Path, rest: &str, written: &str) -> (usize, usize) {
    let prefix = format!("{}:", file.display());
    let found = text.match_indices(&prefix).find_map(|(at, _)| {
        let after = &text[at + prefix.len()..];
        let (line, after) = after.split_once(':')?;
        let (column, after) = after.split_once(": ")?;
        let place = (line.parse::<usize>().ok()?, column.parse::<usize>().ok()?);
        after.starts_with(rest).then_some(place)
    });
    let Some((line, column)) = found else {
        panic!("expected {prefix}LINE:COLUMN: {rest} in:\n{text}");
    };
    let source = std::fs::read_to_string(file).unwrap();
    let shown = source.lines().nth(line - 1).unwrap_or_default();
    let from = shown.char_indices().nth(column - 1).map(|(at, _)| at).unwrap_or(shown.len());
    assert!(
        shown[from..].starts_with(written),
        "{file:?}:{line}:{column} is {shown:?}, not {written:?}"
    );
    (line, column)
}

/// Builds `blueprint` (relative to the repository root) into `out` with extra arguments,
/// returning the printed digest.
pub fn build(blueprint: &str, out: &Path, extra: &[&str]) -> String {
    let output = run(flatroot().arg("build").arg(blueprint).arg(out).args(extra));
    success(&output)
}

/// Runs `flatroot diff ARGS --format json`; returns the exit code and the report.
pub fn diff_json(args: &[&str]) -> (i32, serde_json::Value) {
    let output = run(flatroot().arg("diff").args(args).args(["--format", "json"]));
    let code = output.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&output)));
    assert_eq!(report["equal"], code == 0, "exit status and `equal` agree");
    (code, report)
}

/// Every image in a layout, docker-archive or layer.
pub fn images(path: &Path) -> Vec<ImageView> {
    image::open(path).unwrap_or_else(|e| panic!("cannot read {}: {e:#?}", path.display()))
}

/// One line per entry: path, type, mode, uid, gid, size, link target, content sha256,
/// mtime seconds. Hardlinks appear as files with their content, as an unpacked tree shows
/// them.
pub type Listing = BTreeMap<String, Vec<String>>;

/// Lists a frozen tree.
pub fn list_tree(tree: &FrozenTree) -> Listing {
    let mut out = Listing::new();
    for entry in tree.walk() {
        let node = tree.node(entry.node);
        let path = format!("/{}", String::from_utf8_lossy(&entry.path));
        let (kind, size, link, sha) = match &node.kind {
            NodeKind::Directory(_) => ("dir", String::new(), String::new(), String::new()),
            NodeKind::File(content) => (
                "file",
                content.len().to_string(),
                String::new(),
                hex::encode(Sha256::digest(content.bytes())),
            ),
            NodeKind::Symlink(target) => (
                "symlink",
                String::new(),
                String::from_utf8_lossy(target).into_owned(),
                String::new(),
            ),
            NodeKind::CharDevice { major, minor } => {
                ("char", String::new(), format!("{major},{minor}"), String::new())
            }
            NodeKind::BlockDevice { major, minor } => {
                ("block", String::new(), format!("{major},{minor}"), String::new())
            }
            NodeKind::Fifo => ("fifo", String::new(), String::new(), String::new()),
        };
        let fields = vec![
            kind.to_string(),
            format!("{:04o}", node.meta.mode),
            node.meta.uid.to_string(),
            node.meta.gid.to_string(),
            size,
            link,
            sha,
            node.meta.mtime.secs.to_string(),
        ];
        out.insert(path, fields);
    }
    out
}

/// Lists an unpacked directory the same way (with `lstat`, never following symlinks).
pub fn list_dir(dir: &Path) -> Listing {
    let mut out = Listing::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(dir).unwrap();
        let name = format!("/{}", rel.to_string_lossy());
        let name = if name == "/" { name } else { name.trim_end_matches('/').to_string() };
        let ft = meta.file_type();
        use std::os::unix::fs::FileTypeExt as _;
        let (kind, size, link, sha) = if ft.is_dir() {
            let mut children: Vec<PathBuf> =
                std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
            children.sort();
            pending.extend(children);
            ("dir", String::new(), String::new(), String::new())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            ("symlink", String::new(), target.to_string_lossy().into_owned(), String::new())
        } else if ft.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            ("file", bytes.len().to_string(), String::new(), hex::encode(Sha256::digest(&bytes)))
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = meta.rdev();
            let (major, minor) = (libc_major(rdev), libc_minor(rdev));
            let kind = if ft.is_char_device() { "char" } else { "block" };
            (kind, String::new(), format!("{major},{minor}"), String::new())
        } else {
            ("fifo", String::new(), String::new(), String::new())
        };
        let fields = vec![
            kind.to_string(),
            format!("{:04o}", meta.permissions().mode() & 0o7777),
            meta.uid().to_string(),
            meta.gid().to_string(),
            size,
            link,
            sha,
            meta.mtime().to_string(),
        ];
        out.insert(name, fields);
    }
    out
}

fn libc_major(rdev: u64) -> u64 {
    ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0fff)
}

fn libc_minor(rdev: u64) -> u64 {
    ((rdev >> 12) & 0xffff_ff00) | (rdev & 0x00ff)
}

/// The differences between two listings, one line each, for assertion messages.
pub fn differences(expected: &Listing, actual: &Listing, ignore: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push(format!("missing {path}")),
            Some(have) => {
                for (i, (w, h)) in want.iter().zip(have).enumerate() {
                    if w != h && !ignore.contains(&i) {
                        out.push(format!("{path}: field {i}: expected {w:?}, found {h:?}"));
                    }
                }
            }
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push(format!("unexpected {path}"));
        }
    }
    out
}

/// Field index of the mtime in a listing line.
pub const MTIME: usize = 7;

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// `count` bytes that deflate shrinks by about half but not to nothing: sixteen letters at
/// random (xorshift from `seed`), so that inflating and compressing them take real time.
pub fn text_noise(count: usize, seed: u64) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state & 15) as u8
        })
        .collect()
}

/// Copies the single-image OCI layout `from` to `to` with one more layer on top, an
/// uncompressed tar of `layer`'s bytes, listed in the manifest and in the config's
/// `rootfs.diff_ids` as an image tool that adds a layer lists it; the indexes above the
/// manifest are rewritten to name the new one.
pub fn layout_with_layer(from: &Path, to: &Path, layer: &[u8]) {
    let blobs = to.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for entry in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), blobs.join(entry.file_name())).unwrap();
    }
    std::fs::copy(from.join("oci-layout"), to.join("oci-layout")).unwrap();
    std::fs::copy(from.join("index.json"), to.join("index.json")).unwrap();
    let layer_digest = format!("sha256:{}", hex::encode(Sha256::digest(layer)));
    std::fs::write(blobs.join(&layer_digest["sha256:".len()..]), layer).unwrap();
    edit_image(
        to,
        |manifest, config| {
            config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(layer_digest.clone().into());
            manifest["layers"].as_array_mut().unwrap().push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }));
        },
        |_| {},
    );
}

/// Builds `blueprint` for x86_64 into `DIR/plain`, the same with an extra layer holding
/// `etc/extra` into `DIR/extra`, and gathers both into `DIR/both`, named `one` and `two`
/// (see [`layout_of_named`]); returns the three layouts.
pub fn two_named_images(dir: &Path, blueprint: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (plain, extra, both) = (dir.join("plain"), dir.join("extra"), dir.join("both"));
    build(blueprint, &plain, &["--arch", "x86_64"]);
    layout_with_layer(&plain, &extra, &layer_of_files(&["etc/extra"]));
    layout_of_named(&both, &[("one", &plain), ("two", &extra)]);
    (plain, extra, both)
}

/// Writes at `to` one layout holding the image of each layout of `images` under its name
/// (`org.opencontainers.image.ref.name`), as `skopeo copy … oci:TO:NAME` would gather them.
pub fn layout_of_named(to: &Path, images: &[(&str, &Path)]) {
    let blobs = to.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut manifests = Vec::new();
    for (name, from) in images {
        for entry in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), blobs.join(entry.file_name())).unwrap();
        }
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(from.join("index.json")).unwrap()).unwrap();
        let mut descriptor = index["manifests"][0].clone();
        descriptor["annotations"] =
            serde_json::json!({ "org.opencontainers.image.ref.name": name });
        manifests.push(descriptor);
        std::fs::copy(from.join("oci-layout"), to.join("oci-layout")).unwrap();
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": manifests });
    std::fs::write(to.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Makes the one image of the layout at `layout` claim another platform: its config's
/// `architecture` and `variant`, and the platform of the descriptors leading to it.
pub fn relabel_platform(layout: &Path, architecture: &str, variant: Option<&str>) {
    let platform =
        serde_json::json!({ "os": "linux", "architecture": architecture, "variant": variant });
    edit_image(
        layout,
        |_, config| {
            config["architecture"] = architecture.into();
            config["variant"] = variant.into();
        },
        |descriptor| {
            if descriptor.get("platform").is_some() {
                descriptor["platform"] = platform.clone();
            }
        },
    );
}

/// Changes the manifest and config of the one image of the layout at `layout` with
/// `edit`, and each descriptor on the way to it with `descriptor`, writing every changed
/// document anew and naming it in the one above.
pub fn edit_image(
    layout: &Path,
    mut edit: impl FnMut(&mut serde_json::Value, &mut serde_json::Value),
    mut descriptor: impl FnMut(&mut serde_json::Value),
) {
    let blobs = layout.join("blobs/sha256");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    edit_below(&mut index, &blobs, &mut edit, &mut descriptor);
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

fn edit_below(
    index: &mut serde_json::Value,
    blobs: &Path,
    edit: &mut impl FnMut(&mut serde_json::Value, &mut serde_json::Value),
    descriptor: &mut impl FnMut(&mut serde_json::Value),
) {
    let put = |value: &serde_json::Value| -> (String, usize) {
        let bytes = serde_json::to_vec(value).unwrap();
        let hex = hex::encode(Sha256::digest(&bytes));
        std::fs::write(blobs.join(&hex), &bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let get = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&std::fs::read(blobs.join(hex)).unwrap()).unwrap()
    };
    let descriptors = index["manifests"].as_array_mut().unwrap();
    assert_eq!(descriptors.len(), 1, "a layout of one image");
    let mut document = get(descriptors[0]["digest"].as_str().unwrap());
    if document.get("manifests").is_some() {
        edit_below(&mut document, blobs, edit, descriptor);
    } else {
        let mut config = get(document["config"]["digest"].as_str().unwrap());
        edit(&mut document, &mut config);
        let (digest, size) = put(&config);
        document["config"]["digest"] = digest.into();
        document["config"]["size"] = size.into();
    }
    let (digest, size) = put(&document);
    descriptors[0]["digest"] = digest.into();
    descriptors[0]["size"] = size.into();
    descriptor(&mut descriptors[0]);
}

/// A layer tar of regular files, each holding its own name, and nothing else: no entry for
/// a directory, which a reader makes as it places the files.
pub fn layer_of_files(names: &[&str]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for name in names {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(name.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        builder.append_data(&mut header, name, name.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The paths of a tree, `/`-rooted, in walk order.
pub fn tree_paths(tree: &FrozenTree) -> Vec<String> {
    tree.walk().map(|e| format!("/{}", String::from_utf8_lossy(&e.path))).collect()
}

/// A gzip (level 6) layer holding one file of `size` zeros, `zeros`: a layer that inflates
/// past the default inflate ratio once `size` is 64 MiB.
pub fn zeros_layer(path: &Path, size: usize) {
    use std::io::Read as _;
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    builder.append_data(&mut header, "zeros", std::io::repeat(0).take(size as u64)).unwrap();
    let tar = builder.into_inner().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::new(6),
    );
    std::io::Write::write_all(&mut encoder, &tar).unwrap();
    encoder.finish().unwrap();
}
