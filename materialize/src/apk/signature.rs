//! APK v2 signatures: the keyring, the signature segment and the verification rule.
//!
//! A signed `.apk` or `APKINDEX.tar.gz` starts with a gzip member holding a tar of
//! `.SIGN.RSA.<key name>` (RSA PKCS#1 v1.5 over SHA-1) or `.SIGN.RSA256.<key name>` (over
//! SHA-256) entries. Each signs the exact compressed bytes of the next gzip member. The key
//! name is the file name of a public key in the keyring (`/etc/apk/keys` for apk-tools), so a
//! [`Keyring`] maps file names to keys.
//!
//! [`verify`] follows apk-tools: the data is trusted when one signature made with a known key
//! verifies; signatures naming unknown keys are skipped. A signature naming a known key that
//! does not verify is logged at debug level, and if no other signature verifies, the error
//! is [`SignatureError::BadSignature`] (not "unknown key"), so tampering is reported as such.
//! [`Trust`] decides what happens when verification fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::apk::datatar::{self, DataTarError, Limits};

/// The most bytes a public key file may have; real ones are under 1 KiB.
pub const MAX_KEY_SIZE: u64 = 64 << 10;

/// Public keys trusted for APK signatures, by file name, each with the PEM text it was read
/// from (what an image's `etc/apk/keys/NAME` holds).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, (RsaPublicKey, String)>,
    /// Where each key added by [`Keyring::insert_from`] came from, by name.
    origins: BTreeMap<String, String>,
}

impl Keyring {
    /// An empty keyring: nothing verifies against it.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Loads PEM public keys from files, each under its file name (the name signatures use,
    /// e.g. `alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`).
    ///
    /// # Errors
    /// [`SignatureError::ReadKey`] if a file cannot be read or has no UTF-8 file name,
    /// [`SignatureError::BadKey`] if it holds no RSA public key in PEM,
    /// [`SignatureError::NameTaken`] if two files of one name hold different keys.
    pub fn load_files(paths: &[PathBuf]) -> Result<Keyring, SignatureError> {
        let mut keyring = Keyring::new();
        for path in paths {
            keyring.insert_file(path)?;
        }
        Ok(keyring)
    }

    /// Adds the key in the PEM file at `path`, under its file name, as
    /// [`Keyring::insert_from`] adds it.
    ///
    /// # Errors
    /// As [`Keyring::load_files`].
    pub fn insert_file(&mut self, path: &Path) -> Result<(), SignatureError> {
        let name = key_name(path)?;
        let read_error = |source| SignatureError::ReadKey { path: path.to_path_buf(), source };
        let bytes = crate::files::read_bounded(path, MAX_KEY_SIZE, "the size of a public key")
            .map_err(read_error)?;
        let pem = String::from_utf8(bytes).map_err(|_| {
            read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
        })?;
        self.insert_from(&name, &pem, &path.display().to_string())
    }

    /// Adds the key `name` from PEM text read from `origin` (a path or URL, for errors), as
    /// [`Keyring::insert_pem`] does, unless a key of that name from elsewhere is held
    /// already: the same key again is one key (the first copy kept), another is an error,
    /// since a signature names its key by name alone and an image's `etc/apk/keys` holds one
    /// file of each name. On error the keyring is left as it was.
    ///
    /// # Errors
    /// [`SignatureError::NameTaken`] naming both origins, or as [`Keyring::insert_pem`].
    pub fn insert_from(
        &mut self,
        name: &str,
        pem: &str,
        origin: &str,
    ) -> Result<(), SignatureError> {
        // An error names where the key came from (its file or URL), not just its name.
        let key = parse_pem(origin, pem)?;
        if let (Some(held), Some(first)) = (self.get(name), self.origins.get(name)) {
            if *held == key {
                return Ok(());
            }
            let (first, second) = (first.clone(), origin.to_string());
            return Err(SignatureError::NameTaken { name: name.to_string(), first, second });
        }
        self.keys.insert(name.to_string(), (key, pem.to_string()));
        self.origins.insert(name.to_string(), origin.to_string());
        Ok(())
    }

    /// Adds (or replaces) the key `name` from PEM text: SubjectPublicKeyInfo
    /// (`-----BEGIN PUBLIC KEY-----`, what abuild and melange write) or PKCS#1
    /// (`-----BEGIN RSA PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`SignatureError::BadKey`] when the text is neither.
    pub fn insert_pem(&mut self, name: &str, pem: &str) -> Result<(), SignatureError> {
        let key = parse_pem(name, pem)?;
        self.keys.insert(name.to_string(), (key, pem.to_string()));
        Ok(())
    }

    /// Each key's name and PEM text, in byte order of the names.
    pub fn pems(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().map(|(name, (_, pem))| (name.as_str(), pem.as_str()))
    }

    /// The key names, in byte order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The key stored under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&RsaPublicKey> {
        self.keys.get(name).map(|(key, _)| key)
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn key_name(path: &Path) -> Result<String, SignatureError> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_string).ok_or_else(|| {
        SignatureError::ReadKey {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "key path has no UTF-8 file name",
            ),
        }
    })
}

/// The digest a signature entry signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// `.SIGN.RSA.`: RSA PKCS#1 v1.5 over SHA-1.
    RsaSha1,
    /// `.SIGN.RSA256.`: RSA PKCS#1 v1.5 over SHA-256.
    RsaSha256,
}

/// One `.SIGN.*` entry of a signature segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// Which digest is signed, from the entry name's prefix.
    pub algorithm: Algorithm,
    /// The key's file name, the rest of the entry name.
    pub key_name: String,
    /// The raw signature (as long as the key's modulus).
    pub signature: Vec<u8>,
}

/// Whether data that fails verification may still be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trust {
    /// Accept unsigned data, data signed only by unknown keys, and data whose signatures do
    /// not verify (apk's `--allow-untrusted`). Default `false`. Accepted data is reported as
    /// unverified (`None` from [`Trust::check`]) so the caller can record it.
    pub allow_untrusted: bool,
}

impl Trust {
    /// Verifies as [`verify`] does, then applies the trust policy: `Some(key name)` when a
    /// signature verified, `None` when verification failed but untrusted data is allowed.
    ///
    /// # Errors
    /// The error of [`verify`], when untrusted data is not allowed.
    pub fn check(
        &self,
        keyring: &Keyring,
        entries: &[SignatureEntry],
        signed: &[u8],
    ) -> Result<Option<String>, SignatureError> {
        match verify(keyring, entries, signed) {
            Ok(name) => Ok(Some(name)),
            Err(error) if self.allow_untrusted => {
                tracing::debug!(%error, "accepting unverified data: untrusted data is allowed");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

/// The RSA public key in `pem` (SubjectPublicKeyInfo or PKCS#1, one PEM block, whatever text
/// is around it), written
/// again as SubjectPublicKeyInfo PEM with LF line ends: the form apk reads its keys in, the
/// same text for the same key however it was given.
///
/// # Errors
/// [`SignatureError::BadKey`] naming `name`, for text that is not one RSA public key.
pub fn canonical_public_key_pem(name: &str, pem: &str) -> Result<String, SignatureError> {
    use rsa::pkcs8::EncodePublicKey as _;

    let bad = || SignatureError::BadKey { name: name.to_string(), source: None };
    if crate::pem::block_count(pem) != 1 {
        return Err(bad());
    }
    let key = parse_pem(name, crate::pem::first_block(pem).ok_or_else(bad)?)?;
    key.to_public_key_pem(rsa::pkcs8::LineEnding::LF).map_err(|_| bad())
}

/// The RSA public key in `pem` (SubjectPublicKeyInfo or PKCS#1), named `name` in errors.
fn parse_pem(name: &str, pem: &str) -> Result<RsaPublicKey, SignatureError> {
    match RsaPublicKey::from_public_key_pem(pem) {
        Ok(key) => Ok(key),
        // A well-formed public key of another algorithm (EC, Ed25519): the decoder names the
        // OID it expected, which would only confuse.
        Err(rsa::pkcs8::spki::Error::OidUnknown { .. }) => {
            Err(SignatureError::NotRsa { name: name.to_string() })
        }
        Err(spki) => RsaPublicKey::from_pkcs1_pem(pem).map_err(|_| {
            // Without a PEM block, the decoder's complaint about the text is noise.
            let source = pem.contains("-----BEGIN").then_some(spki);
            SignatureError::BadKey { name: name.to_string(), source }
        }),
    }
}

/// What is wrong with a key or a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// A key file could not be read.
    #[error("cannot read key {path}")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file holds no RSA public key in PEM.
    #[error(
        "key {name} is not a PEM RSA public key: expected -----BEGIN PUBLIC KEY----- \
         or -----BEGIN RSA PUBLIC KEY-----"
    )]
    BadKey {
        /// The key's name.
        name: String,
        /// The SubjectPublicKeyInfo decoding error, when the text has a PEM block at all.
        #[source]
        source: Option<rsa::pkcs8::spki::Error>,
    },
    /// A public key of an algorithm other than RSA, which apk does not sign with.
    #[error("key {name} is not an RSA key (apk signs with RSA only)")]
    NotRsa {
        /// The key's name.
        name: String,
    },
    /// Two keys of one name, from different places, differ.
    #[error(
        "keyring: {first} and {second} are both named {name} but hold different keys; a \
         signature names its key by file name, so one of them must be renamed or left out"
    )]
    NameTaken {
        /// The key's file name.
        name: String,
        /// Where the key first added came from.
        first: String,
        /// Where the other came from.
        second: String,
    },
    /// The signature segment is not a well-formed tar.
    #[error("malformed signature segment")]
    Segment {
        /// The tar error.
        #[source]
        source: DataTarError,
    },
    /// An entry of the signature segment is not `.SIGN.RSA.*` or `.SIGN.RSA256.*`.
    #[error("signature segment entry {name:?} is not .SIGN.RSA.<key> or .SIGN.RSA256.<key>")]
    UnknownEntry {
        /// The entry's name.
        name: String,
    },
    /// The segment holds only `.SIGN.*` entries of kinds this reader cannot verify.
    #[error("signed only with unsupported signature kinds: {}", .names.join(", "))]
    Unsupported {
        /// The entry names.
        names: Vec<String>,
    },
    /// No signature at all.
    #[error("no signature")]
    Unsigned,
    /// Signatures exist, but none names a key of the keyring.
    #[error("signed only by unknown keys: {}", .names.join(", "))]
    UnknownKeys {
        /// The key names the signatures give.
        names: Vec<String>,
    },
    /// Every signature by a known key failed to verify.
    #[error("bad signature by key {}", .names.join(", "))]
    BadSignature {
        /// The known keys whose signatures failed.
        names: Vec<String>,
    },
}

/// Whether the tar `segment` (a decompressed first gzip member) is a signature segment:
/// its first entry is named `.SIGN.*`.
pub fn is_signature_segment(segment: &[u8]) -> bool {
    let limits = Limits::default();
    match datatar::RawEntries::new(segment, &limits).next() {
        Some(Ok(entry)) => entry.name.starts_with(b".SIGN."),
        _ => false,
    }
}

/// Reads the `.SIGN.*` entries of a decompressed signature segment, in order.
///
/// # Errors
/// [`SignatureError::Segment`] for a malformed tar, [`SignatureError::UnknownEntry`] for an
/// entry that is not `.SIGN.*` (or has no key name), [`SignatureError::Unsupported`] when every
/// entry is of an unsupported kind (those are otherwise skipped), and
/// [`SignatureError::Unsigned`] for a segment without entries.
pub fn read_signature_segment(segment: &[u8]) -> Result<Vec<SignatureEntry>, SignatureError> {
    let limits = Limits::default();
    let mut entries = Vec::new();
    let mut unsupported = Vec::new();
    for raw in datatar::RawEntries::new(segment, &limits) {
        let raw = raw.map_err(|source| SignatureError::Segment { source })?;
        let name = String::from_utf8_lossy(&raw.name).into_owned();
        let (algorithm, key_name) = if let Some(key) = name.strip_prefix(".SIGN.RSA256.") {
            (Algorithm::RsaSha256, key)
        } else if let Some(key) = name.strip_prefix(".SIGN.RSA.") {
            (Algorithm::RsaSha1, key)
        } else if name.starts_with(".SIGN.") {
            // Another signature scheme (e.g. `.SIGN.RSA512.`): like a signature by an unknown
            // key, it cannot vouch for the data, but need not reject it either.
            tracing::debug!(entry = %name, "skipping signature of an unsupported kind");
            unsupported.push(name);
            continue;
        } else {
            return Err(SignatureError::UnknownEntry { name });
        };
        if key_name.is_empty() || !matches!(raw.typeflag, b'0' | b'\0') {
            return Err(SignatureError::UnknownEntry { name });
        }
        entries.push(SignatureEntry {
            algorithm,
            key_name: key_name.to_string(),
            signature: segment[raw.content.clone()].to_vec(),
        });
    }
    if entries.is_empty() && !unsupported.is_empty() {
        return Err(SignatureError::Unsupported { names: unsupported });
    }
    if entries.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    Ok(entries)
}

/// Verifies `signed` (the compressed bytes of the member after the signature segment)
/// against `entries`, returning the name of the key that verified it.
///
/// As apk-tools does (`apk_sign_ctx_process_file`), the first entry that names a key in
/// the keyring decides: entries naming unknown keys are skipped, and a bad signature by a
/// known key is an error even if a later entry would verify. A bad signature by a trusted
/// key name is evidence of tampering, not something to route around.
///
/// # Errors
/// [`SignatureError::Unsigned`] without entries, [`SignatureError::BadSignature`] when the
/// first known key's signature fails, [`SignatureError::UnknownKeys`] when no entry names a
/// known key.
pub fn verify(
    keyring: &Keyring,
    entries: &[SignatureEntry],
    signed: &[u8],
) -> Result<String, SignatureError> {
    if entries.is_empty() {
        return Err(SignatureError::Unsigned);
    }

    // Digests are computed once, and only for the algorithms that a known key needs.
    let mut sha1: Option<[u8; 20]> = None;
    let mut sha256: Option<[u8; 32]> = None;
    let mut failed = Vec::new();
    for entry in entries {
        let Some(key) = keyring.get(&entry.key_name) else {
            tracing::debug!(key = %entry.key_name, "skipping signature by an unknown key");
            continue;
        };
        let result = match entry.algorithm {
            Algorithm::RsaSha1 => {
                let digest = sha1.get_or_insert_with(|| Sha1::digest(signed).into());
                key.verify(Pkcs1v15Sign::new::<Sha1>(), digest, &entry.signature)
            }
            Algorithm::RsaSha256 => {
                let digest = sha256.get_or_insert_with(|| Sha256::digest(signed).into());
                key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, &entry.signature)
            }
        };
        match result {
            Ok(()) => {
                tracing::debug!(key = %entry.key_name, "signature verified");
                return Ok(entry.key_name.clone());
            }
            Err(error) => {
                tracing::debug!(key = %entry.key_name, %error, "signature by a known key fails");
                failed.push(entry.key_name.clone());
                break;
            }
        }
    }

    if !failed.is_empty() {
        return Err(SignatureError::BadSignature { names: failed });
    }
    Err(SignatureError::UnknownKeys { names: entries.iter().map(|e| e.key_name.clone()).collect() })
}

#[cfg(test)]
pub(crate) mod tests {
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};

    use super::*;

    /// A deterministic 1024-bit test key (small, so tests stay fast).
    pub(crate) fn key(seed: u64) -> RsaPrivateKey {
        use rand_core_shim::SeededRng;
        RsaPrivateKey::new(&mut SeededRng(seed), 1024).unwrap()
    }

    /// A tiny deterministic RNG for test keys (not for real keys).
    mod rand_core_shim {
        pub struct SeededRng(pub u64);
        impl rsa::rand_core::RngCore for SeededRng {
            fn next_u32(&mut self) -> u32 {
                self.next_u64() as u32
            }
            fn next_u64(&mut self) -> u64 {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                self.0 >> 11
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                for b in dest {
                    *b = self.next_u64() as u8;
                }
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl rsa::rand_core::CryptoRng for SeededRng {}
    }

    pub(crate) fn sign(
        key: &RsaPrivateKey,
        algorithm: Algorithm,
        name: &str,
        data: &[u8],
    ) -> SignatureEntry {
        let signature = match algorithm {
            Algorithm::RsaSha1 => {
                key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data)).unwrap()
            }
            Algorithm::RsaSha256 => {
                key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data)).unwrap()
            }
        };
        SignatureEntry { algorithm, key_name: name.into(), signature }
    }

    pub(crate) fn keyring(entries: &[(&str, &RsaPrivateKey)]) -> Keyring {
        let mut keyring = Keyring::new();
        for (name, key) in entries {
            let pem = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
            keyring.insert_pem(name, &pem).unwrap();
        }
        keyring
    }

    #[test]
    fn verifies_sha1_and_sha256_signatures_by_known_keys() {
        let (a, b) = (key(1), key(2));
        let ring = keyring(&[("a.rsa.pub", &a), ("b.rsa.pub", &b)]);
        assert_eq!(ring.names().collect::<Vec<_>>(), ["a.rsa.pub", "b.rsa.pub"]);
        let sig = sign(&a, Algorithm::RsaSha1, "a.rsa.pub", b"data");
        assert_eq!(verify(&ring, &[sig], b"data").unwrap(), "a.rsa.pub");
        let sig = sign(&b, Algorithm::RsaSha256, "b.rsa.pub", b"data");
        assert_eq!(verify(&ring, &[sig], b"data").unwrap(), "b.rsa.pub");
    }

    #[test]
    fn skips_unknown_keys_and_accepts_one_good_signature() {
        let (a, b) = (key(1), key(2));
        let ring = keyring(&[("a.rsa.pub", &a)]);
        let entries = [
            sign(&b, Algorithm::RsaSha256, "other.rsa.pub", b"data"),
            sign(&a, Algorithm::RsaSha256, "a.rsa.pub", b"data"),
        ];
        assert_eq!(verify(&ring, &entries, b"data").unwrap(), "a.rsa.pub");
        let err = verify(&ring, &entries[..1], b"data").unwrap_err();
        assert!(
            matches!(err, SignatureError::UnknownKeys { ref names } if names == &["other.rsa.pub"])
        );
    }

    #[test]
    fn the_first_signature_by_a_known_key_decides() {
        let (a, b) = (key(1), key(2));
        let ring = keyring(&[("a.rsa.pub", &a), ("b.rsa.pub", &b)]);
        // Same name, wrong key: the signature was made by b but names a.
        let wrong = sign(&b, Algorithm::RsaSha1, "a.rsa.pub", b"data");
        let err = verify(&ring, std::slice::from_ref(&wrong), b"data").unwrap_err();
        assert!(
            matches!(err, SignatureError::BadSignature { ref names } if names == &["a.rsa.pub"])
        );
        let good = sign(&b, Algorithm::RsaSha1, "b.rsa.pub", b"data");
        let unknown = sign(&b, Algorithm::RsaSha1, "stranger.rsa.pub", b"data");
        assert_eq!(verify(&ring, &[unknown, good.clone()], b"data").unwrap(), "b.rsa.pub");
        assert!(matches!(
            verify(&ring, &[wrong.clone(), good.clone()], b"data"),
            Err(SignatureError::BadSignature { ref names }) if names == &["a.rsa.pub"]
        ));
        assert_eq!(verify(&ring, &[good, wrong], b"data").unwrap(), "b.rsa.pub");
        let tampered = sign(&a, Algorithm::RsaSha1, "a.rsa.pub", b"data");
        assert!(matches!(
            verify(&ring, &[tampered], b"datA"),
            Err(SignatureError::BadSignature { .. })
        ));
    }

    #[test]
    fn trust_accepts_failures_only_when_untrusted_is_allowed() {
        let ring = Keyring::new();
        let strict = Trust::default();
        assert!(matches!(strict.check(&ring, &[], b"x"), Err(SignatureError::Unsigned)));
        let loose = Trust { allow_untrusted: true };
        assert_eq!(loose.check(&ring, &[], b"x").unwrap(), None);
    }

    #[test]
    fn reads_segments_and_skips_unsupported_signature_kinds() {
        use crate::apk::datatar::tests::entry;
        let segment = [
            entry(b".SIGN.RSA512.k.rsa.pub", b'0', b"sig0", 0o644, b""),
            entry(b".SIGN.RSA256.k.rsa.pub", b'0', b"sig1", 0o644, b""),
            entry(b".SIGN.RSA.j.rsa.pub", b'0', b"sig2", 0o644, b""),
        ]
        .concat();
        assert!(is_signature_segment(&segment));
        let entries = read_signature_segment(&segment).unwrap();
        let read: Vec<_> =
            entries.iter().map(|e| (e.algorithm, e.key_name.as_str(), &e.signature[..])).collect();
        assert_eq!(
            read,
            [
                (Algorithm::RsaSha256, "k.rsa.pub", &b"sig1"[..]),
                (Algorithm::RsaSha1, "j.rsa.pub", &b"sig2"[..])
            ]
        );
        let only_unsupported = entry(b".SIGN.DSA.k", b'0', b"x", 0o644, b"");
        let err = read_signature_segment(&only_unsupported).unwrap_err();
        assert!(
            matches!(err, SignatureError::Unsupported { ref names } if names == &[".SIGN.DSA.k"])
        );
        let other = [segment, entry(b".PKGINFO", b'0', b"x", 0o644, b"")].concat();
        let err = read_signature_segment(&other).unwrap_err();
        assert!(matches!(err, SignatureError::UnknownEntry { ref name } if name == ".PKGINFO"));
        assert!(!is_signature_segment(&entry(b".PKGINFO", b'0', b"x", 0o644, b"")));
    }

    #[test]
    fn two_different_keys_of_one_name_are_refused_naming_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let pem = |seed| key(seed).to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        let write = |sub: &str, seed| {
            let path = dir.path().join(sub).join("k.rsa.pub");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, pem(seed)).unwrap();
            path
        };
        let (first, again, other) = (write("a", 1), write("b", 1), write("c", 2));

        let keyring = Keyring::load_files(&[first.clone(), again]).unwrap();
        assert_eq!(keyring.names().collect::<Vec<_>>(), ["k.rsa.pub"], "one key, twice");

        let error = Keyring::load_files(&[first.clone(), other.clone()]).unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, SignatureError::NameTaken { .. }), "{text}");
        let (first, other) = (first.display().to_string(), other.display().to_string());
        assert!(text.contains(&first) && text.contains(&other), "{text}");
    }

    #[test]
    fn rejects_keys_that_are_not_pem() {
        let err = Keyring::new().insert_pem("k", "not a key").unwrap_err();
        assert!(matches!(err, SignatureError::BadKey { ref name, .. } if name == "k"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.rsa.pub");
        std::fs::write(&path, "not a key").unwrap();
        let err = Keyring::new().insert_file(&path).unwrap_err();
        assert!(err.to_string().starts_with(&format!("key {} is not", path.display())), "{err}");
    }

    #[test]
    fn a_key_of_another_algorithm_is_said_to_be_no_rsa_key() {
        // A P-256 public key, made with `openssl ecparam -genkey | openssl ec -pubout`.
        let ec = "-----BEGIN PUBLIC KEY-----\n\
                  MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr8AMl+AJFc9y8X/towMCWADcND0V\n\
                  Jf0/jZZO+S7lZ9nT7wPnYK15iJ7mNJvlgqCvO0zJ4c6C8f6tSj1qRvdmTw==\n\
                  -----END PUBLIC KEY-----\n";
        let err = canonical_public_key_pem("ec.pub", ec).unwrap_err();
        assert_eq!(err.to_string(), "key ec.pub is not an RSA key (apk signs with RSA only)");
    }
}
