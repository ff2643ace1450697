//! flatroot's fuzz targets; see `targets` and RELIABILITY.md.

pub mod targets;
