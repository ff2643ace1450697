//! Benchmarks for flatroot, and the fixture and corpus generators that they and the tests use.
//!
//! - [`fixture`] writes APK packages and indexes independently of flatroot's reader, and the
//!   committed fixture repository under `testdata/`.
//! - [`corpus`] prepares real repositories with the shared tools.
//! - [`httpd`] is a small HTTP(S) file server on loopback with faults on purpose.
//! - [`testenv`] finds the shared data and system tools, and says loudly when one is missing.

pub mod corpus;
pub mod fixture;
pub mod httpd;
pub mod testenv;
