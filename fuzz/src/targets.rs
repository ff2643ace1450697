//! What each fuzz target does with one input. Shared by the libFuzzer targets under
//! `fuzz/fuzz_targets/` and by `materialize/tests/hostile_fuzz_seeds.rs`, which runs every
//! seed and every recorded crash as an ordinary test, without cargo-fuzz.
//!
//! Each function must return normally for any input: a panic, an abort or a hang is a
//! finding. Results are discarded; properties that must hold are asserted.

use std::path::Path;
use std::sync::Arc;

use flatroot_materialize::apk::datatar::{self, Limits};
use flatroot_materialize::apk::package::{Expect, read_package};
use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::apk::{gzip, index, pkginfo, version};
use flatroot_materialize::blueprint;
use flatroot_materialize::lock::Lock;
use flatroot_materialize::rootfs::installed_read;
use flatroot_vfs::Metadata;
use flatroot_vfs::tar::read_layer;

/// One target: its name and what it does with an input.
pub type Target = (&'static str, fn(&[u8]));

/// The targets by name, as `cargo fuzz run NAME` and the seed directories name them.
pub const TARGETS: [Target; 9] = [
    ("apkindex_text", apkindex_text),
    ("installed_db", installed_db),
    ("pkginfo", pkginfo),
    ("package", package),
    ("datatar", datatar),
    ("layer", layer),
    ("blueprint", blueprint),
    ("version", version),
    ("lock", lock),
];

/// Small limits, so that a fuzzer's input cannot make one run allocate much.
fn limits() -> Limits {
    Limits {
        max_data_size: 16 << 20,
        max_control_size: 1 << 20,
        max_file_size: 8 << 20,
        ..Limits::default()
    }
}

/// `APKINDEX` text.
pub fn apkindex_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = index::parse_text(text);
    }
}

/// `lib/apk/db/installed`: the reader `diff` uses (records with their `F:`, `R:`, `a:`,
/// `M:` and `Z:` lines, and the path-to-owner map), and the index record parser on the
/// same text.
pub fn installed_db(data: &[u8]) {
    if let Ok(records) = installed_read::parse(data) {
        let _ = installed_read::owners(&records);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = index::parse_text(text);
    }
}

/// `.PKGINFO` text.
pub fn pkginfo(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pkginfo::PkgInfo::parse(text);
    }
}

/// A whole `.apk`: the gzip member splitter, then the package reader with untrusted input
/// allowed, so that the fuzzer reaches past the signature checks.
pub fn package(data: &[u8]) {
    let _ = gzip::members(data);

    // The one-call inflate (libdeflate) and the stepwise one (zlib-rs) agree on every input:
    // the same output, or the same error.
    let (mut whole, mut stepwise) = (Vec::new(), Vec::new());
    let a = gzip::inflate_member_into(data, 0, &mut whole, 1 << 20).map_err(|e| format!("{e:?}"));
    let b = gzip::inflate_member(data, 0, &mut stepwise, 1 << 20).map_err(|e| format!("{e:?}"));
    assert_eq!(a, b, "the two inflate paths disagree");
    if a.is_ok() {
        assert_eq!(whole, stepwise, "the two inflate paths give different bytes");
    }

    let expect = Expect { limits: limits(), ..Expect::named("fuzz") };
    let trust = Trust { allow_untrusted: true };
    if let Ok(package) = read_package(data, &expect, &Keyring::new(), trust) {
        for entry in &package.entries {
            if let datatar::EntryKind::File { content } = &entry.kind {
                assert!(content.end <= package.data.len(), "file range past the data");
            }
        }
    }
}

/// A data tar, as `read_package` hands it to the apk tar reader.
pub fn datatar(data: &[u8]) {
    if let Ok(entries) = datatar::read_entries(data, &limits()) {
        for entry in entries {
            assert!(!entry.path.starts_with(b"/"), "absolute path survived");
            assert!(!entry.path.split(|&b| b == b'/').any(|c| c == b".."), "'..' survived");
        }
    }
}

/// A layer tar, as `image::open` hands it to the vfs layer reader.
pub fn layer(data: &[u8]) {
    let _ = read_layer(Arc::new(data.to_vec()), Metadata::directory(0o755));
}

/// A blueprint document.
pub fn blueprint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = blueprint::parse_str(text, Path::new("fuzz.yaml"), Path::new("/nonexistent"));
    }
}

/// Two versions separated by a NUL byte: parsed, compared both ways and matched. The
/// comparison must be antisymmetric.
pub fn version(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\0').unwrap_or((text, ""));
    let _ = version::Version::parse(a);
    let _ = version::is_valid(b);
    if let (Some(ab), Some(ba)) = (version::compare(a, b), version::compare(b, a)) {
        assert_eq!(ab, ba.reverse(), "compare({a:?}, {b:?}) is not antisymmetric");
    }
    let _ = version::compare_lenient(a, b);
    let _ = version::compare_prefix(a, b);
    let _ = version::fuzzy_match(a, b);
}

/// An `apko.lock.json`: parsed, and a lock that parses writes bytes that parse back to the
/// same lock and are written again unchanged.
pub fn lock(data: &[u8]) {
    let Ok(lock) = Lock::parse(data) else {
        return;
    };

    let bytes = lock.to_bytes();
    let again = Lock::parse(&bytes).expect("a written lock parses");
    assert_eq!(again, lock, "the lock changed through a write and a read");
    assert_eq!(again.to_bytes(), bytes, "writing is not stable");
}
