//! DUMP and RESTORE: a key's value as Redis's serialized payload (the RDB
//! encoding of the value, the RDB version, a CRC-64), so values move between
//! Redis and Ember both ways. The format lives in persist/rdb/dump.rs.

use super::notify;
use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, CmdError, CmdResult, Ctx};
use crate::persist::rdb::dump::{dump_payload, parse_dump_payload, DumpError};
use crate::persist::rdb::RdbOptions;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, Group::Generic, dump).flags(READONLY).keys(1, 1, 1)
        .doc("2.6.0", "Returns a serialized representation of the value stored at a key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).")
        .syntax("key"),
    CommandSpec::new("restore", -4, Group::Generic, restore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(&["dangerous"])
        .doc("2.6.0", "Creates a key from the serialized representation of a value.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .syntax("key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]"),
    // What MIGRATE sends in cluster mode: RESTORE that a slot being imported
    // accepts without ASKING (cluster/routing.rs).
    CommandSpec::new("restore-asking", -4, Group::Server, restore).flags(WRITE | DENYOOM).keys(1, 1, 1).acl(&["keyspace", "dangerous"])
        .doc("3.0.0", "An internal command for migrating keys in a cluster.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .syntax("key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]"),
];

fn dump(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = RdbOptions::from_config(&ctx.srv.config.read());
    let db = ctx.db();
    match ctx.ks.read(db, argv[1]) {
        Some(e) => {
            let payload = dump_payload(&e.value, &opts);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (mut replace, mut absttl) = (false, false);
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        if eq_ic(argv[j], "replace") {
            replace = true;
        } else if eq_ic(argv[j], "absttl") {
            absttl = true;
        } else if eq_ic(argv[j], "idletime") && more >= 1 && freq.is_none() {
            let v = arg_i64(argv[j + 1])?;
            if v < 0 {
                return Err(CmdError::err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if eq_ic(argv[j], "freq") && more >= 1 && idle.is_none() {
            let v = arg_i64(argv[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let db = ctx.db();
    if !replace && ctx.ks.exists(db, key) {
        return Err(CmdError::err("BUSYKEY Target key name already exists."));
    }
    let mut ttl = arg_i64(argv[2])?;
    if ttl < 0 {
        return Err(CmdError::err("ERR Invalid TTL value, must be >= 0"));
    }
    let opts = RdbOptions::from_config(&ctx.srv.config.read());
    let lfu = ctx.srv.store.evict.lfu();
    let value = match parse_dump_payload(argv[3], &opts) {
        Ok(v) => v,
        Err(DumpError::VersionOrChecksum) => {
            return Err(CmdError::err(
                "ERR DUMP payload version or checksum are wrong",
            ))
        }
        Err(DumpError::BadData(_)) => return Err(CmdError::err("ERR Bad data format")),
    };
    let deleted = replace && ctx.ks.remove(db, key).is_some();
    let now = ctx.now_ms();
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        // Already expired: nothing is created (a replaced key is just gone).
        if deleted {
            ctx.ks.touch(db, key);
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    ctx.ks.set(db, key, value, (ttl != 0).then_some(ttl));
    // IDLETIME sets the LRU clock, FREQ the LFU counter; each only under
    // its kind of policy, as in Redis's objectSetLRUOrLFU.
    if let (Some(idle), false) = (idle, lfu) {
        if let Some(e) = ctx.ks.get(db, key) {
            e.set_idle_seconds((now / 1000) as u32, idle as u64);
        }
    }
    if let Some(f) = freq {
        ctx.ks.set_freq(db, key, f as u8);
    }
    ctx.ks.touch(db, key);
    // Redis propagates a relative TTL as the absolute one, with ABSTTL.
    if ttl != 0 && !absttl && ctx.propagating() {
        let at = ttl.to_string();
        let mut out: Vec<&[u8]> = argv.to_vec();
        out[2] = at.as_bytes();
        out.push(b"ABSTTL");
        ctx.propagate(&out);
    }
    ctx.notify(notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
