//! The APK v2 formats: versions, dependency syntax, indexes, packages and their signatures.

pub mod dependency;
pub mod index;
pub mod version;
