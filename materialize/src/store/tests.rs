use std::cell::Cell;

use super::*;
use crate::apk::datatar::EntryKind;

/// A data tar of `files` (name, content), as a package's data segment inflates to.
fn data_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Appends `bytes` to `out`, in pieces, as an inflater does.
fn append(out: &mut dyn Output, bytes: &[u8]) {
    for piece in bytes.chunks(1000) {
        let had_room = out.fill(piece.len(), &mut |room| {
            room[..piece.len()].copy_from_slice(piece);
            piece.len()
        });
        assert!(had_room);
    }
}

type Inflate<'a> = Box<dyn FnOnce(&mut dyn Output) -> Result<Vec<DataEntry>, PackageError> + 'a>;

fn inflate_counted<'a>(data: &'a [u8], calls: &'a Cell<u32>) -> Inflate<'a> {
    Box::new(move |out| {
        calls.set(calls.get() + 1);
        append(out, data);
        data_entries(out.bytes(), &Expect::named("demo"))
    })
}

fn content(data: &PackageData, index: usize) -> &[u8] {
    let EntryKind::File { content } = &data.entries[index].kind else { panic!("not a file") };
    &(*data.buffer).as_ref()[content.clone()]
}

const HASH: [u8; 32] = [7; 32];

/// A way to break a cache entry, and its name.
type Damage = (&'static str, fn(&mut Vec<u8>));

#[test]
fn one_store_inflates_a_package_once_and_hands_out_one_buffer() {
    let tar = data_tar(&[("etc/motd", b"hello\n")]);
    let (store, calls) = (DataStore::default(), Cell::new(0));
    let expect = Expect::named("demo");

    let first = store.get(Some(HASH), &expect, None, inflate_counted(&tar, &calls)).unwrap();
    let second = store.get(Some(HASH), &expect, None, inflate_counted(&tar, &calls)).unwrap();

    assert_eq!(calls.get(), 1);
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(content(&first, 0), b"hello\n");
    let stats = store.stats();
    assert_eq!((stats.inflated, stats.shared, stats.cached), (1, 1, 0));
}

#[test]
fn data_without_a_hash_is_inflated_every_time_and_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let tar = data_tar(&[("a", b"x")]);
    let (store, calls) = (DataStore::default(), Cell::new(0));

    for _ in 0..2 {
        store
            .get(None, &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
            .unwrap();
    }

    assert_eq!(calls.get(), 2);
    assert!(!dir.path().join("unpacked").exists());
}

#[test]
fn a_later_store_maps_the_cached_data_instead_of_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let tar = data_tar(&[("usr/bin/tool", &[1u8; 10_000]), ("etc/conf", b"k=v\n")]);
    let calls = Cell::new(0);
    let expect = Expect::named("demo");
    DataStore::default()
        .get(Some(HASH), &expect, Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();

    let later = DataStore::default();
    let data = later.get(Some(HASH), &expect, Some(&cache), inflate_counted(&tar, &calls)).unwrap();

    assert_eq!(calls.get(), 1, "the second store must not inflate");
    assert_eq!(later.stats().cached, 1);
    assert_eq!((*data.buffer).as_ref(), &tar[..]);
    assert_eq!(content(&data, 1), b"k=v\n");
    let entry = cache.entry_path(Kind::Unpacked, &hex::encode(HASH));
    assert_eq!(std::fs::metadata(entry).unwrap().len(), (tar.len() + TRAILER) as u64);
}

#[test]
fn a_cache_that_others_may_write_is_not_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let tar = data_tar(&[("etc/motd", b"hello\n")]);
    let calls = Cell::new(0);
    let expect = Expect::named("demo");
    let made = tempfile::tempdir().unwrap();
    DataStore::default()
        .get(Some(HASH), &expect, Some(&Cache::new(made.path())), inflate_counted(&tar, &calls))
        .unwrap();
    let name = hex::encode(HASH);

    // Copies of that cache, each with one directory others may write.
    for (shared, mode) in [("", 0o775), ("unpacked", 0o777), ("unpacked", 0o770)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        std::fs::create_dir_all(root.join("unpacked")).unwrap();
        for file in ["CACHEDIR.TAG", &format!("unpacked/{name}")] {
            std::fs::copy(made.path().join(file), root.join(file)).unwrap();
        }
        std::fs::set_permissions(root.join(shared), std::fs::Permissions::from_mode(mode)).unwrap();
        let cache = Cache::new(&root);

        let store = DataStore::default();
        let before = calls.get();
        store.get(Some(HASH), &expect, Some(&cache), inflate_counted(&tar, &calls)).unwrap();

        assert_eq!(calls.get(), before + 1, "{shared:?} {mode:o}: inflated, not read");
        assert_eq!(store.stats().cached, 0);
        assert!(matches!(cache.temporary(), Err(crate::cache::CacheError::Shared { .. })));
    }
}

#[test]
fn cache_directories_are_made_for_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tar = data_tar(&[("etc/motd", b"hello\n")]);
    let calls = Cell::new(0);

    DataStore::default()
        .get(
            Some(HASH),
            &Expect::named("demo"),
            Some(&Cache::new(dir.path())),
            inflate_counted(&tar, &calls),
        )
        .unwrap();

    for kind in ["unpacked", "tmp"] {
        let mode = std::fs::metadata(dir.path().join(kind)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{kind}");
    }
}

#[test]
fn a_corrupt_or_truncated_entry_is_discarded_and_rebuilt_never_used() {
    let tar = data_tar(&[("etc/motd", b"hello\n")]);
    let damages: [Damage; 4] = [
        ("a flipped data byte", |b| b[600] ^= 1),
        ("a truncated end", |b| b.truncate(b.len() - 1)),
        ("a cut inside the data", |b| b.truncate(100)),
        ("an empty file", Vec::clear),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let calls = Cell::new(0);
        let expect = Expect::named("demo");
        DataStore::default()
            .get(Some(HASH), &expect, Some(&cache), inflate_counted(&tar, &calls))
            .unwrap();
        let entry = cache.entry_path(Kind::Unpacked, &hex::encode(HASH));
        let mut bytes = std::fs::read(&entry).unwrap();
        damage(&mut bytes);
        std::fs::write(&entry, &bytes).unwrap();

        let store = DataStore::default();
        let data =
            store.get(Some(HASH), &expect, Some(&cache), inflate_counted(&tar, &calls)).unwrap();

        assert_eq!(calls.get(), 2, "{what}: inflated again");
        assert_eq!(store.stats().discarded, 1, "{what}");
        assert_eq!(content(&data, 0), b"hello\n", "{what}");
        let rebuilt = std::fs::read(&entry).unwrap();
        assert_eq!(rebuilt.len(), tar.len() + TRAILER, "{what}: the entry is written anew");
        assert_eq!(&rebuilt[..tar.len()], &tar[..], "{what}");
    }
}

#[test]
fn cached_data_is_held_to_the_limits_of_the_build_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let tar = data_tar(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
    let calls = Cell::new(0);
    DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();

    let strict = Expect {
        limits: Limits { max_entries: 2, ..Limits::default() },
        ..Expect::named("demo-1")
    };
    let error = DataStore::default()
        .get(Some(HASH), &strict, Some(&cache), |_| unreachable!("the cache has it"))
        .err()
        .unwrap();

    let text = error.to_string();
    assert!(text.contains("demo-1") && text.contains("--max-entries"), "{text}");
}

#[test]
fn an_unwritable_cache_still_gives_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("cache");
    std::fs::write(&blocker, b"a file where the cache directory should be").unwrap();
    let cache = Cache::new(&blocker);
    let tar = data_tar(&[("a", b"payload")]);
    let calls = Cell::new(0);

    let data = DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();

    assert_eq!(content(&data, 0), b"payload");
}

#[test]
fn a_package_that_fails_its_checks_leaves_no_entry_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let tar = data_tar(&[("usr/lib/big", &[5u8; 300_000])]);

    let error = DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), |out| {
            append(out, &tar);
            Err(PackageError::NoPkginfo { package: "demo".into() })
        })
        .err()
        .unwrap();

    assert!(matches!(error, PackageError::NoPkginfo { .. }), "{error}");
    assert!(!cache.entry_path(Kind::Unpacked, &hex::encode(HASH)).exists());
    let temporaries = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
    assert_eq!(temporaries, 0, "the half-inflated temporary is removed");
}

#[test]
fn data_larger_than_one_growth_step_is_kept_whole_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let big: Vec<u8> = (0..9_000_000u32).map(|i| (i % 253) as u8).collect();
    let tar = data_tar(&[("usr/share/big", &big), ("etc/small", b"s")]);
    let calls = Cell::new(0);

    let data = DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();

    assert_eq!(content(&data, 0), &big[..]);
    assert_eq!(content(&data, 1), b"s");
    let entry = std::fs::read(cache.entry_path(Kind::Unpacked, &hex::encode(HASH))).unwrap();
    assert_eq!(entry.len(), tar.len() + TRAILER, "no allocation is left past the trailer");
    assert_eq!(&entry[..tar.len()], &tar[..]);
    let reread = DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(content(&reread, 0), &big[..]);
}

#[test]
fn an_entry_that_is_a_fifo_is_discarded_and_rebuilt_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    cache.claim(true).unwrap();
    let entry = cache.entry_path(Kind::Unpacked, &hex::encode(HASH));
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&entry, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let tar = data_tar(&[("etc/motd", b"hello\n")]);
    let (store, calls) = (DataStore::default(), Cell::new(0));

    let data =
        store.get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls));

    assert_eq!(content(&data.unwrap(), 0), b"hello\n");
    assert_eq!((calls.get(), store.stats().discarded), (1, 1));
    assert!(std::fs::metadata(&entry).unwrap().is_file(), "a real entry replaces the fifo");
}

#[test]
fn an_entry_moved_to_another_packages_name_fails_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let (other, tar) = ([9u8; 32], data_tar(&[("etc/motd", b"hello\n")]));
    let calls = Cell::new(0);
    DataStore::default()
        .get(Some(HASH), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();
    let entry = |hash: &[u8; 32]| cache.entry_path(Kind::Unpacked, &hex::encode(hash));
    std::fs::rename(entry(&HASH), entry(&other)).unwrap();

    let store = DataStore::default();
    store
        .get(Some(other), &Expect::named("demo"), Some(&cache), inflate_counted(&tar, &calls))
        .unwrap();

    assert_eq!((calls.get(), store.stats().discarded), (2, 1), "inflated, not taken");
}
