//! SHA-256 digests in the form OCI descriptors carry them (`sha256:<64 lowercase hex>`).

use oci_spec::image::{Digest, Sha256Digest};
use sha2::{Digest as _, Sha256};

/// Why a digest could not be expressed as an OCI digest.
///
/// A SHA-256 rendered as 64 lowercase hex digits always parses; this error exists so that a
/// change in `oci-spec`'s validation surfaces as an error rather than a panic.
#[derive(Debug, thiserror::Error)]
#[error("cannot express sha256:{hex} as an oci digest")]
pub struct DigestError {
    /// The hex digits that were refused.
    pub hex: String,
    /// What `oci-spec` reported.
    #[source]
    pub source: oci_spec::OciSpecError,
}

/// The OCI digest of a finished SHA-256 hash.
///
/// # Errors
/// [`DigestError`] if `oci-spec` refuses the hex form, which a valid hash never triggers.
pub fn sha256_digest(hash: [u8; 32]) -> Result<Digest, DigestError> {
    let hex = hex::encode(hash);
    match hex.parse::<Sha256Digest>() {
        Ok(digest) => Ok(digest.into()),
        Err(source) => Err(DigestError { hex, source }),
    }
}

/// The OCI digest of `bytes`.
///
/// # Errors
/// As [`sha256_digest`].
pub fn digest_of(bytes: &[u8]) -> Result<Digest, DigestError> {
    sha256_digest(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_the_well_known_value() {
        let digest = digest_of(b"").unwrap();
        assert_eq!(
            digest.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
