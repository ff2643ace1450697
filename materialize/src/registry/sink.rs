//! Where pulled content goes: an image layout being written, or memory. Each blob's digest
//! and size are computed as its bytes arrive, for the caller to check.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::RegistryError;
use crate::oci::layout::{BlobWriter, LayoutError, LayoutWriter};

/// Where pulled content goes.
pub(crate) trait Target: Sync {
    /// Stores a manifest, already verified.
    fn manifest(&self, bytes: &[u8]) -> Result<(), RegistryError>;
    /// Starts storing a blob; its digest is known at the end.
    fn blob(&self) -> Result<Box<dyn BlobOut + '_>, RegistryError>;
}

/// A blob being stored.
pub(crate) trait BlobOut {
    fn write(&mut self, bytes: &[u8]) -> Result<(), RegistryError>;
    /// The `sha256:<hex>` digest and size of what was written.
    fn finish(self: Box<Self>) -> Result<(String, u64), RegistryError>;
}

pub(crate) struct LayoutTarget<'a>(pub &'a LayoutWriter);

impl LayoutTarget<'_> {
    fn error(&self, source: LayoutError) -> RegistryError {
        RegistryError::Write { path: self.0.temp_dir().to_path_buf(), source }
    }
}

impl Target for LayoutTarget<'_> {
    fn manifest(&self, bytes: &[u8]) -> Result<(), RegistryError> {
        self.0.add_blob(bytes).map(drop).map_err(|e| self.error(e))
    }

    fn blob(&self) -> Result<Box<dyn BlobOut + '_>, RegistryError> {
        let writer = self.0.blob_writer().map_err(|e| self.error(e))?;
        Ok(Box::new(LayoutBlob { writer, target: self }))
    }
}

struct LayoutBlob<'a> {
    writer: BlobWriter<'a>,
    target: &'a LayoutTarget<'a>,
}

impl BlobOut for LayoutBlob<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), RegistryError> {
        use std::io::Write as _;
        self.writer.write_all(bytes).map_err(|source| {
            self.target.error(LayoutError::Io {
                action: "write",
                path: self.target.0.temp_dir().to_path_buf(),
                source,
            })
        })
    }

    fn finish(self: Box<Self>) -> Result<(String, u64), RegistryError> {
        let target = self.target;
        let stored = self.writer.finish().map_err(|e| target.error(e))?;
        Ok((stored.digest.to_string(), stored.size))
    }
}

/// Blobs held in memory by their layout path (`blobs/sha256/<hex>`).
#[derive(Default)]
pub(crate) struct MemoryTarget {
    pub files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryTarget {
    fn insert(&self, hex: String, bytes: Vec<u8>) {
        let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        files.insert(format!("blobs/sha256/{hex}"), bytes);
    }
}

impl Target for MemoryTarget {
    fn manifest(&self, bytes: &[u8]) -> Result<(), RegistryError> {
        self.insert(hex::encode(Sha256::digest(bytes)), bytes.to_vec());
        Ok(())
    }

    fn blob(&self) -> Result<Box<dyn BlobOut + '_>, RegistryError> {
        Ok(Box::new(MemoryBlob { target: self, bytes: Vec::new(), hasher: Sha256::new() }))
    }
}

struct MemoryBlob<'a> {
    target: &'a MemoryTarget,
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl BlobOut for MemoryBlob<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), RegistryError> {
        self.hasher.update(bytes);
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(String, u64), RegistryError> {
        let hex = hex::encode(self.hasher.finalize());
        let size = self.bytes.len() as u64;
        self.target.insert(hex.clone(), self.bytes);
        Ok((format!("sha256:{hex}"), size))
    }
}
