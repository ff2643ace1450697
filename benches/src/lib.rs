//! Benchmarks for flatroot, and the fixture and corpus generators that they and the tests use.

pub mod fixture;
