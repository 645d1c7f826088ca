//! Persistence in Redis's own formats (DESIGN.md "Persistence"): the
//! multi-part AOF (aof/), fed by the write-effects stream.

pub mod aof;
