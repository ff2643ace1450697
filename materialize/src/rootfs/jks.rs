//! Java KeyStore (JKS) files, as far as adding trusted certificates to a truststore such
//! as `etc/ssl/certs/java/cacerts` needs: read, check against the store's password, add or
//! replace entries, write again.
//!
//! The layout (version 2, all integers big-endian): magic `FEEDFEED`, version, entry count,
//! then per entry a tag (1: private key, 2: trusted certificate), the alias (a 16-bit length
//! and the bytes), and the entry's body; for a trusted certificate the creation time (64-bit
//! milliseconds since the epoch), the certificate type (`X.509`, as the alias is written)
//! and the DER (a 32-bit length and the bytes). The file ends with a SHA-1 over the password
//! in UTF-16BE, the words `Mighty Aphrodite` and everything before it.
//!
//! A store is written back with its entries in alias order, each alias in lower case as Java
//! keeps them, which makes the bytes a function of the entries alone.

use std::collections::BTreeMap;

use sha1::{Digest as _, Sha1};

const MAGIC: u32 = 0xFEED_FEED;
const VERSION: u32 = 2;
const PRIVATE_KEY: u32 = 1;
const TRUSTED_CERTIFICATE: u32 = 2;
const WHITENER: &[u8] = b"Mighty Aphrodite";

/// The password of Java's `cacerts` truststore.
pub const CACERTS_PASSWORD: &str = "changeit";

/// Why bytes are not a JKS store this module can change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JksError {
    /// The file ends before what it says it holds.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// Not a JKS store (a PKCS#12 store, for one).
    #[error("not a Java KeyStore (JKS): it does not start with FEEDFEED")]
    Magic,
    /// A version other than 2.
    #[error("JKS version {0}; expected 2")]
    Version(u32),
    /// An entry of a kind JKS does not have.
    #[error("entry {0} has unknown tag {1}")]
    Tag(usize, u32),
    /// The final SHA-1 does not match the password and content.
    #[error("its integrity check fails with the password {CACERTS_PASSWORD:?}")]
    Digest,
    /// More bytes after the final SHA-1.
    #[error("{0} bytes after its integrity check")]
    Trailing(usize),
    /// An alias or a certificate too long for its length field.
    #[error("an alias or certificate too long for JKS")]
    TooLong,
}

/// A trusted certificate to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCertificate {
    /// The alias (made lower case when added).
    pub alias: String,
    /// When it was added, in milliseconds since the epoch.
    pub created_ms: u64,
    /// The certificate's DER.
    pub der: Vec<u8>,
}

/// Adds `certificates` to the JKS store `bytes` protected by `password` (an entry of the same
/// alias is replaced) and returns the new store.
///
/// # Errors
/// [`JksError`] when `bytes` are no JKS store of version 2 that `password` opens.
pub fn add_trusted(
    bytes: &[u8],
    password: &str,
    certificates: &[TrustedCertificate],
) -> Result<Vec<u8>, JksError> {
    let mut entries = read(bytes, password)?;
    for certificate in certificates {
        let mut body = Vec::new();
        body.extend_from_slice(&certificate.created_ms.to_be_bytes());
        put_short_bytes(&mut body, b"X.509")?;
        put_long_bytes(&mut body, &certificate.der)?;
        entries.insert(certificate.alias.to_lowercase().into_bytes(), (TRUSTED_CERTIFICATE, body));
    }
    write(&entries, password)
}

/// Entries by alias: their tag and their body as the file holds it.
type Entries = BTreeMap<Vec<u8>, (u32, Vec<u8>)>;

fn read(bytes: &[u8], password: &str) -> Result<Entries, JksError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.u32()? != MAGIC {
        return Err(JksError::Magic);
    }
    let version = reader.u32()?;
    if version != VERSION {
        return Err(JksError::Version(version));
    }

    let count = reader.u32()?;
    let mut entries = Entries::new();
    for index in 0..count as usize {
        let tag = reader.u32()?;
        let alias = reader.short_bytes()?.to_vec();
        let start = reader.at;
        reader.take(8)?;
        match tag {
            PRIVATE_KEY => {
                reader.long_bytes()?;
                let chain = reader.u32()?;
                for _ in 0..chain {
                    reader.short_bytes()?;
                    reader.long_bytes()?;
                }
            }
            TRUSTED_CERTIFICATE => {
                reader.short_bytes()?;
                reader.long_bytes()?;
            }
            other => return Err(JksError::Tag(index, other)),
        }
        // A later entry of an alias replaces an earlier one, as Java loads them.
        entries.insert(alias, (tag, bytes[start..reader.at].to_vec()));
    }

    let end = reader.at;
    let digest = reader.take(20)?;
    if digest != digest_of(&bytes[..end], password).as_slice() {
        return Err(JksError::Digest);
    }
    match bytes.len() - reader.at {
        0 => Ok(entries),
        extra => Err(JksError::Trailing(extra)),
    }
}

fn write(entries: &Entries, password: &str) -> Result<Vec<u8>, JksError> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    let count = u32::try_from(entries.len()).map_err(|_| JksError::TooLong)?;
    out.extend_from_slice(&count.to_be_bytes());
    for (alias, (tag, body)) in entries {
        out.extend_from_slice(&tag.to_be_bytes());
        put_short_bytes(&mut out, alias)?;
        out.extend_from_slice(body);
    }
    let digest = digest_of(&out, password);
    out.extend_from_slice(&digest);
    Ok(out)
}

fn digest_of(content: &[u8], password: &str) -> [u8; 20] {
    let mut sha = Sha1::new();
    for unit in password.encode_utf16() {
        sha.update(unit.to_be_bytes());
    }
    sha.update(WHITENER);
    sha.update(content);
    sha.finalize().into()
}

fn put_short_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), JksError> {
    let len = u16::try_from(bytes.len()).map_err(|_| JksError::TooLong)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_long_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), JksError> {
    let len = u32::try_from(bytes.len()).map_err(|_| JksError::TooLong)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads big-endian fields from the front of a store.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], JksError> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(JksError::Truncated(self.bytes.len()))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, JksError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn short_bytes(&mut self) -> Result<&'a [u8], JksError> {
        let len = self.take(2)?;
        self.take(usize::from(u16::from_be_bytes([len[0], len[1]])))
    }

    fn long_bytes(&mut self) -> Result<&'a [u8], JksError> {
        let len = self.u32()?;
        self.take(len as usize)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn certificate(alias: &str, der: &[u8]) -> TrustedCertificate {
        TrustedCertificate { alias: alias.to_string(), created_ms: 1_000, der: der.to_vec() }
    }

    #[test]
    fn entries_are_added_in_alias_order_and_read_back() {
        let empty = write(&Entries::new(), CACERTS_PASSWORD).unwrap();
        let one = add_trusted(&empty, CACERTS_PASSWORD, &[certificate("Zed", b"z")]).unwrap();
        let two = add_trusted(&one, CACERTS_PASSWORD, &[certificate("alpha", b"a")]).unwrap();

        let entries = read(&two, CACERTS_PASSWORD).unwrap();
        let aliases: Vec<&[u8]> = entries.keys().map(Vec::as_slice).collect();
        assert_eq!(aliases, [&b"alpha"[..], b"zed"], "sorted, in lower case");
        // The same entries in another order give the same bytes.
        let other = add_trusted(&empty, CACERTS_PASSWORD, &[certificate("alpha", b"a")]).unwrap();
        let other = add_trusted(&other, CACERTS_PASSWORD, &[certificate("ZED", b"z")]).unwrap();
        assert_eq!(other, two);
        // A body is the time, the type and the DER.
        let (tag, body) = &entries[&b"alpha"[..]];
        assert_eq!(*tag, TRUSTED_CERTIFICATE);
        assert_eq!(body, &[&1000u64.to_be_bytes()[..], b"\0\x05X.509\0\0\0\x01a"].concat());
    }

    #[test]
    fn a_store_that_is_not_jks_or_fails_its_check_is_refused() {
        let store = write(&Entries::new(), CACERTS_PASSWORD).unwrap();
        assert_eq!(read(&store, "another"), Err(JksError::Digest));
        assert_eq!(read(b"\x30\x82\x01\x00", CACERTS_PASSWORD), Err(JksError::Magic));
        assert_eq!(read(&store[..10], CACERTS_PASSWORD), Err(JksError::Truncated(10)));
        let mut longer = store.clone();
        longer.push(0);
        assert_eq!(read(&longer, CACERTS_PASSWORD), Err(JksError::Trailing(1)));
        let mut v1 = store;
        v1[7] = 1;
        assert_eq!(read(&v1, CACERTS_PASSWORD), Err(JksError::Version(1)));
    }
}
