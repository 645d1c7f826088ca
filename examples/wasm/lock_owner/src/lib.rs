//! Example EVAL script: the owner-checked operations of a `SET key token NX PX ms` lock, in Rust
//! (`lock_owner.lua` beside this crate is the same script in Lua; examples/distributed_lock.rs
//! runs both).
//!
//! ```text
//! EVALSHA <sha> 1 <lock key> release <token>        -> 1 released, 0 not the holder
//! EVALSHA <sha> 1 <lock key> extend <token> <ms>    -> 1 extended to <ms>, 0 not the holder
//! ```
//! Why a script: "GET, compare, then DEL" as two commands lets the lock expire and be taken by
//! another client between them, and the DEL would then release the other client's lock. A
//! script holds its key's lock for its whole run, so the check and the write cannot interleave.

use ember_guest_sdk::{call, Error, Input, Reply, Result};

fn main(input: &Input) -> Result<Reply> {
    let key = input.key(0)?;
    let op = input.arg(0)?;
    let token = input.arg(1)?;
    // Parse everything before touching the key, so a bad call never half-runs.
    let extend_ms = match op {
        b"release" => None,
        b"extend" => Some(input.arg_i64(2)?),
        _ => return Err(Error::new("ERR unknown operation, use release or extend")),
    };
    let holder = call!("GET", key)?;
    if holder.as_bytes() != Some(token) {
        return Ok(Reply::Int(0));
    }
    match extend_ms {
        None => call!("DEL", key)?,
        Some(ms) => call!("PEXPIRE", key, ms)?,
    };
    Ok(Reply::Int(1))
}

ember_guest_sdk::script!(main);
