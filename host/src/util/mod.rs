//! Small shared helpers: glob matching, Redis-exact number parsing and formatting.

pub mod float;
pub mod glob;
pub mod hll;
pub mod num;
