//! Use cases over the ports.

pub mod tokens;
