use super::*;

#[test]
fn a_directory_with_other_files_is_never_swept_or_collected() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp/project");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("thesis.tex"), b"years of work").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let cache = Cache::new(dir.path());

    assert!(matches!(cache.gc(0), Err(CacheError::NotACache { .. })));
    assert!(matches!(cache.temporary(), Err(CacheError::NotACache { .. })));
    assert!(matches!(cache.usage(), Err(CacheError::NotACache { .. })));
    assert!(tmp.join("thesis.tex").is_file());
    assert!(!dir.path().join(TAG_FILE).exists());
}

#[test]
fn another_tools_tag_a_shared_directory_and_symlinked_kinds_are_left_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let old = |path: &Path| {
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        File::options().write(true).open(path).unwrap().set_modified(two_hours_ago).unwrap();
    };

    // Cargo's target directory: tagged, with a tmp/ of its own.
    let cargo = dir.path().join("target");
    std::fs::create_dir_all(cargo.join("tmp")).unwrap();
    std::fs::write(cargo.join(TAG_FILE), "Signature: 8a477f597d28d172789f06886806bc55\n").unwrap();
    std::fs::write(cargo.join("tmp/build.log"), b"cargo's").unwrap();
    old(&cargo.join("tmp/build.log"));
    assert!(matches!(Cache::new(&cargo).gc(0), Err(CacheError::NotACache { .. })));
    assert!(cargo.join("tmp/build.log").exists());

    // A world-writable directory.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(Cache::new(&shared).temporary(), Err(CacheError::Shared { .. })));
    assert!(matches!(Cache::new(&shared).usage(), Err(CacheError::Shared { .. })));

    // A tagged cache whose tmp/ is a symlink to someone's files.
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"mine").unwrap();
    old(&victim.join("keep"));
    let cache = Cache::new(dir.path().join("cache"));
    drop(cache.temporary().unwrap());
    std::fs::remove_dir_all(cache.root().join("tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, cache.root().join("tmp")).unwrap();
    cache.gc(0).unwrap();
    assert_eq!(cache.sweep_abandoned().unwrap(), 0);
    assert!(victim.join("keep").exists());
}

#[test]
fn a_new_or_empty_cache_is_tagged_and_a_missing_one_is_not_collected() {
    let dir = tempfile::tempdir().unwrap();
    let new = Cache::new(dir.path().join("new"));
    assert!(matches!(new.gc(0), Err(CacheError::Missing { .. })));
    drop(new.temporary().unwrap());
    assert!(dir.path().join("new").join(TAG_FILE).is_file());

    // An empty directory reads as an empty cache, and is tagged when first written.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(Cache::new(&empty).usage().unwrap().iter().all(|(_, size, _)| *size == 0));
    assert!(!empty.join(TAG_FILE).exists(), "reading usage tags nothing");
    assert_eq!(Cache::new(&empty).gc(0).unwrap().removed, 0);
    assert!(!empty.join(TAG_FILE).exists(), "collecting tags nothing");
    drop(Cache::new(&empty).temporary().unwrap());
    assert!(empty.join(TAG_FILE).is_file());
}

#[test]
fn an_untagged_directory_of_subdirectories_named_as_a_caches_is_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (file, text) in [("packages/README.md", "precious"), ("tmp/notes.txt", "mine")] {
        std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        std::fs::write(root.join(file), text).unwrap();
        age(&root.join(file), 7200);
    }
    std::fs::create_dir_all(root.join("unpacked/sub")).unwrap();
    std::fs::write(root.join("unpacked/sub/x"), "p").unwrap();
    let cache = Cache::new(root);

    for error in [
        cache.gc(0).map(drop).unwrap_err(),
        cache.usage().map(drop).unwrap_err(),
        cache.temporary().map(drop).unwrap_err(),
        cache.sweep_abandoned().map(drop).unwrap_err(),
    ] {
        let CacheError::NotACache { why, .. } = error else { panic!("{error}") };
        assert_eq!(why, OTHER_FILES);
    }
    assert!(!cache.usable());
    assert_eq!(std::fs::read_to_string(root.join("packages/README.md")).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(root.join("tmp/notes.txt")).unwrap(), "mine");
    assert!(root.join("unpacked/sub/x").is_file());
    assert!(!root.join(TAG_FILE).exists());
}

fn age(path: &Path, secs: u64) {
    let file = File::options().append(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(secs)).unwrap();
}

#[test]
fn gc_removes_the_least_recently_used_first_and_keeps_live_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let old = cache.package_path(&Checksum::Sha1([1; 20])).unwrap();
    let new = cache.package_path(&Checksum::Sha1([2; 20])).unwrap();
    let index = cache.index_path("http://h/x86_64/APKINDEX.tar.gz");
    cache.write(&old, &[0; 100]).unwrap();
    cache.write(&new, &[0; 100]).unwrap();
    cache.write(&index, &[0; 50]).unwrap();
    age(&old, 300);
    age(&new, 200);
    age(&index, 100);
    cache.touch(&old);
    let live = cache.temporary().unwrap();
    live.as_file().set_len(10).unwrap();

    let report = cache.gc(170).unwrap();

    assert_eq!((report.removed, report.freed, report.kept), (1, 100, 160));
    assert_eq!(report.kept_busy, 10, "the live temporary is said to be kept");
    assert!(old.exists() && !new.exists() && index.exists() && live.path().exists());
    let usage = cache.usage().unwrap();
    assert_eq!(
        usage,
        [
            (Kind::Packages, 100, 1),
            (Kind::Indexes, 50, 1),
            (Kind::Keys, 0, 0),
            (Kind::Unpacked, 0, 0),
            (Kind::Segments, 0, 0),
            (Kind::Temporary, 10, 1)
        ]
    );
}

#[test]
fn a_sweep_removes_abandoned_temporaries_and_keeps_those_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    cache.claim(true).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (abandoned, young) = (tmp.join("part-killed"), tmp.join("part-just-made"));
    std::fs::write(&abandoned, b"left by a killed build").unwrap();
    std::fs::write(&young, b"its writer is about to lock it").unwrap();
    age(&abandoned, 120);
    let writing = cache.temporary().unwrap();
    age(writing.path(), 120);

    let first = cache.temporary().unwrap();
    let removed = cache.sweep_abandoned().unwrap();

    assert!(!abandoned.exists(), "the first temporary of a process sweeps");
    assert_eq!(removed, 0, "nothing else is abandoned");
    assert!(young.exists() && writing.path().exists() && first.path().exists());
    drop(writing);
    let (_, kept) = first.into_file().keep().unwrap();
    age(&kept, 120);
    assert_eq!(cache.sweep_abandoned().unwrap(), 1, "closed, its temporary is a stray");
}

#[test]
fn what_is_not_a_regular_file_in_an_entrys_place_is_counted_and_always_collected() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let kept = cache.package_path(&Checksum::Sha1([1; 20])).unwrap();
    cache.write(&kept, &[0; 100]).unwrap();
    let packages = kept.parent().unwrap();
    let planted = packages.join("q1-planted.apk");
    std::fs::create_dir_all(planted.join("inner")).unwrap();
    std::fs::write(planted.join("inner/big"), [0; 1000]).unwrap();
    let fifo = packages.join("q1-fifo.apk");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, [0; 10]).unwrap();
    let link = packages.join("q1-link.apk");
    std::os::unix::fs::symlink(&outside, &link).unwrap();

    let (kind, bytes, count) = cache.usage().unwrap()[0];
    assert_eq!(kind, Kind::Packages);
    assert!(bytes >= 1100 && count == 4, "{bytes} bytes in {count} entries");
    let report = cache.gc(u64::MAX).unwrap();

    assert_eq!(report.removed, 3, "{report:?}");
    assert!(kept.exists() && outside.exists(), "a symlink's target is not touched");
    for gone in [&planted, &fifo, &link] {
        assert!(std::fs::symlink_metadata(gone).is_err(), "{} left", gone.display());
    }
}

#[test]
fn an_entry_lands_where_a_directory_stood() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    cache.claim(true).unwrap();
    let path = cache.package_path(&Checksum::Sha1([3; 20])).unwrap();
    std::fs::create_dir_all(path.join("inner")).unwrap();
    std::fs::write(path.join("inner/file"), b"planted").unwrap();

    cache.write(&path, b"the entry").unwrap();

    assert_eq!(crate::files::read_bounded(&path, 100, "x").unwrap(), b"the entry");
}

#[test]
fn a_symlink_loop_in_an_entrys_place_or_a_file_in_its_kinds_is_removed_and_the_entry_lands() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    cache.claim(true).unwrap();
    let looping = cache.entry_path(Kind::Packages, "q1-00.apk");
    std::fs::create_dir_all(looping.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&looping, &looping).unwrap();
    let index = cache.entry_path(Kind::Indexes, "00");
    std::fs::write(index.parent().unwrap(), b"a file where a directory goes").unwrap();

    assert_eq!(cache.read(&looping, 100).unwrap(), None);
    assert_eq!(cache.read(&index, 100).unwrap(), None);
    assert!(std::fs::symlink_metadata(&looping).is_err(), "the loop is removed");
    assert!(std::fs::symlink_metadata(index.parent().unwrap()).is_err(), "so is the file");

    // The kind's directory is a file again when the entry is written: it lands all the same.
    std::fs::write(index.parent().unwrap(), b"planted again").unwrap();
    cache.write(&index, b"the index").unwrap();
    cache.write(&looping, b"the package").unwrap();
    assert_eq!(cache.read(&index, 100).unwrap().as_deref(), Some(&b"the index"[..]));
    assert_eq!(cache.read(&looping, 100).unwrap().as_deref(), Some(&b"the package"[..]));
}

#[test]
fn a_kinds_directory_that_is_a_dangling_symlink_or_a_file_is_repaired_by_many_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    cache.claim(true).unwrap();
    let kind = cache.entry_path(Kind::Packages, "x").parent().unwrap().to_path_buf();

    for damage in ["dangling symlink", "file"] {
        let _ = crate::cache::remove_entry(&kind);
        match damage {
            "file" => std::fs::write(&kind, b"planted").unwrap(),
            _ => std::os::unix::fs::symlink(dir.path().join("nowhere"), &kind).unwrap(),
        }
        std::thread::scope(|scope| {
            for n in 0..8 {
                let cache = &cache;
                scope.spawn(move || {
                    let path = cache.entry_path(Kind::Packages, &format!("q1-{n}.apk"));
                    assert_eq!(cache.read(&path, 100).unwrap(), None, "{damage}");
                    cache.write(&path, format!("package {n}").as_bytes()).unwrap();
                    let read = cache.read(&path, 100).unwrap().unwrap();
                    assert_eq!(read, format!("package {n}").into_bytes(), "{damage}");
                });
            }
        });
        assert!(std::fs::symlink_metadata(&kind).unwrap().is_dir(), "{damage}");
    }
}

#[test]
fn an_entry_that_is_not_a_regular_file_is_removed_as_missing_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let fifo = cache.entry_path(Kind::Packages, "q1-00.apk");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let directory = cache.entry_path(Kind::Indexes, "00");
    std::fs::create_dir_all(directory.join("inner")).unwrap();

    assert_eq!(cache.read(&fifo, 100).unwrap(), None);
    assert_eq!(cache.read(&directory, 100).unwrap(), None);

    assert!(!fifo.exists() && !directory.exists());
    assert!(
        crate::files::read_bounded(dir.path(), 100, "x").is_err(),
        "read_regular refuses a directory"
    );
}

#[test]
fn stale_temporaries_are_removed_whatever_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let stray = cache.temporary().unwrap();
    stray.as_file().set_len(5).unwrap();
    let (_, path) = stray.into_file().keep().unwrap();
    age(&path, 2 * 24 * 3600);

    let report = cache.gc(u64::MAX).unwrap();

    assert_eq!(report.removed, 1);
    assert!(!path.exists());
}
