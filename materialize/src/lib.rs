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
