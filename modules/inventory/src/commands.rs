//! The module's registration and the `INV.*` handlers: argument checks, the hash reads and writes
//! through the host, and the replies. The state transitions live in stock.rs.
//!
//! Each command is one invocation holding its key's lock from start to end, so read, decide and
//! write happen with no other client in between: that, plus counters that only move units
//! between `available`, `held` and `sold`, is the no-oversell guarantee. An error reply aborts the
//! invocation, which undoes every write it made (including a reclaim that ran first).

use ember_guest_sdk::{call, call_argv, time_ms, Command, Error, Input, Reply, Result};

use crate::stock::{
    self, hold_field, hold_value, Header, Parsed, Settle, AVAILABLE, HELD, NEXT_EXPIRY, SOLD,
};

ember_guest_sdk::module! {
    name: "inventory",
    version: 1,
    types: [],
    commands: [
        Command::new("inv.set", inv_set)
            .arity(3)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("Create or replace an inventory with a total stock"),
        Command::new("inv.get", inv_get)
            .arity(2)
            .flags("readonly")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("Available, held and sold units of an inventory"),
        Command::new("inv.hold", inv_hold)
            .arity(5)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("Reserve units for a buyer until a deadline"),
        Command::new("inv.confirm", inv_confirm)
            .arity(3)
            .flags("write")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("Turn a hold into a sale"),
        Command::new("inv.release", inv_release)
            .arity(3)
            .flags("write")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("Cancel a hold and return its units"),
        Command::new("inv.holds", inv_holds)
            .arity(2)
            .flags("readonly")
            .keys(1, 1, 1)
            .acl("inventory")
            .summary("List the live holds of an inventory"),
    ],
}

const ERR_NO_INVENTORY: &str = "ERR no such inventory";
const ERR_NO_HOLD: &str = "ERR no such hold";

fn err(text: &str) -> Error {
    Error::new(text)
}

/// Read the header; `None` when the key does not exist, WRONGTYPE when it is not an inventory
/// (a non-hash is refused by HMGET itself).
fn read_header(key: &[u8]) -> Result<Option<Header>> {
    let fields = call!("HMGET", key, AVAILABLE, HELD, SOLD, NEXT_EXPIRY)?
        .into_array()
        .unwrap_or_default();
    let get = |i: usize| fields.get(i).and_then(Reply::as_bytes);
    match stock::parse_header([get(0), get(1), get(2), get(3)]).map_err(err)? {
        Parsed::Absent => {
            if call!("EXISTS", key)?.as_int() == Some(1) {
                Err(Error::wrong_type())
            } else {
                Ok(None)
            }
        }
        Parsed::NotInventory => Err(Error::wrong_type()),
        Parsed::Inventory(h) => Ok(Some(h)),
    }
}

/// Scan the holds (`HGETALL`) and expire the ones past `now`, without writing.
fn scan(key: &[u8], header: Header, now: i64) -> Result<stock::Reclaimed> {
    let flat = call!("HGETALL", key)?.into_array().unwrap_or_default();
    let pairs = flat
        .chunks_exact(2)
        .filter_map(|kv| Some((kv[0].as_bytes()?, kv[1].as_bytes()?)));
    let holds = stock::holds_from_pairs(pairs).map_err(err)?;
    stock::reclaim(header, holds, now).map_err(err)
}

/// The current header with expired holds reclaimed, for commands that do not write.
fn current_header(key: &[u8], header: Header, now: i64) -> Result<Header> {
    if stock::needs_scan(&header, now) {
        Ok(scan(key, header, now)?.header)
    } else {
        Ok(header)
    }
}

/// A write command's view of one inventory: the header as read, and as it will be written.
struct Txn<'a> {
    key: &'a [u8],
    read: Header,
    header: Header,
}

impl<'a> Txn<'a> {
    /// Read the inventory and reclaim expired holds (their fields are deleted right away; the
    /// counters are written by [`Txn::commit`]). ERR no such inventory when the key is missing.
    fn open(key: &'a [u8], now: i64) -> Result<Txn<'a>> {
        let read = read_header(key)?.ok_or_else(|| err(ERR_NO_INVENTORY))?;
        let mut header = read;
        if stock::needs_scan(&read, now) {
            let reclaimed = scan(key, read, now)?;
            if !reclaimed.expired.is_empty() {
                let fields: Vec<Vec<u8>> = reclaimed
                    .expired
                    .iter()
                    .map(|h| hold_field(&h.id))
                    .collect();
                hdel(key, fields.iter().map(Vec::as_slice))?;
            }
            header = reclaimed.header;
        }
        Ok(Txn { key, read, header })
    }

    /// Write the counters (and the scan hint) if they changed.
    fn commit(self) -> Result<()> {
        if self.header == self.read {
            return Ok(());
        }
        let h = self.header;
        match h.next_expiry {
            Some(t) => call!(
                "HSET",
                self.key,
                AVAILABLE,
                h.available,
                HELD,
                h.held,
                SOLD,
                h.sold,
                NEXT_EXPIRY,
                t
            )?,
            None => call!(
                "HSET",
                self.key,
                AVAILABLE,
                h.available,
                HELD,
                h.held,
                SOLD,
                h.sold
            )?,
        };
        if h.next_expiry.is_none() && self.read.next_expiry.is_some() {
            call!("HDEL", self.key, NEXT_EXPIRY)?;
        }
        Ok(())
    }
}

fn hdel<'f>(key: &'f [u8], fields: impl Iterator<Item = &'f [u8]>) -> Result<()> {
    let mut argv: Vec<&[u8]> = vec![b"HDEL", key];
    argv.extend(fields);
    call_argv(&argv)?;
    Ok(())
}

/// `INV.SET key total` -> OK.
fn inv_set(input: &Input) -> Result<Reply> {
    let key = input.arg(1)?;
    let total = input.arg_i64(2)?;
    if total < 0 {
        return Err(err("ERR total must be a non-negative integer"));
    }
    // Refuse to clobber a key that is not an inventory, then start from a clean hash so no
    // hold of the previous stock survives.
    if read_header(key)?.is_some() {
        call!("DEL", key)?;
    }
    call!("HSET", key, AVAILABLE, total, HELD, 0i64, SOLD, 0i64)?;
    Ok(Reply::ok())
}

/// `INV.GET key` -> `[available, held, sold]`, or nil when there is no such inventory.
fn inv_get(input: &Input) -> Result<Reply> {
    let key = input.arg(1)?;
    let Some(header) = read_header(key)? else {
        return Ok(Reply::NilArray);
    };
    let h = current_header(key, header, time_ms())?;
    Ok(Reply::Array(vec![
        Reply::Int(h.available),
        Reply::Int(h.held),
        Reply::Int(h.sold),
    ]))
}

/// `INV.HOLD key hold_id qty ttl_ms` -> 1 when held, 0 when not enough stock is available.
fn inv_hold(input: &Input) -> Result<Reply> {
    let key = input.arg(1)?;
    let id = input.arg(2)?;
    let qty = input.arg_i64(3)?;
    let ttl_ms = input.arg_i64(4)?;
    if qty <= 0 {
        return Err(err("ERR quantity must be a positive integer"));
    }
    if ttl_ms <= 0 {
        return Err(err("ERR ttl must be a positive number of milliseconds"));
    }
    let now = time_ms();
    let deadline = now
        .checked_add(ttl_ms)
        .ok_or_else(|| err("ERR ttl is out of range"))?;
    let mut txn = Txn::open(key, now)?;
    let field = hold_field(id);
    if call!("HEXISTS", key, field.as_slice())?.as_int() == Some(1) {
        return Err(err("ERR hold already exists"));
    }
    let placed = stock::place(&txn.header, qty, deadline).map_err(err)?;
    let reply = match placed {
        None => 0,
        Some(header) => {
            txn.header = header;
            let value = hold_value(qty, deadline);
            call!("HSET", key, field.as_slice(), value.as_str())?;
            1
        }
    };
    txn.commit()?;
    Ok(Reply::Int(reply))
}

/// Shared body of `INV.CONFIRM` and `INV.RELEASE`: end a live hold; reply its quantity.
fn settle(input: &Input, how: Settle) -> Result<Reply> {
    let key = input.arg(1)?;
    let id = input.arg(2)?;
    let mut txn = Txn::open(key, time_ms())?;
    let field = hold_field(id);
    let stored = call!("HGET", key, field.as_slice())?;
    let Some(value) = stored.as_bytes() else {
        return Err(err(ERR_NO_HOLD));
    };
    let (qty, _deadline) = stock::parse_hold_value(value).map_err(err)?;
    call!("HDEL", key, field.as_slice())?;
    txn.header = stock::settle(&txn.header, qty, how).map_err(err)?;
    txn.commit()?;
    Ok(Reply::Int(qty))
}

/// `INV.CONFIRM key hold_id` -> the quantity sold.
fn inv_confirm(input: &Input) -> Result<Reply> {
    settle(input, Settle::Confirm)
}

/// `INV.RELEASE key hold_id` -> the quantity returned to stock.
fn inv_release(input: &Input) -> Result<Reply> {
    settle(input, Settle::Release)
}

/// `INV.HOLDS key` -> `[[hold_id, qty, ttl_ms], ...]`, soonest deadline first.
fn inv_holds(input: &Input) -> Result<Reply> {
    let key = input.arg(1)?;
    let Some(header) = read_header(key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let now = time_ms();
    let live = scan(key, header, now)?.live;
    Ok(Reply::Array(
        live.into_iter()
            .map(|h| {
                Reply::Array(vec![
                    Reply::Bulk(h.id),
                    Reply::Int(h.qty),
                    Reply::Int(h.deadline_ms.saturating_sub(now)),
                ])
            })
            .collect(),
    ))
}
