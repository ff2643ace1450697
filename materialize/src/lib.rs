//! Everything that turns an apko blueprint into a flatroot tree, and a tree into an image.
//!
//! The pipeline reads off the module list: [`blueprint`] parses the apko YAML,
//! [`repository`] loads signed indexes, [`resolve`] chooses exact packages, [`apk`] reads and
//! verifies package files, [`unpack`] merges their data into a [`flatroot_vfs::Tree`],
//! [`lock`] reads and writes apko's lock files, [`rootfs`] adds the generated files apk-tools
//! would write, and [`oci`] serializes the tree into a layer and an image. [`build`] drives
//! the whole of it; [`http`] is the one HTTP(S) client that remote repositories and
//! registries share, [`fetch`] brings remote indexes and packages through the [`cache`],
//! and [`registry`] pushes images to and pulls them from OCI registries.

pub mod apk;
pub mod blueprint;
pub mod build;
pub mod cache;
pub mod diff;
pub mod fetch;
pub mod files;
pub mod http;
pub mod image;
pub mod lock;
pub mod oci;
pub mod pem;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod repository;
pub mod resolve;
pub mod rootfs;
pub mod store;
pub mod terminal;
pub mod unpack;

/// `error` and each of its causes, joined by `: `, as the command line shows them: for a
/// message that carries a whole error as text (a warning, another error's detail).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// A serde message in a file's author's words: "expected struct Name" (a type of this crate,
/// which the author never sees) becomes "expected " and `container` (`a mapping`, `a JSON
/// object`), and serde's "unit value" becomes "null".
pub(crate) fn plain_serde_message(message: &str, container: &str) -> String {
    const MARKER: &str = "expected struct ";
    let message = message.replace("unit value", "null");
    let Some(at) = message.find(MARKER) else { return message };
    let before = message.get(..at).unwrap_or_default();
    let name = message.get(at + MARKER.len()..).unwrap_or_default();
    let end = name.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(name.len());
    let after = name.get(end..).unwrap_or_default();
    // serde says how many elements a struct read from a sequence wants: not a sequence here.
    let counted = after.strip_prefix(" with ").and_then(|count| {
        count.find(" elements").and_then(|at| count.get(at + " elements".len()..))
    });
    format!("{before}expected {container}{}", counted.unwrap_or(after))
}

/// What the JSON parser said of a file (a lock, a docker config, a helper's answer), in its
/// author's words: no names of this crate's types (see [`plain_serde_message`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonDetail(String);

impl From<serde_json::Error> for JsonDetail {
    fn from(error: serde_json::Error) -> JsonDetail {
        JsonDetail(plain_serde_message(&error.to_string(), "a JSON object"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serde_messages_lose_type_names() {
        let plain = |m: &str| super::plain_serde_message(m, "a mapping");
        assert_eq!(
            plain("invalid type: string \"\", expected struct OsRelease at line 1 column 3"),
            "invalid type: string \"\", expected a mapping at line 1 column 3"
        );
        assert_eq!(
            plain("invalid length 0, expected struct Lock with 3 elements"),
            "invalid length 0, expected a mapping"
        );
        assert_eq!(
            plain("paths[0]: invalid type: unit value, expected a mapping"),
            "paths[0]: invalid type: null, expected a mapping"
        );
        assert_eq!(plain("unknown field `x`"), "unknown field `x`");
    }
}
