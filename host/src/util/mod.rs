//! Small shared helpers: glob matching, Redis-exact number parsing and formatting, blocking off a tokio worker.

pub mod csort;
pub mod float;
pub mod geohash;
pub mod glob;
pub mod histogram;
pub mod hll;
pub mod num;
pub mod sparkline;
pub mod worker;
