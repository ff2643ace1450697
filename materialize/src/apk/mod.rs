//! The APK v2 formats: versions, dependency syntax, indexes, packages and their signatures.

pub mod datatar;
pub mod dependency;
pub mod gzip;
pub mod index;
mod libdeflate;
pub mod package;
pub mod pkginfo;
pub mod signature;
pub mod signed_index;
pub mod version;
