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

fn inflate_counted<'a>(
    data: &'a [u8],
    calls: &'a Cell<u32>,
) -> impl FnOnce() -> Result<(Vec<u8>, Vec<DataEntry>), PackageError> + 'a {
    move || {
        calls.set(calls.get() + 1);
        let entries = data_entries(data, &Expect::named("demo"))?;
        Ok((data.to_vec(), entries))
    }
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
        .get(Some(HASH), &strict, Some(&cache), || unreachable!("the cache has it"))
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
