//! Example EVAL script: sell a held seat, in Rust (`seat_confirm.lua` beside this crate is the
//! Lua twin; examples/ticket_booking.rs runs both).
//!
//! ```text
//! SET <seat key> held:<buyer> NX PX 600000          # the hold: plain SET, no script needed
//! EVALSHA <sha> 1 <seat key> <buyer> <channel>      -> 1 sold, 0 the buyer holds no such seat
//! ```
//! The seat key holds `held:<buyer>` (with the hold's TTL) while a buyer pays, and `sold:<buyer>`
//! (no TTL) once sold. Confirming checks that the hold is still this buyer's, makes it a sale
//! and publishes `sold <seat key> <buyer>` on the seat-map channel, in one atomic step: a hold
//! that expired during payment cannot be confirmed, and a seat cannot be sold twice.

use ember_guest_sdk::{call, Input, Reply, Result};

fn main(input: &Input) -> Result<Reply> {
    let seat = input.key(0)?;
    let buyer = input.arg(0)?;
    let channel = input.arg(1)?;
    let held = [b"held:".as_slice(), buyer].concat();
    if call!("GET", seat)?.as_bytes() != Some(held.as_slice()) {
        return Ok(Reply::Int(0));
    }
    // SET without EX/PX drops the hold's TTL: a sale does not expire.
    call!("SET", seat, [b"sold:".as_slice(), buyer].concat())?;
    let event = [b"sold ".as_slice(), seat, b" ", buyer].concat();
    call!("PUBLISH", channel, event)?;
    Ok(Reply::Int(1))
}

ember_guest_sdk::script!(main);
