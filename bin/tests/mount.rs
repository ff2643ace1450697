//! `flatroot mount` through real FUSE: what `find`, `stat`, `cat`, `readlink` and `getfattr`
//! see on the mount must be exactly the image's tree, and the mount must be read-only,
//! concurrent, and end cleanly.
//!
//! Every test unmounts through a guard (`fusermount3 -uz`, then the server is killed) even
//! when it fails, and every command that reads the mount runs under `timeout`: a FUSE server
//! that stops answering leaves its readers in uninterruptible sleep.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flatroot_benches::{corpus, testenv};
use flatroot_vfs::tar::{LayerOptions, WriteSink, write_layer};
use flatroot_vfs::{Content, FrozenTree, Metadata, NodeKind, Timestamp, Tree};
use support::mount::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";
const DEVICES: &str = "testdata/blueprints/devices.yaml";

#[test]
fn the_fixture_mounts_as_blueprint_and_as_layout_exactly_as_its_layer() {
    let name = "the_fixture_mounts_as_blueprint_and_as_layout_exactly_as_its_layer";
    if !fuse_available(name) || !getfattr_or_skip(name) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    let tree = &images(&layout)[0].tree().unwrap();
    assert!(
        tree.walk().any(|e| !tree.node(e.node).meta.xattrs.is_empty()),
        "the fixture has an xattr to compare"
    );

    let config = images(&layout)[0].config().unwrap().clone();
    let created = config["created"].as_str().unwrap();
    let (created, _) = flatroot_materialize::oci::image::parse_rfc3339(created).unwrap();

    for source in [Path::new(BLUEPRINT), layout.as_path()] {
        let mounted = Mounted::start(source, &["--arch", "x86_64"]);
        assert_mount_shows(&mounted, tree, true);

        // The root, which the layer does not list, shows the image's creation time.
        let root = std::fs::metadata(&mounted.mountpoint).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::mtime(&root), created, "{}", source.display());

        // Hardlinks: one inode, st_nlink 2, through stat itself.
        let stat = timed(
            "stat",
            &[
                OsStr::new("-c"),
                OsStr::new("%i %h"),
                mounted.path("usr/bin/hello").as_os_str(),
                mounted.path("usr/bin/hello-again").as_os_str(),
            ],
        );
        let lines: Vec<String> = stdout(&stat).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], lines[1], "hardlinks share an inode");
        assert!(lines[0].ends_with(" 2"), "{lines:?}");

        // A non-UTF-8 name round-trips through readdir and open.
        let names: Vec<OsString> = std::fs::read_dir(mounted.path("usr/share/hello"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(names.contains(&OsString::from_vec(b"caf\xe9".to_vec())), "{names:?}");
        let latin = mounted.path("usr/share/hello").join(OsStr::from_bytes(b"caf\xe9"));
        assert_eq!(timed("cat", &[latin.as_os_str()]).stdout, b"latin-1 name, not UTF-8\n");

        // statfs answers, and the mount is read-only.
        let df = timed(
            "stat",
            &[
                OsStr::new("-f"),
                OsStr::new("-c"),
                OsStr::new("%l %c"),
                mounted.mountpoint.as_os_str(),
            ],
        );
        assert_eq!(stdout(&df).split_whitespace().next(), Some("255"), "{}", stdout(&df));
        let files: u64 = stdout(&df).split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(files, tree.max_inode());
    }
}

#[test]
fn xattrs_follow_the_size_probe_protocol() {
    let name = "xattrs_follow_the_size_probe_protocol";
    if !fuse_available(name) {
        return;
    }
    let mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let path =
        CString::new(mounted.path("usr/bin/hello-ping").into_os_string().into_vec()).unwrap();
    let attr = CString::new("security.capability").unwrap();
    // SAFETY: valid C strings; a null buffer of size 0 asks for the size only.
    let size = unsafe { libc::getxattr(path.as_ptr(), attr.as_ptr(), std::ptr::null_mut(), 0) };
    assert_eq!(size, 20, "a v2 file capability is 20 bytes");
    let mut small = [0u8; 4];
    // SAFETY: the buffer is valid for the length passed.
    let rc = unsafe { libc::getxattr(path.as_ptr(), attr.as_ptr(), small.as_mut_ptr().cast(), 4) };
    assert_eq!(rc, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ERANGE));
    let mut names = [0u8; 64];
    // SAFETY: as above.
    let len = unsafe { libc::listxattr(path.as_ptr(), std::ptr::null_mut(), 0) };
    let got = unsafe { libc::listxattr(path.as_ptr(), names.as_mut_ptr().cast(), 64) };
    assert_eq!(len, got);
    assert_eq!(&names[..got as usize], b"security.capability\0");
    let missing = CString::new("user.absent").unwrap();
    // SAFETY: as above.
    let rc = unsafe { libc::getxattr(path.as_ptr(), missing.as_ptr(), std::ptr::null_mut(), 0) };
    assert_eq!(rc, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENODATA));
}

#[test]
fn device_nodes_and_the_fifo_keep_their_numbers_and_owners() {
    let name = "device_nodes_and_the_fifo_keep_their_numbers_and_owners";
    if !fuse_available(name) || !getfattr_or_skip(name) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(DEVICES, &layout, &[]);
    let tree = &images(&layout)[0].tree().unwrap();
    let mounted = Mounted::start(Path::new(DEVICES), &[]);
    assert_mount_shows(&mounted, tree, true);
    let stat = timed(
        "stat",
        &[
            OsStr::new("-c"),
            OsStr::new("%n %F %t:%T %U:%G %a"),
            mounted.path("dev/null").as_os_str(),
            mounted.path("dev/loop0").as_os_str(),
            mounted.path("dev/initctl").as_os_str(),
        ],
    );
    let text = stdout(&stat);
    let lines: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(
        lines,
        [
            "character special file 1:3 root:root 666",
            "block special file 7:0 root:disk 660",
            "fifo 0:0 nobody:nogroup 600",
        ]
    );
}

#[test]
fn every_write_class_call_fails_with_erofs() {
    let name = "every_write_class_call_fails_with_erofs";
    if !fuse_available(name) || !getfattr_or_skip(name) {
        return;
    }
    let mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let file = mounted.path("etc/os-release");
    let (new, dir, link) = (mounted.path("new"), mounted.path("dir"), mounted.path("link"));
    let attempts: [(&str, Vec<&OsStr>); 8] = [
        ("touch", vec![new.as_os_str()]),
        ("touch", vec![file.as_os_str()]),
        ("mkdir", vec![dir.as_os_str()]),
        ("rm", vec![OsStr::new("-f"), file.as_os_str()]),
        ("chmod", vec![OsStr::new("600"), file.as_os_str()]),
        ("chown", vec![OsStr::new("1:1"), file.as_os_str()]),
        (
            "setfattr",
            vec![
                OsStr::new("-n"),
                OsStr::new("user.x"),
                OsStr::new("-v"),
                OsStr::new("1"),
                file.as_os_str(),
            ],
        ),
        ("ln", vec![OsStr::new("-s"), OsStr::new("x"), link.as_os_str()]),
    ];
    for (program, args) in &attempts {
        let output = timed(program, args);
        assert!(!output.status.success(), "{program} {args:?} succeeded");
        assert!(
            stderr(&output).contains("Read-only file system"),
            "{program}: {}",
            stderr(&output)
        );
    }
    let write = std::fs::OpenOptions::new().write(true).open(&file).unwrap_err();
    assert_eq!(write.raw_os_error(), Some(libc::EROFS));
    assert!(stdout(&timed("cat", &[file.as_os_str()])).contains("ID=flatroot"), "unchanged");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some(mounted.mountpoint.to_str().unwrap()))
        .unwrap();
    assert!(line.split(' ').nth(3).unwrap().split(',').any(|o| o == "ro"), "{line}");
}

/// A tree with what the fixture lacks: a large file, symlink loops and more odd names.
fn odd_tree(big: usize) -> FrozenTree {
    let mut tree = Tree::new(Metadata::directory(0o755));
    let mut meta = Metadata::file(0o644);
    meta.mtime = Timestamp { secs: 1_700_000_000, nanos: 987_654_321 };
    let bytes: Vec<u8> = (0..big).map(|i| (i * 7 + i / 4096) as u8).collect();
    tree.insert_file(b"big", meta.clone(), Content::from_vec(bytes)).unwrap();
    tree.insert_dir_all(b"many", Metadata::directory(0o755)).unwrap();
    for i in 0..64u8 {
        let content = Content::from_vec(vec![i; 1000 + usize::from(i) * 997]);
        tree.insert_file(format!("many/f{i:02}").as_bytes(), meta.clone(), content).unwrap();
    }
    tree.insert_symlink(b"loop1", Metadata::new(0o777), b"loop2").unwrap();
    tree.insert_symlink(b"loop2", Metadata::new(0o777), b"loop1").unwrap();
    tree.insert_symlink(b"self", Metadata::new(0o777), b"self/x").unwrap();
    tree.insert_file(
        b"\xff\xfe name\twith tab",
        Metadata::file(0o600),
        Content::from_vec(b"odd\n".to_vec()),
    )
    .unwrap();
    tree.freeze()
}

/// Writes `tree` as an uncompressed layer tar.
fn write_tar(tree: &FrozenTree, path: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write_layer(tree, &LayerOptions::default(), &mut WriteSink(&mut file)).unwrap();
    std::io::Write::flush(&mut file).unwrap();
}

#[test]
fn a_layer_tar_with_loops_and_odd_names_mounts_exactly() {
    let name = "a_layer_tar_with_loops_and_odd_names_mounts_exactly";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layer = dir.path().join("layer.tar");
    write_tar(&odd_tree(3 << 20), &layer);
    let tree = &images(&layer)[0].tree().unwrap();
    let mounted = Mounted::start(&layer, &[]);
    assert_mount_shows(&mounted, tree, false);

    // The kernel walks the loops and gives up with ELOOP; nothing hangs (timed asserts it).
    for link in ["loop1", "self"] {
        let cat = timed("cat", &[mounted.path(link).as_os_str()]);
        assert!(!cat.status.success());
        assert!(stderr(&cat).contains("Too many levels of symbolic links"), "{}", stderr(&cat));
    }
    let err = std::fs::metadata(mounted.path("loop2")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    let odd = mounted.mountpoint.join(OsStr::from_bytes(b"\xff\xfe name\twith tab"));
    assert_eq!(timed("cat", &[odd.as_os_str()]).stdout, b"odd\n");
}

#[test]
fn a_directory_of_twenty_thousand_entries_lists_whole_and_in_order() {
    let name = "a_directory_of_twenty_thousand_entries_lists_whole_and_in_order";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let files: Vec<String> = (0..20_000).map(|i| format!("big/f{i:05}")).collect();
    let layer = dir.path().join("layer.tar");
    std::fs::write(&layer, layer_of_files(&files.iter().map(String::as_str).collect::<Vec<_>>()))
        .unwrap();
    let mut expected = vec![".".to_string(), "..".to_string()];
    expected.extend(files.iter().map(|f| f.trim_start_matches("big/").to_string()));
    let mounted = Mounted::start(&layer, &[]);
    let big = mounted.path("big");

    // Listed by the kernel in many batches, two listings at once.
    let listings: Vec<Vec<String>> = std::thread::scope(|scope| {
        let list = || {
            let output = timed("ls", &[OsStr::new("-f"), big.as_os_str()]);
            assert!(output.status.success(), "ls: {}", stderr(&output));
            stdout(&output).lines().map(str::to_string).collect::<Vec<_>>()
        };
        let threads: Vec<_> = (0..2).map(|_| scope.spawn(list)).collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    for listed in listings {
        assert_eq!(listed.len(), expected.len());
        assert!(listed == expected, "the listing is not every name once, in order");
    }
}

#[test]
fn concurrent_readers_see_the_same_bytes() {
    let name = "concurrent_readers_see_the_same_bytes";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layer = dir.path().join("layer.tar");
    let tree = odd_tree(8 << 20);
    write_tar(&tree, &layer);
    let mounted = Mounted::start(&layer, &["--jobs", "4"]);
    let tree = Arc::new(tree);
    let root = Arc::new(mounted.mountpoint.clone());
    let (done, results) = std::sync::mpsc::channel();
    for t in 0..8usize {
        let (tree, root, done) = (Arc::clone(&tree), Arc::clone(&root), done.clone());
        std::thread::spawn(move || {
            let mut checked = 0;
            for round in 0..6 {
                // Half the threads read the same big file, all read different small ones.
                let rel = if (t + round) % 2 == 0 {
                    "big".to_string()
                } else {
                    format!("many/f{:02}", (t * 8 + round) % 64)
                };
                let got = std::fs::read(root.join(&rel)).unwrap();
                let id = tree.lookup(rel.as_bytes(), flatroot_vfs::Follow::Final).unwrap();
                let NodeKind::File(content) = &tree.node(id).kind else { panic!("{rel}") };
                assert!(got == content.bytes(), "{rel} differs in thread {t}");
                checked += 1;
            }
            done.send(checked).unwrap();
        });
    }
    drop(done);
    let mut total = 0;
    for _ in 0..8 {
        // A watchdog instead of `timeout` for in-process readers: on expiry the guard
        // unmounts and kills the server, which frees any reader stuck in the kernel.
        total += results.recv_timeout(Duration::from_secs(120)).expect("a reader finished in time");
    }
    assert_eq!(total, 48);

    // --jobs is the number of FUSE workers; `mount_serving.rs` shows that they answer at
    // once. They are started while the first requests are answered, hence the wait.
    let workers = || {
        std::fs::read_dir(format!("/proc/{}/task", mounted.pid()))
            .unwrap()
            .filter(|task| {
                let comm = std::fs::read_to_string(task.as_ref().unwrap().path().join("comm"));
                // fuser names its workers fuser-0, fuser-1, …
                let comm = comm.unwrap_or_default();
                comm.strip_prefix("fuser-").is_some_and(|n| n.trim().parse::<u32>().is_ok())
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(workers(), 4, "FUSE worker threads of the server");
}

#[test]
fn sigterm_during_heavy_reads_unmounts_cleanly() {
    let name = "sigterm_during_heavy_reads_unmounts_cleanly";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layer = dir.path().join("layer.tar");
    write_tar(&odd_tree(32 << 20), &layer);
    let mut mounted = Mounted::start(&layer, &[]);
    let big = mounted.path("big");
    let script = format!("while cat '{}' > /dev/null; do :; done", big.display());
    let readers: Vec<Child> = (0..3)
        .map(|_| Command::new("timeout").args([TIMEOUT, "sh", "-c", &script]).spawn().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(700));

    let status = std::fs::read_to_string(format!("/proc/{}/status", mounted.pid())).unwrap();
    let kib = |field: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (rss, peak) = (kib("VmRSS:"), kib("VmHWM:"));
    eprintln!("server with a 32 MiB layer under reads: RSS {rss} KiB, peak {peak} KiB");
    // While serving: one copy of the layer (32 MiB) plus the program, never a second copy
    // of the data (the peak also counts how image::open reads the file in).
    assert!(rss < 32 * 1024 + 40 * 1024, "RSS {rss} KiB while serving");

    nix_kill(mounted.pid(), libc::SIGTERM);
    assert!(mounted.wait_exit(30).success(), "{}", mounted.log_text());
    assert!(!is_mounted(&mounted.mountpoint));
    for mut reader in readers {
        let status = reader.wait().unwrap();
        assert_ne!(status.code(), Some(124), "a reader hung after the unmount");
    }
}

#[test]
fn the_real_alpine_3_20_image_mounts_exactly() {
    let name = "the_real_alpine_3_20_image_mounts_exactly";
    if !fuse_available(name) || !getfattr_or_skip(name) {
        return;
    }
    if testenv::shared_tools().is_none() || testenv::realworld().is_none() {
        return testenv::missing(name, "../shared/tools and ../shared/realworld");
    }
    let repo = corpus::alpine_repo("v3.20", "x86_64", "3.20.3").expect("rootfs-to-apk-repo");
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(&repo.join("blueprints/minirootfs.yaml").to_string_lossy(), &layout, &[]);
    let tree = &images(&layout)[0].tree().unwrap();
    assert!(tree.walk().count() > 400, "a real tree");
    let mounted = Mounted::start(&layout, &[]);
    assert_mount_shows(&mounted, tree, true);
    let sh = timed("readlink", &[mounted.path("bin/sh").as_os_str()]);
    assert_eq!(stdout(&sh).trim(), "/bin/busybox");
}

#[test]
fn arch_picks_one_platform_of_a_multi_arch_index_or_blueprint() {
    let name = "arch_picks_one_platform_of_a_multi_arch_index_or_blueprint";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("image");
    build(BLUEPRINT, &layout, &[]);
    let host = if cfg!(target_arch = "aarch64") { "aarch64" } else { "x86_64" };
    let cases: [(&Path, &[&str], &str); 4] = [
        (&layout, &[], host),
        (&layout, &["--arch", "arm64"], "aarch64"),
        (Path::new(BLUEPRINT), &["--arch", "aarch64"], "aarch64"),
        (Path::new(BLUEPRINT), &[], host),
    ];
    for (source, args, want) in cases {
        let mounted = Mounted::start(source, args);
        let arch = timed("cat", &[mounted.path("etc/apk/arch").as_os_str()]);
        assert_eq!(stdout(&arch), format!("{want}\n"), "{} {args:?}", source.display());
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let _guard = scopeguard(&empty);
    let text = mount_refused(&layout, &empty, &["--arch", "s390x"]);
    let want =
        format!("{}: no image for architecture \"s390x\" (it has amd64, arm64)", layout.display());
    assert!(text.contains(&want), "{text}");
}

#[test]
fn dir_colon_name_mounts_that_image_of_a_layout_of_several() {
    let name = "dir_colon_name_mounts_that_image_of_a_layout_of_several";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let (plain, extra, both) = two_named_images(dir.path(), BLUEPRINT);

    let two = format!("{}:two", both.display());
    let mounted = Mounted::start(Path::new(&two), &[]);
    assert!(mounted.path("etc/extra").exists(), "the image named two");
    assert_mount_shows(&mounted, &images(&extra)[0].tree().unwrap(), false);
    drop(mounted);
    let one = format!("{}:one", both.display());
    let mounted = Mounted::start(Path::new(&one), &[]);
    assert_mount_shows(&mounted, &images(&plain)[0].tree().unwrap(), false);
    drop(mounted);

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let _guard = scopeguard(&empty);
    let text = mount_refused(&both, &empty, &[]);
    let want =
        format!("{0} holds 2 images for amd64: pick one as {0}:NAME (one, two)", both.display());
    assert!(text.contains(&want), "{text}");
}

#[test]
fn arch_picks_a_32_bit_arm_image_by_its_variant_in_mount_and_diff() {
    let name = "arch_picks_a_32_bit_arm_image_by_its_variant_in_mount_and_diff";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let at = |name: &str| dir.path().join(name);
    build(BLUEPRINT, &at("base"), &["--arch", "x86_64"]);
    // Three arm images told apart by a file of their own: v6, v7, and one naming no variant.
    let images = [("v6", Some("v6")), ("v7", Some("v7")), ("any", None), ("other", None)];
    for (layout, variant) in images {
        layout_with_layer(&at("base"), &at(layout), &layer_of_files(&[&format!("etc/{layout}")]));
        relabel_platform(&at(layout), "arm", variant);
    }
    layout_of_named(&at("both"), &[("six", &at("v6")), ("seven", &at("v7"))]);
    // Two that name no variant beside a v6: neither is exactly `arm/v7`, both may be.
    layout_of_named(
        &at("three"),
        &[("six", &at("v6")), ("any", &at("any")), ("other", &at("other"))],
    );

    // Each spelling picks its variant out of the two.
    for (arch, file) in [("armv7", "etc/v7"), ("arm/v7", "etc/v7"), ("armhf", "etc/v6")] {
        let mounted = Mounted::start(&at("both"), &["--arch", arch]);
        assert!(mounted.path(file).exists(), "{arch}");
        assert!(mounted.path("etc/apk/arch").exists(), "{arch}");
    }
    // An image naming no variant is taken for any.
    drop(Mounted::start(&at("any"), &["--arch", "armv7"]));

    // The other variant is not there; one naming none may be either, so it is asked which.
    let empty = at("empty");
    std::fs::create_dir(&empty).unwrap();
    let _guard = scopeguard(&empty);
    let text = mount_refused(&at("v7"), &empty, &["--arch", "armhf"]);
    let want =
        format!("{}: no image for architecture \"arm/v6\" (it has arm/v7)", at("v7").display());
    assert!(text.contains(&want), "{text}");
    let three = at("three");
    let text = mount_refused(&three, &empty, &["--arch", "armv7"]);
    let want = format!(
        "{0} holds 2 images for arm/v7: pick one as {0}:NAME (any, other)",
        three.display()
    );
    assert!(text.contains(&want), "{text}");

    // diff takes the same spellings and picks the same way.
    for (arch, same) in [("armv7", "v7"), ("arm/v7", "v7"), ("armhf", "v6")] {
        let output =
            run(flatroot().arg("diff").arg(at("both")).arg(at(same)).args(["--arch", arch]));
        assert_eq!(output.status.code(), Some(0), "{arch}: {}", stderr(&output));
    }
    let output = run(flatroot().arg("diff").arg(&three).arg(at("v7")).args(["--arch", "arm/v7"]));
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    // An image exactly of the platform asked for is the one meant.
    let mixed = at("mixed");
    layout_of_named(&mixed, &[("any", &at("any")), ("seven", &at("v7"))]);
    let output = run(flatroot().arg("diff").arg(&mixed).arg(at("v7")).args(["--arch", "armv7"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(flatroot().arg("diff").arg(&mixed).arg(at("any")).args(["--arch", "arm"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn a_malformed_source_date_epoch_is_refused_for_an_image_as_for_a_blueprint() {
    let dir = tempdir();
    let (layout, mountpoint) = (dir.path().join("image"), dir.path().join("mnt"));
    build(BLUEPRINT, &layout, &["--arch", "x86_64"]);
    std::fs::create_dir(&mountpoint).unwrap();
    for source in [layout.as_path(), Path::new(BLUEPRINT)] {
        let output = run(flatroot()
            .arg("mount")
            .arg(source)
            .arg(&mountpoint)
            .env("SOURCE_DATE_EPOCH", "soon"));
        assert_eq!(output.status.code(), Some(2), "{}", source.display());
        assert!(stderr(&output).contains("SOURCE_DATE_EPOCH=\"soon\""), "{}", stderr(&output));
        assert!(!is_mounted(&mountpoint));
    }
}

#[test]
fn a_fifo_given_as_an_image_is_refused_without_waiting_for_a_writer() {
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    for name in ["layer.tar", "layer.tar.gz"] {
        let fifo = dir.path().join(name);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let exe = flatroot().get_program().to_owned();
        let args = [OsStr::new("mount"), fifo.as_os_str(), mountpoint.as_os_str()];
        let output = timed(&exe.to_string_lossy(), &args);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        let want = format!("cannot open {}", fifo.display());
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
        assert!(stderr(&output).contains("not a regular file"), "{}", stderr(&output));
        assert!(!is_mounted(&mountpoint));
    }
}

#[test]
fn an_upper_layers_whiteouts_hide_the_lower_layers_files_on_the_mount() {
    let name = "an_upper_layers_whiteouts_hide_the_lower_layers_files_on_the_mount";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let (base, layered) = (dir.path().join("base"), dir.path().join("layered"));
    build(BLUEPRINT, &base, &["--arch", "x86_64"]);
    let upper = layer_of_files(&["usr/bin/.wh.hello", "etc/apk/.wh..wh..opq", "etc/apk/mine"]);
    layout_with_layer(&base, &layered, &upper);

    let mounted = Mounted::start(&layered, &[]);
    assert!(!mounted.path("usr/bin/hello").exists(), "whited out");
    assert!(mounted.path("usr/bin/hello-again").exists(), "its other link stays");
    let apk: Vec<OsString> = std::fs::read_dir(mounted.path("etc/apk"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(apk, ["mine"], "an opaque directory keeps only its own layer's entries");
    let (listing, _) = list_mount(&mounted.mountpoint);
    assert!(!listing.keys().any(|p| p.contains(".wh.")), "{:?}", listing.keys());
    let tree = &images(&layered)[0].tree().unwrap();
    assert_mount_shows(&mounted, tree, false);
}

#[test]
fn max_inflate_ratio_governs_an_images_layers() {
    let name = "max_inflate_ratio_governs_an_images_layers";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layer = dir.path().join("zeros.tar.gz");
    zeros_layer(&layer, 64 << 20);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let _guard = scopeguard(&empty);
    let text = mount_refused(&layer, &empty, &[]);
    assert!(text.contains("the inflate ratio limit (raise it with --max-inflate-ratio)"), "{text}");
    let mounted = Mounted::start(&layer, &["--max-inflate-ratio", "100000"]);
    let size = std::fs::metadata(mounted.path("zeros")).unwrap().len();
    assert_eq!(size, 64 << 20);
}

#[test]
fn source_date_epoch_clamps_a_mounted_blueprint_as_the_built_layer() {
    let name = "source_date_epoch_clamps_a_mounted_blueprint_as_the_built_layer";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("image");
    let epoch = "1000000000";
    build(BLUEPRINT, &layout, &["--arch", "x86_64", "--source-date-epoch", epoch]);
    let tree = &images(&layout)[0].tree().unwrap();
    let mounted =
        Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64", "--source-date-epoch", epoch]);
    assert_mount_shows(&mounted, tree, false);
    drop(mounted);
    // The same from the environment.
    let mut server = flatroot();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = scopeguard(&mountpoint);
    let mut child = server
        .env("SOURCE_DATE_EPOCH", epoch)
        .args(["mount", BLUEPRINT])
        .arg(&mountpoint)
        .args(["--arch", "x86_64"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !is_mounted(&mountpoint) {
        assert!(child.try_wait().unwrap().is_none(), "the server ended before mounting");
        assert!(Instant::now() < deadline, "no mount after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (listing, _) = list_mount(&mountpoint);
    let newest = listing.values().map(|line| line[MTIME].parse::<i64>().unwrap()).max();
    assert_eq!(newest, Some(1_000_000_000), "no time past the epoch");
    nix_kill(child.id(), libc::SIGTERM);
    assert!(child.wait().unwrap().success());
}
