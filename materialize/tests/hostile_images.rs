//! Hostile images given to `image::open`: layers with traversal names, a bomb, corrupt and
//! truncated gzip, documents that are not the size their descriptors say. Each gives its
//! exact error; reading never writes anything.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

use flatroot_benches::fixture::gzip;
use flatroot_benches::fixture::hostile::{self, TarCase};
use flatroot_materialize::image;

fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(" / ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Writes `bytes` as a bare layer in a fresh directory and opens it; the directory must
/// hold nothing else afterwards.
fn open_layer(bytes: &[u8]) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar.gz");
    std::fs::write(&path, bytes).unwrap();
    let result = image::open(&path).and_then(|views| views[0].tree()).map(|tree| {
        tree.walk()
            .map(|e| {
                let name = String::from_utf8_lossy(&e.path);
                format!("/{name} {}", tree.node(e.node).kind_name())
            })
            .collect()
    });
    let listing: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listing, ["layer.tar.gz"], "reading wrote files");
    result.map_err(|e| {
        let shown = chain(&e).replace(&path.display().to_string(), "LAYER");
        // The digest of the layer is no part of what a case pins.
        match shown.find("sha256:") {
            Some(at) => format!("{}sha256:…{}", &shown[..at], &shown[at + 71..]),
            None => shown,
        }
    })
}

/// What each hostile tar gives as a bare gzip layer. The layer reader follows container
/// runtimes where they differ from apk: a leading `/` is the image root, and later entries
/// replace earlier ones of another type; an entry that names the root alone is refused
/// unless it is a directory, as umoci refuses it.
fn expected(case: TarCase) -> Result<Vec<&'static str>, String> {
    let err = |tail: &str| Err(format!("LAYER: layer sha256:… / {tail}"));
    let tree = |entries: &[&'static str]| Ok(entries.to_vec());
    match case {
        TarCase::DotDot => {
            err("layer entry \"../x\" cannot be placed in the tree / path \"../x\" has a '..' \
             component")
        }
        TarCase::InnerDotDot => {
            err("layer entry \"a/../../x\" cannot be placed in the tree / path \"a/../../x\" has \
             a '..' component")
        }
        TarCase::Absolute => tree(&["/ directory", "/etc directory", "/etc/x file"]),
        TarCase::SymlinkToRoot => {
            tree(&["/ directory", "/escape symlink", "/etc directory", "/etc/x file"])
        }
        TarCase::SymlinkUp => {
            err("layer entry \"up/x\" cannot be placed in the tree / \"up\": a symlink on the way \
             climbs above the root")
        }
        TarCase::HardlinkOutside => {
            err("layer entry \"h\" is a hardlink to \"../../etc/passwd\", which has a '..' \
             component")
        }
        TarCase::HardlinkAbsolute => {
            err("layer entry \"h\" is a hardlink to \"/etc/passwd\", which is not an earlier \
             entry")
        }
        TarCase::DirectoryThroughSymlink => {
            err("layer entry \"d/sub\" cannot be placed in the tree / \"d\": a symlink on the way \
             climbs above the root")
        }
        TarCase::NameSlash => err(ROOT_FILE_SLASH),
        TarCase::NameDoubleSlash => err(ROOT_FILE_DOUBLE_SLASH),
        TarCase::NameDot => err(ROOT_FILE_DOT),
        TarCase::NameDotSlash => tree(&["/ directory", "/f file"]),
        TarCase::DuplicateTypes => tree(&["/ directory", "/a directory"]),
        TarCase::HardlinkMissing => {
            err("layer entry \"h\" is a hardlink to \"nowhere\", which is not an earlier entry")
        }
        TarCase::HardlinkToSpecial => {
            tree(&["/ directory", "/null char", "/null2 char", "/s symlink", "/s2 symlink"])
        }
        TarCase::SymlinkEmpty => err("layer entry \"empty\" is a symlink with an empty target"),
        TarCase::WhiteoutOfDot => {
            err("layer entry \"d/.wh..\" is a whiteout that names no entry (empty, . or ..)")
        }
        TarCase::HardlinkToDirectory => {
            err("layer entry \"h\" is a hardlink to \"d\", which is a directory")
        }
        TarCase::SymlinkCycle => {
            err("layer entry \"a/x\" cannot be placed in the tree / \"a\": too many levels of \
             symbolic links")
        }
        TarCase::SizeBeyondData => err(
            "layer tar is malformed near byte 0 / content range 512+4096 lies outside a buffer \
             of 522 bytes",
        ),
        TarCase::NegativeSize => err("layer tar is malformed near byte 0 / size overflow"),
        TarCase::OverflowingSize => {
            err("layer tar is malformed near byte 0 / size field overflows 64 bits")
        }
        TarCase::NonOctalSize => {
            err("layer tar is malformed near byte 0 / numeric field was not a number: \
             0000000012x4 when getting size for nonoctal")
        }
        TarCase::NonOctalMode => {
            err("layer tar is malformed near byte 0 / numeric field was not a number: rwxr-xr- \
             when getting mode for mode")
        }
        TarCase::PaxBadLength | TarCase::PaxMissingNewline | TarCase::PaxHugeLength => {
            err("layer tar is malformed near byte 1024 / malformed pax extension")
        }
        TarCase::PaxHugeSize => {
            err("layer tar is malformed near byte 1024 / pax size record is not a number")
        }
        // Pinned in the test itself: their names do not fit a literal.
        TarCase::GnuLongName | TarCase::NonUtf8Names => Err(String::new()),
        TarCase::GnuSparse => {
            err("layer tar is malformed near byte 0 / sparse entry type listed but not GNU header")
        }
        TarCase::Devices => tree(&[
            "/ directory",
            "/dev directory",
            "/dev/fifo fifo",
            "/dev/null char",
            "/dev/sda block",
        ]),
        TarCase::NulInName => {
            err("layer entry \"a\\x00b\" cannot be placed in the tree / name \"a\\x00b\" contains \
             a NUL byte")
        }
        TarCase::BadChecksum => {
            err("layer tar is malformed near byte 0 / archive header checksum mismatch")
        }
    }
}

/// What a regular file named `/`, `//` or `.` gives: no layer changes the root's type.
const ROOT_FILE_SLASH: &str = "layer entry \"/\" is a regular file naming the root directory, \
     and a layer cannot change the root's type";
const ROOT_FILE_DOUBLE_SLASH: &str = "layer entry \"//\" is a regular file naming the root \
     directory, and a layer cannot change the root's type";
const ROOT_FILE_DOT: &str = "layer entry \".\" is a regular file naming the root directory, \
     and a layer cannot change the root's type";

#[test]
fn every_hostile_tar_as_a_layer_gives_its_exact_outcome() {
    let mut wrong = Vec::new();
    for case in TarCase::ALL {
        let layer = gzip::member(&case.data_tar(), 6).unwrap();
        let got = open_layer(&layer);
        let want = match case {
            // Names that do not fit a literal: a 300-byte name and non-UTF-8 bytes.
            TarCase::GnuLongName => Ok(vec![
                "/ directory".into(),
                "/d directory".into(),
                format!("/d/{} file", "n".repeat(200)),
            ]),
            TarCase::NonUtf8Names => Ok(vec![
                "/ directory".into(),
                format!("/{} file", String::from_utf8_lossy(b"caf\xe9")),
                format!("/{} symlink", String::from_utf8_lossy(b"l\xff\xfe")),
            ]),
            _ => expected(case).map(|v| v.into_iter().map(String::from).collect()),
        };
        if got != want {
            wrong.push(format!("{case:?}:\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_layer_bomb_stops_at_the_inflate_ratio() {
    let bomb = hostile::zero_bomb(64 << 20).unwrap();
    let err = open_layer(&bomb).unwrap_err();
    // The message names the layer once and the flag that raises the limit.
    assert_eq!(
        err,
        format!(
            "LAYER: the layer inflates past {} bytes, the inflate ratio limit (raise it with \
             --max-inflate-ratio)",
            bomb.len() as u64 * 1000
        ),
    );
}

#[test]
fn a_raised_inflate_ratio_lets_the_bomb_through_and_a_lowered_one_stops_less() {
    use flatroot_materialize::apk::datatar::Limits;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar.gz");
    let tar = hostile::archive(&[hostile::file(b"zeros", &vec![0u8; 64 << 20])]);
    std::fs::write(&path, gzip::member(&tar, 6).unwrap()).unwrap();
    let raised = Limits { max_inflate_ratio: 100_000, ..Limits::default() };
    let views = image::open_with(&path, &raised).unwrap();
    assert_eq!(views[0].tree().unwrap().walk().count(), 2, "the root and the file");
    assert!(image::open(&path).is_err(), "the default stops it");
    let small = hostile::archive(&[hostile::file(b"f", &text(4 << 20))]);
    std::fs::write(&path, gzip::member(&small, 6).unwrap()).unwrap();
    assert!(image::open(&path).is_ok());
    let lowered = Limits { max_inflate_ratio: 1, ..Limits::default() };
    let Err(err) = image::open_with(&path, &lowered) else { panic!("a ratio of 1 stops it") };
    let err = err.to_string();
    assert!(err.ends_with("(raise it with --max-inflate-ratio)"), "{err}");
}

/// `len` bytes of text that deflate shrinks but not past a ratio of 2.
fn text(len: usize) -> Vec<u8> {
    let mut state: u32 = 7;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b'a' + ((state >> 16) % 26) as u8
        })
        .collect()
}

#[test]
fn corrupt_and_truncated_gzip_layers_are_errors() {
    let layer = gzip::member(&hostile::archive(&[hostile::file(b"f", &[1u8; 9000])]), 6).unwrap();
    let mut corrupt = layer.clone();
    corrupt[20] ^= 0xff;
    let err = open_layer(&corrupt).unwrap_err();
    assert_eq!(err, "LAYER: the layer cannot be decompressed / corrupt deflate stream");
    let err = open_layer(&layer[..layer.len() / 2]).unwrap_err();
    assert!(err.contains("cannot be decompressed"), "{err}");
    assert_eq!(open_layer(&layer), Ok(vec!["/ directory".to_string(), "/f file".to_string()]));
}

#[test]
fn fifos_and_oversized_documents_are_refused_without_waiting_or_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = |path: &std::path::Path| {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    };
    let error = |path: &std::path::Path| chain(&image::open(path).err().unwrap());

    // A FIFO given as a bare layer, or standing for a layout's index.json, would block the
    // open until some writer came; it is refused at once instead.
    let layer = dir.path().join("layer.tar");
    fifo(&layer);
    assert_eq!(error(&layer), format!("cannot read {} / not a regular file", layer.display()));
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let index = layout.join("index.json");
    fifo(&index);
    assert_eq!(error(&layout), format!("cannot read {} / not a regular file", index.display()));

    // An index.json past 16 MiB is refused by its length, before a byte is read: the file
    // is sparse, so reading it would have taken 16 MiB of zeros.
    std::fs::remove_file(&index).unwrap();
    let file = std::fs::File::create(&index).unwrap();
    file.set_len((16 << 20) + 1).unwrap();
    assert_eq!(
        error(&layout),
        format!(
            "cannot read {} / it is 16777217 bytes, over the limit of 16777216 (the most an \
             image document may weigh)",
            index.display()
        )
    );
}

/// Writes a layout of one image (an empty layer) at `dir`, the manifest and config
/// descriptors' sizes given by `manifest_size` and `config_size` from their true sizes;
/// returns the true sizes of the manifest and the config.
fn layout_with_sizes(
    dir: &std::path::Path,
    manifest_size: impl Fn(usize) -> usize,
    config_size: impl Fn(usize) -> usize,
) -> (usize, usize) {
    use sha2::{Digest as _, Sha256};
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_len) = put(&[0; 1024]);
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let (config, config_len) = put(config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config, "size": config_size(config_len),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer, "size": layer_len,
        }],
    });
    let (manifest, manifest_len) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest, "size": manifest_size(manifest_len),
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    (manifest_len, config_len)
}

#[test]
fn a_manifest_or_config_of_another_size_than_its_descriptor_says_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (same, more) = (|len| len, |len| len + 1);
    // The error, its layout's path shown as `L` and its digest left out.
    let error = |name: &str| {
        let path = dir.path().join(name);
        let shown = chain(&image::open(&path).err().unwrap());
        let shown = shown.replace(&path.display().to_string(), "L");
        let at = shown.find("sha256:").unwrap();
        format!("{}sha256:…{}", &shown[..at], &shown[at + 71..])
    };

    layout_with_sizes(&dir.path().join("true"), same, same);
    assert_eq!(image::open(&dir.path().join("true")).unwrap().len(), 1);

    let (manifest, _) = layout_with_sizes(&dir.path().join("manifest"), more, same);
    let want =
        format!("L: blob sha256:… is {manifest} bytes, its descriptor says {}", manifest + 1);
    assert_eq!(error("manifest"), want);

    let (_, config) = layout_with_sizes(&dir.path().join("config"), same, more);
    let want = format!("L: blob sha256:… is {config} bytes, its descriptor says {}", config + 1);
    assert_eq!(error("config"), want);

    // A size that is no byte count is refused, not taken for none.
    let odd = dir.path().join("odd");
    layout_with_sizes(&odd, same, same);
    for size in [serde_json::json!("705"), serde_json::json!(-1), serde_json::json!(7.5)] {
        let index_path = odd.join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        index["manifests"][0]["size"] = size.clone();
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let shown =
            chain(&image::open(&odd).err().unwrap()).replace(&odd.display().to_string(), "L");
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        let want = format!("L: the descriptor of {digest} gives the size {size}, not a byte count");
        assert_eq!(shown, want);
    }
}

#[test]
fn a_layer_entry_that_would_make_the_root_a_non_directory_is_refused() {
    use hostile::{RawHeader, raw_entry};
    let entry = |name: &[u8], typeflag: u8, link: &[u8]| {
        raw_entry(&RawHeader::new(name, typeflag, 0).field(100..108, b"0000600\0").link(link), b"")
    };
    let cases: [(&[u8], u8, &[u8], &str); 5] = [
        (b"./", b'0', b"", "\"./\" is a regular file"),
        (b"", b'0', b"", "\"\" is a regular file"),
        (b"/", b'2', b"/etc", "\"/\" is a symlink"),
        (b".", b'6', b"", "\".\" is a FIFO"),
        (b".", b'1', b"a", "\".\" is a hardlink"),
    ];
    for (name, typeflag, link, what) in cases {
        let tar = hostile::archive(&[hostile::file(b"a", b"a\n"), entry(name, typeflag, link)]);
        let got = open_layer(&gzip::member(&tar, 6).unwrap());
        let want = format!(
            "LAYER: layer sha256:… / layer entry {what} naming the root directory, and a layer \
             cannot change the root's type"
        );
        assert_eq!(got, Err(want));
    }
    // A directory entry for the root still gives the root its metadata.
    let tar = hostile::archive(&[entry(b"./", b'5', b""), hostile::file(b"a", b"a\n")]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, &tar).unwrap();
    let tree = image::open(&path).unwrap()[0].tree().unwrap();
    assert_eq!(tree.node(tree.root()).meta.mode, 0o600);
}

#[test]
fn an_old_style_regular_file_named_with_a_slash_is_a_directory() {
    use hostile::{RawHeader, raw_entry};
    let tar = hostile::archive(&[
        raw_entry(&RawHeader::new(b"olddir/", b'\0', 0), b""),
        hostile::file(b"olddir/f", b"f\n"),
        raw_entry(&RawHeader::new(b"oldfile", b'\0', 2), b"x\n"),
        // A POSIX regular file (`0`) named with a slash stays a file, as containerd and
        // Docker place it.
        hostile::file(b"newfile/", b"y\n"),
    ]);
    let got = open_layer(&gzip::member(&tar, 6).unwrap());
    let want =
        ["/ directory", "/newfile file", "/olddir directory", "/olddir/f file", "/oldfile file"];
    assert_eq!(got, Ok(want.map(String::from).to_vec()));
}

/// One PAX record, `LEN KEY=VALUE\n`, its length counting its own digits.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let inner = key.len() + value.len() + 3;
    let mut len = inner + 1;
    while len != inner + len.to_string().len() {
        len = inner + len.to_string().len();
    }
    [format!("{len} {key}=").as_bytes(), value, b"\n"].concat()
}

#[test]
fn a_layer_entry_with_an_xattr_no_linux_file_can_hold_is_refused() {
    let with = |key: &str, value: &[u8]| {
        let tar =
            hostile::archive(&[hostile::pax(&pax_record(key, value)), hostile::file(b"f", b"x")]);
        open_layer(&gzip::member(&tar, 6).unwrap())
    };
    let refused = |why: &str| {
        Err(format!(
            "LAYER: layer sha256:… / layer entry \"f\" has an xattr that no Linux file can \
             hold / {why}"
        ))
    };
    assert_eq!(with("SCHILY.xattr.", b"v"), refused("an xattr has an empty name"));
    assert_eq!(
        with("SCHILY.xattr.user.", b"v"),
        refused(
            "the xattr name \"user.\" is not NAMESPACE.NAME with both parts non-empty (as user.x)"
        )
    );
    assert_eq!(
        with("SCHILY.xattr.user.big", &[b'v'; 65537]),
        refused("the value of the xattr \"user.big\" is 65537 bytes, past Linux's limit of 65536")
    );
    let kept = ["/ directory", "/f file"].map(String::from).to_vec();
    assert_eq!(with("SCHILY.xattr.user.x", &[b'v'; 65536]), Ok(kept));
}

/// A docker-archive at `path` of one image whose manifest lists the layer `abc/layer.tar`,
/// with `members` after `manifest.json`, `config.json` and the layer tar `def/layer.tar`.
fn docker_archive(path: &std::path::Path, members: &[Vec<u8>]) {
    let manifest = br#"[{"Config":"config.json","RepoTags":["x:1"],"Layers":["abc/layer.tar"]}]"#;
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let layer = hostile::archive(&[hostile::file(b"hello", b"hi\n")]);
    let mut all = vec![
        hostile::file(b"manifest.json", manifest),
        hostile::file(b"config.json", config),
        hostile::file(b"def/layer.tar", &layer),
    ];
    all.extend_from_slice(members);
    std::fs::write(path, hostile::archive(&all)).unwrap();
}

/// A symlink member `name -> target`.
fn symlink_member(name: &[u8], target: &[u8]) -> Vec<u8> {
    hostile::raw_entry(&hostile::RawHeader::new(name, b'2', 0).link(target), b"")
}

#[test]
fn a_docker_archive_member_that_is_a_symlink_or_hardlink_is_read_within_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    // What the image's tree lists, or the error, its archive's path shown as `A`.
    let read = |members: &[Vec<u8>]| {
        docker_archive(&path, members);
        let listing = image::open(&path).and_then(|views| views[0].tree()).map(|tree| {
            let walk = tree.walk();
            walk.map(|e| String::from_utf8_lossy(&e.path).into_owned()).collect::<Vec<_>>()
        });
        listing.map_err(|e| chain(&e).replace(&path.display().to_string(), "A"))
    };
    let tree = Ok(vec![String::new(), "hello".to_string()]);

    // As legacy `docker save` wrote a layer several images share: relative to its directory.
    assert_eq!(read(&[symlink_member(b"abc/layer.tar", b"../def/layer.tar")]), tree);
    // Through another symlink, and with `./` in the names.
    let chained = [
        symlink_member(b"./abc/layer.tar", b"./../shared.tar"),
        symlink_member(b"shared.tar", b"def/layer.tar"),
    ];
    assert_eq!(read(&chained), tree);

    let outside = |target: &str| {
        Err(format!("A: abc/layer.tar is a symlink to {target}, which is outside the archive"))
    };
    assert_eq!(read(&[symlink_member(b"abc/layer.tar", b"/tmp/x.tar")]), outside("/tmp/x.tar"));
    assert_eq!(read(&[symlink_member(b"abc/layer.tar", b"../../x.tar")]), outside("../../x.tar"));
    assert_eq!(
        read(&[symlink_member(b"abc/layer.tar", b"missing.tar")]),
        Err("A: abc/layer.tar is a symlink to missing.tar, which the archive does not hold".into())
    );
    let hop = [symlink_member(b"abc/layer.tar", b"../hop"), symlink_member(b"hop", b"/etc/x")];
    assert_eq!(
        read(&hop),
        Err("A: abc/layer.tar leads to hop, a symlink to /etc/x, which is outside the archive"
            .into())
    );
    let looped =
        [symlink_member(b"abc/layer.tar", b"../a"), symlink_member(b"a", b"abc/layer.tar")];
    assert_eq!(
        read(&looped),
        Err("A: abc/layer.tar is a symlink that leads into a loop of symlinks".into())
    );
    assert_eq!(
        read(&[symlink_member(b"abc/layer.tar", b"layer.tar")]),
        Err("A: abc/layer.tar is a symlink that leads into a loop of symlinks".into())
    );
    assert_eq!(read(&[]), Err("A: the archive has no member abc/layer.tar".into()));

    // A hardlink names an earlier member by its whole name, and is that file.
    let hardlink = |target: &[u8]| {
        hostile::raw_entry(&hostile::RawHeader::new(b"abc/layer.tar", b'1', 0).link(target), b"")
    };
    assert_eq!(read(&[hardlink(b"def/layer.tar")]), tree);
    assert_eq!(read(&[hardlink(b"./def//layer.tar")]), tree);
    let no_member = Err("A: the archive has no member abc/layer.tar".to_string());
    assert_eq!(read(&[hardlink(b"../def/layer.tar")]), no_member, "outside the archive");
    assert_eq!(read(&[hardlink(b"nothing.tar")]), no_member);
}

#[test]
fn a_docker_archives_manifest_and_config_may_be_symlinks_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    let manifest = br#"[{"Config":"c/config.json","Layers":["def/layer.tar"]}]"#;
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let layer = hostile::archive(&[hostile::file(b"hello", b"hi\n")]);
    let members = [
        hostile::file(b"real/manifest.json", manifest),
        hostile::file(b"real/config.json", config),
        hostile::file(b"def/layer.tar", &layer),
        symlink_member(b"manifest.json", b"real/manifest.json"),
        symlink_member(b"c/config.json", b"../real/config.json"),
    ];
    std::fs::write(&path, hostile::archive(&members)).unwrap();
    let views = image::open(&path).unwrap();
    assert_eq!(views[0].tree().unwrap().walk().count(), 2);

    let members =
        [hostile::file(b"def/layer.tar", &layer), symlink_member(b"manifest.json", b"/x")];
    std::fs::write(&path, hostile::archive(&members)).unwrap();
    let err = chain(&image::open(&path).err().unwrap());
    let want = format!(
        "{}: manifest.json is a symlink to /x, which is outside the archive",
        path.display()
    );
    assert_eq!(err, want);
}
