//! Example EVAL script: hand a counter hash to a flusher, in Rust (`counter_take.lua` beside this
//! crate is the Lua twin; examples/counter_flush.rs runs both, and the plain RENAME way).
//!
//! ```text
//! EVALSHA <sha> 2 <live hash> <batch key>   -> the batch as [field, count, field, count, ...]
//! ```
//! Moves the live hash (where writers HINCRBY) to the batch key and returns the batch. If the
//! batch key already exists (a flusher took it and died before writing it out), it is returned
//! as it is and the live hash is left alone, so a retried flush never merges two batches. An
//! empty reply means nothing was counted. Both keys must hash to the same slot in a cluster
//! (`{ctr}:live`, `{ctr}:batch:7`).

use ember_guest_sdk::{call, Input, Reply, Result};

fn main(input: &Input) -> Result<Reply> {
    let live = input.key(0)?;
    let batch = input.key(1)?;
    if call!("EXISTS", batch)?.as_int() == Some(0) {
        if call!("EXISTS", live)?.as_int() == Some(0) {
            return Ok(Reply::Array(Vec::new()));
        }
        call!("RENAME", live, batch)?;
    }
    call!("HGETALL", batch)
}

ember_guest_sdk::script!(main);
