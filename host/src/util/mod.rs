//! Small shared helpers: glob matching, Redis-exact number parsing and formatting, blocking off a tokio worker.

pub mod float;
pub mod glob;
pub mod hll;
pub mod num;
pub mod worker;
