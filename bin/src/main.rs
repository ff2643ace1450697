//! The `flatroot` command line.

fn main() {}
