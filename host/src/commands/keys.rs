//! Generic key commands (Redis's db.c and expire.c): existence, deletion,
//! renaming, copying and moving between databases, KEYS/SCAN/RANDOMKEY, TTLs,
//! and OBJECT introspection.

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::store::{Entry, SHARDS};
use crate::util::glob::glob_match;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, Group::Generic, del).flags(WRITE).keys(1, -1, 1)
        .doc("1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed.").syntax("key [key ...]"),
    CommandSpec::new("unlink", -2, Group::Generic, del).flags(WRITE | FAST).keys(1, -1, 1)
        .doc("4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.").syntax("key [key ...]"),
    CommandSpec::new("exists", -2, Group::Generic, exists).flags(READONLY | FAST).keys(1, -1, 1)
        .doc("1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.").syntax("key [key ...]"),
    CommandSpec::new("touch", -2, Group::Generic, touch).flags(READONLY | FAST).keys(1, -1, 1)
        .doc("3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.").syntax("key [key ...]"),
    CommandSpec::new("type", 2, Group::Generic, type_cmd).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Determines the type of value stored at a key.", "O(1)").syntax("key"),
    CommandSpec::new("rename", 3, Group::Generic, rename).flags(WRITE).keys(1, 2, 1)
        .doc("1.0.0", "Renames a key and overwrites the destination.", "O(1)").syntax("key newkey"),
    CommandSpec::new("renamenx", 3, Group::Generic, renamenx).flags(WRITE | FAST).keys(1, 2, 1)
        .doc("1.0.0", "Renames a key only when the target key name doesn't exist.", "O(1)").syntax("key newkey"),
    CommandSpec::new("copy", -3, Group::Generic, copy).flags(WRITE | DENYOOM | ALL_DBS).keys(1, 2, 1)
        .doc("6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.")
        .syntax("source destination [DB destination-db] [REPLACE]"),
    CommandSpec::new("move", 3, Group::Generic, move_cmd).flags(WRITE | FAST | ALL_DBS).keys(1, 1, 1)
        .doc("1.0.0", "Moves a key to another database.", "O(1)").syntax("key db"),
    CommandSpec::new("keys", 2, Group::Generic, keys).flags(READONLY | WHOLE_DB).acl(&["dangerous"])
        .doc("1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.")
        .syntax("pattern"),
    CommandSpec::new("scan", -2, Group::Generic, scan).flags(READONLY | WHOLE_DB)
        .doc("2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
        .syntax("cursor [MATCH pattern] [COUNT count] [TYPE type]"),
    CommandSpec::new("randomkey", 1, Group::Generic, randomkey).flags(READONLY | WHOLE_DB)
        .doc("1.0.0", "Returns a random key name from the database.", "O(1)"),
    CommandSpec::new("expire", -3, Group::Generic, expire).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Sets the expiration time of a key in seconds.", "O(1)").syntax("key seconds [NX | XX | GT | LT]"),
    CommandSpec::new("pexpire", -3, Group::Generic, pexpire).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("2.6.0", "Sets the expiration time of a key in milliseconds.", "O(1)").syntax("key milliseconds [NX | XX | GT | LT]"),
    CommandSpec::new("expireat", -3, Group::Generic, expireat).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "O(1)").syntax("key unix-time-seconds [NX | XX | GT | LT]"),
    CommandSpec::new("pexpireat", -3, Group::Generic, pexpireat).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "O(1)").syntax("key unix-time-milliseconds [NX | XX | GT | LT]"),
    CommandSpec::new("ttl", 2, Group::Generic, ttl).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("1.0.0", "Returns the expiration time in seconds of a key.", "O(1)").syntax("key"),
    CommandSpec::new("pttl", 2, Group::Generic, pttl).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("2.6.0", "Returns the expiration time in milliseconds of a key.", "O(1)").syntax("key"),
    CommandSpec::new("expiretime", 2, Group::Generic, expiretime).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "O(1)").syntax("key"),
    CommandSpec::new("pexpiretime", 2, Group::Generic, pexpiretime).flags(READONLY | FAST).keys(1, 1, 1)
        .doc("7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "O(1)").syntax("key"),
    CommandSpec::new("persist", 2, Group::Generic, persist).flags(WRITE | FAST).keys(1, 1, 1)
        .doc("2.2.0", "Removes the expiration time of a key.", "O(1)").syntax("key"),
    CommandSpec::new("object", -2, Group::Generic, container_help).flags(0)
        .doc("2.2.3", "A container for object introspection commands.", "Depends on subcommand.")
        .subcommands(OBJECT_SUBCOMMANDS),
];

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("encoding", 3, Group::Generic, object_encoding)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc(
            "2.2.3",
            "Returns the internal encoding of a Redis object.",
            "O(1)",
        )
        .syntax("key"),
    CommandSpec::new("refcount", 3, Group::Generic, object_refcount)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc(
            "2.2.3",
            "Returns the reference count of a value of a key.",
            "O(1)",
        )
        .syntax("key"),
    CommandSpec::new("idletime", 3, Group::Generic, object_idletime)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc(
            "2.2.3",
            "Returns the time since the last access to a Redis object.",
            "O(1)",
        )
        .syntax("key"),
    CommandSpec::new("freq", 3, Group::Generic, object_freq)
        .flags(READONLY)
        .keys(2, 2, 1)
        .doc(
            "4.0.0",
            "Returns the logarithmic access frequency counter of a Redis object.",
            "O(1)",
        )
        .syntax("key"),
    CommandSpec::new("help", 2, Group::Generic, object_help)
        .flags(LOADING | STALE)
        .doc(
            "6.2.0",
            "Returns helpful text about the different subcommands.",
            "O(1)",
        ),
];

/// A container command called with a subcommand that needs no handler of its
/// own never reaches here (the dispatcher resolves subcommands); this answers
/// the bare container, which only happens with too few arguments.
pub fn container_help(_ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::owned(format!(
        "ERR wrong number of arguments for '{}' command",
        String::from_utf8_lossy(argv[0]).to_ascii_lowercase()
    )))
}

fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut n = 0;
    for key in &argv[1..] {
        if ctx.ks.remove(db, key).is_some() {
            ctx.ks.touch(db, key);
            ctx.notify(notify::GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let n = argv[1..]
        .iter()
        .filter(|k| ctx.ks.read(db, k).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

fn touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    exists(ctx, argv)
}

fn type_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    // A read lookup like Redis's (counts a miss, raises `keymiss`).
    let name = ctx
        .ks
        .read(db, argv[1])
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    ctx.out.simple(name);
    Ok(())
}

/// RENAME and RENAMENX (Redis's renameGenericCommand). The TTL moves with the value.
fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let db = ctx.db();
    if !ctx.ks.exists(db, src) {
        return Err(CmdError::err("ERR no such key"));
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if nx && ctx.ks.exists(db, dst) {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(entry) = ctx.ks.remove(db, src) else {
        return Ok(());
    };
    let expire = entry.expire_at();
    ctx.ks.remove(db, dst);
    ctx.ks.set(db, dst, entry.value, expire);
    ctx.ks.touch(db, src);
    ctx.ks.touch(db, dst);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// A database index argument: getIntFromObjectOrReply plus the range check.
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let id = super::arg_i32(arg)?;
    if id < 0 || id as usize >= ctx.srv.store.databases() {
        return Err(CmdError::err("ERR DB index is out of range"));
    }
    Ok(id as usize)
}

fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if eq_ic(argv[j], "replace") {
            replace = true;
        } else if eq_ic(argv[j], "db") && j + 1 < argv.len() {
            dst_db = db_index(ctx, argv[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if ctx.srv.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        return Err(CmdError::err(
            "ERR Copying to another database is not allowed in cluster mode",
        ));
    }
    if src_db == dst_db && src == dst {
        return Err(CmdError::err(
            "ERR source and destination objects are the same",
        ));
    }
    let Some(e) = ctx.ks.read(src_db, src) else {
        ctx.out.int(0);
        return Ok(());
    };
    let (value, expire) = (e.value.clone(), e.expire_at());
    if ctx.ks.exists(dst_db, dst) {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.ks.remove(dst_db, dst);
    }
    ctx.ks.set(dst_db, dst, value, expire);
    ctx.ks.touch(dst_db, dst);
    ctx.notify_db(notify::GENERIC, "copy_to", dst, dst_db);
    ctx.out.int(1);
    Ok(())
}

fn move_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.cluster.is_some() {
        return Err(CmdError::err("ERR MOVE is not allowed in cluster mode"));
    }
    let key = argv[1];
    let src_db = ctx.db();
    let dst_db = db_index(ctx, argv[2])?;
    if src_db == dst_db {
        return Err(CmdError::err(
            "ERR source and destination objects are the same",
        ));
    }
    if !ctx.ks.exists(src_db, key) || ctx.ks.exists(dst_db, key) {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(entry) = ctx.ks.remove(src_db, key) else {
        return Ok(());
    };
    let expire = entry.expire_at();
    ctx.ks.set(dst_db, key, entry.value, expire);
    ctx.ks.touch(src_db, key);
    ctx.ks.touch(dst_db, key);
    ctx.notify_db(notify::GENERIC, "move_from", key, src_db);
    ctx.notify_db(notify::GENERIC, "move_to", key, dst_db);
    ctx.out.int(1);
    Ok(())
}

fn keys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pattern = argv[1];
    let all = pattern == b"*";
    let db = ctx.db();
    let now = ctx.now_ms();
    let mut found: Vec<Vec<u8>> = Vec::new();
    for shard in ctx.ks.shards_of(db) {
        for e in shard.table().iter() {
            let k = e.key.as_slice();
            if !e.is_expired(now) && (all || glob_match(pattern, k, false)) {
                found.push(k.to_vec());
            }
        }
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// SCAN's cursor packs the shard in the low bits and, above them, how many
/// table positions of that shard remain to visit (0 = start the shard afresh).
/// Tables are walked from the end (see KeyTable::remove_at for why that never
/// misses a key that stays present).
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

fn scan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = super::scan::parse_scan_cursor(argv[1])?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<&[u8]> = None;
    let mut j = 2;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq_ic(argv[j], "count") && more {
            let c = arg_i64(argv[j + 1])?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            count = c as usize;
        } else if eq_ic(argv[j], "match") && more {
            pattern = Some(argv[j + 1]);
        } else if eq_ic(argv[j], "type") && more {
            type_filter = Some(argv[j + 1]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let db = ctx.db();
    let now = ctx.now_ms();
    let mut shard_idx = (cursor & (SHARDS as u64 - 1)) as usize;
    let mut remaining = (cursor >> SHARD_BITS) as usize;
    let mut visited = 0;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut shards: Vec<_> = ctx.ks.shards_of(db).collect();
    let mut next_cursor = 0u64;
    while shard_idx < shards.len() {
        let table = shards[shard_idx].table();
        let start = if remaining == 0 {
            table.len()
        } else {
            remaining
        };
        let filter = |e: &Entry| {
            !e.is_expired(now)
                && pattern.is_none_or(|p| glob_match(p, e.key.as_slice(), false))
                && type_filter
                    .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
        };
        let next = table.scan(start, count - visited, |e| {
            visited += 1;
            if filter(e) {
                found.push(e.key.as_slice().to_vec());
            }
        });
        if next > 0 {
            next_cursor = ((next as u64) << SHARD_BITS) | shard_idx as u64;
            break;
        }
        shard_idx += 1;
        remaining = 0;
        if visited >= count {
            if shard_idx < shards.len() {
                next_cursor = shard_idx as u64;
            }
            break;
        }
    }
    shards.clear();
    ctx.out.array(2);
    ctx.out.bulk(next_cursor.to_string().as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    match ctx.ks.random_key(db) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (Redis's expireGenericCommand).
fn expire_generic(ctx: &mut Ctx, argv: &[&[u8]], relative: bool, seconds: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if eq_ic(opt, "nx") {
            nx = true;
        } else if eq_ic(opt, "xx") {
            xx = true;
        } else if eq_ic(opt, "gt") {
            gt = true;
        } else if eq_ic(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let name = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
    let invalid = || CmdError::owned(format!("ERR invalid expire time in '{name}' command"));
    let mut when = arg_i64(argv[2])?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if relative {
        when = when.checked_add(ctx.now_ms()).ok_or_else(invalid)?;
    }
    let db = ctx.db();
    let Some(e) = ctx.ks.get(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at();
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= ctx.now_ms() {
        ctx.ks.remove(db, argv[1]);
        ctx.propagate(&[b"DEL", argv[1]]);
        ctx.notify(notify::GENERIC, "del", argv[1]);
    } else {
        ctx.ks.set_expire(db, argv[1], Some(when));
        // Propagated as an absolute deadline, so a replay later sets the same one.
        // Redis rewrites only the name and the time: NX/XX/GT/LT stay.
        if ctx.propagating() && (relative || seconds) {
            let ms = when.to_string();
            let mut out: Vec<&[u8]> = vec![b"PEXPIREAT", argv[1], ms.as_bytes()];
            out.extend_from_slice(&argv[3..]);
            ctx.propagate(&out);
        }
        ctx.notify(notify::GENERIC, "expire", argv[1]);
    }
    ctx.ks.touch(db, argv[1]);
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, true)
}

fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, false)
}

fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, true)
}

fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, false)
}

/// TTL and friends (Redis's ttlGenericCommand): -2 missing, -1 no TTL.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], ms: bool, absolute: bool) -> CmdResult {
    let db = ctx.db();
    let now = ctx.now_ms();
    let reply = match ctx.ks.read(db, key) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let t = if absolute { at } else { (at - now).max(0) };
                if ms {
                    t
                } else {
                    // Wide arithmetic: a deadline near i64::MAX must not overflow.
                    ((t as i128 + 500) / 1000) as i64
                }
            }
        },
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, false)
}

fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, false)
}

fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, true)
}

fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let had_ttl = ctx
        .ks
        .get(db, argv[1])
        .and_then(|e| e.expire_at())
        .is_some();
    if had_ttl {
        ctx.ks.set_expire(db, argv[1], None);
        ctx.ks.touch(db, argv[1]);
        ctx.notify(notify::GENERIC, "persist", argv[1]);
    }
    ctx.out.int(had_ttl as i64);
    Ok(())
}

/// OBJECT subcommands look the key up without touching its access time.
fn object_entry<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c Entry> {
    let db = ctx.db();
    ctx.ks.peek(db, key)
}

fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match object_entry(ctx, argv[2]).map(|e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis shares the integer objects 0..9999: their refcount reads as INT_MAX.
    match object_entry(ctx, argv[2]).map(|e| matches!(e.value, crate::store::Value::Int(0..=9999)))
    {
        Some(true) => ctx.out.int(i32::MAX as i64),
        Some(false) => ctx.out.int(1),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.srv.store.evict.lfu()
}

fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if object_entry(ctx, argv[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    if lfu_policy(ctx) {
        return Err(CmdError::err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let now_s = (ctx.now_ms() / 1000) as u32;
    match object_entry(ctx, argv[2]).map(|e| e.idle_seconds(now_s)) {
        Some(idle) => ctx.out.int(idle as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if object_entry(ctx, argv[2]).is_none() {
        ctx.out.null();
        return Ok(());
    }
    if !lfu_policy(ctx) {
        return Err(CmdError::err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    // The counter decayed to now, without counting this look as an access.
    let now = ctx.now_ms();
    let field = object_entry(ctx, argv[2]).map(|e| e.lru()).unwrap_or(0);
    ctx.out
        .int(ctx.srv.store.evict.lfu_decayed(field, now) as i64);
    Ok(())
}

/// Writes a HELP reply: a status line per text line, as Redis's addReplyHelp.
pub fn reply_help(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

fn object_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
