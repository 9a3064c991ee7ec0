//! The `sim` command line.
fn main() {}
