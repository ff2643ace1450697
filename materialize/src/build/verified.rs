//! Packages verified once per process: the images of a batch and the sides of a diff read
//! many of the same packages, and each would otherwise read every package file again,
//! check its signature and hash its data, only to find the data already in the
//! [`crate::store::DataStore`].
//!
//! A package is known by everything its verification depends on: where its file is (a path
//! or a URL) and the architecture, its name, version and index checksum, whether that index was
//! signed, the keys it was checked against, and the limits and trust of the build. The same
//! package met again under all of these is the same verified package, so a later build takes
//! the result (the record completed from the control segment, the data, the scripts)
//! without reading the file. What enters its tree is exactly what the signed index vouches
//! for, as it was when first verified.

use super::memo::Memo;
use crate::apk::datatar::Limits;
use crate::apk::index::{Checksum, IndexEntry};
use crate::apk::signature::Keyring;
use crate::unpack::UnpackedPackage;

/// A verified package and whether it was accepted without a verified signature.
pub(crate) type Verified = (UnpackedPackage, bool);

/// What a package's verification depends on (see the module documentation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PackageKey {
    file: std::path::PathBuf,
    arch: String,
    name: String,
    version: String,
    checksum: Option<Checksum>,
    index_signed: bool,
    keyring: [u8; 32],
    limits: Limits,
    allow_untrusted: bool,
}

impl PackageKey {
    /// The key of `record`, whose file is at `file`, from an index for `arch`, checked
    /// against the keys `keyring` names (see [`keyring_digest`]).
    pub(crate) fn new(
        file: &std::path::Path,
        arch: &str,
        record: &IndexEntry,
        index_signed: bool,
        keyring: [u8; 32],
        limits: Limits,
        allow_untrusted: bool,
    ) -> PackageKey {
        PackageKey {
            file: file.to_path_buf(),
            arch: arch.to_string(),
            name: record.name.clone(),
            version: record.version.clone(),
            checksum: record.checksum.clone(),
            index_signed,
            keyring,
            limits,
            allow_untrusted,
        }
    }
}

/// A digest of every key of `keyring`, by name and content.
pub(crate) fn keyring_digest(keyring: &Keyring) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for (name, pem) in keyring.pems() {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(pem.len() as u64).to_le_bytes());
        hasher.update(pem.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// The packages a process has verified, by [`PackageKey`].
///
/// Cloning shares it. Concurrent builds asking for one package verify it once: the second
/// waits for the first's result. A failed verification is not kept, so each build that
/// meets a bad package reports it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VerifiedPackages {
    memo: Memo<PackageKey, Verified>,
}

impl std::fmt::Debug for VerifiedPackages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPackages").field("known", &self.memo.len()).finish()
    }
}

impl VerifiedPackages {
    /// How many packages have been asked for.
    pub fn len(&self) -> usize {
        self.memo.len()
    }

    /// Whether no package has been asked for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The package of `key`: verified earlier (the flag says so), or now by `verify`.
    pub(crate) fn get<E>(
        &self,
        key: PackageKey,
        verify: impl FnOnce() -> Result<Verified, E>,
    ) -> Result<(Verified, bool), E> {
        self.memo.get(key, verify)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn package(name: &str) -> Verified {
        let record = IndexEntry { name: name.into(), version: "1-r0".into(), ..Default::default() };
        let buffer: flatroot_vfs::SharedBuffer = std::sync::Arc::new(Vec::<u8>::new());
        let package = UnpackedPackage {
            record,
            buffer,
            name: None,
            entries: Vec::new().into(),
            scripts: Vec::new(),
            triggers: Vec::new(),
        };
        (package, false)
    }

    fn key(name: &str, keyring: u8, allow_untrusted: bool) -> PackageKey {
        let record = IndexEntry { name: name.into(), version: "1-r0".into(), ..Default::default() };
        let limits = Limits::default();
        let file = std::path::Path::new("repo/x86_64/a.apk");
        PackageKey::new(file, "x86_64", &record, true, [keyring; 32], limits, allow_untrusted)
    }

    #[test]
    fn a_package_is_verified_once_per_key_and_failures_are_not_kept() {
        let verified = VerifiedPackages::default();
        let mut calls = 0;
        let mut get = |key: PackageKey, fail: bool| {
            verified.get(key, || {
                calls += 1;
                if fail { Err("bad") } else { Ok(package("a")) }
            })
        };

        assert!(!get(key("a", 1, false), false).unwrap().1);
        assert!(get(key("a", 1, false), false).unwrap().1, "the second is taken");
        // Another keyring or trust is another verification.
        assert!(!get(key("a", 2, false), false).unwrap().1);
        assert!(!get(key("a", 1, true), false).unwrap().1);
        // A failure is reported each time.
        assert!(get(key("b", 1, false), true).is_err());
        assert!(get(key("b", 1, false), true).is_err());
        assert_eq!(calls, 5);
    }
}
