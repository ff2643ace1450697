//! Benchmarks for flatroot, and the fixture and corpus generators that they and the tests use.
//!
//! - [`fixture`] writes APK packages and indexes independently of flatroot's reader, and the
//!   committed fixture repository under `testdata/`.
//! - [`corpus`] prepares real repositories with the shared tools.
//! - [`harness`] times benchmark commands and writes the baselines they are compared with.
//! - [`httpd`] is a small HTTP(S) file server on loopback with faults on purpose.
//! - [`upgrade`] writes a repository with one package upgraded, for rebuild benchmarks.
//! - [`testenv`] finds the shared data and system tools, and says loudly when one is missing.
//! - [`registry`] runs a real `docker-registry` on loopback (and a token endpoint for it).

pub mod corpus;
pub mod fixture;
pub mod harness;
pub mod httpd;
pub mod registry;
pub mod testenv;
pub mod upgrade;
