//! What a blueprint gives inline for the image to trust: `contents.runtime_keyring` keys and
//! `certificates`.

use std::path::PathBuf;

use serde::Deserialize;

use super::types::nullable;

/// A file given inline: `{name, content}` (apko's `RuntimeKeyringEntry` and
/// `AdditionalCertificateEntry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineFile {
    /// `name`: the file name the content is installed under; `~` (null) is none.
    #[serde(default, deserialize_with = "super::types::nullable")]
    pub name: String,
    /// `content`: the PEM text.
    #[serde(default)]
    pub content: String,
    /// The blueprint file that gives the entry, set by the loader so that an error in an
    /// included file names that file; `None` for entries made otherwise.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

impl InlineFile {
    /// The blueprint file that gives the entry; `source` when the loader did not say.
    pub fn file_or(&self, source: &std::path::Path) -> PathBuf {
        self.file.clone().unwrap_or_else(|| source.to_path_buf())
    }
}

/// `certificates`: apko's `ImageCertificates`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    /// `additional`: PEM certificates given inline.
    #[serde(default, deserialize_with = "nullable")]
    pub additional: Vec<InlineFile>,
    /// `providers`: virtual package names whose certificate files form the CA bundle.
    #[serde(default, deserialize_with = "nullable")]
    pub providers: Vec<String>,
}
