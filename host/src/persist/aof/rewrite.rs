//! The contents of a base file: the keyspace (and function libraries) as
//! the commands that rebuild it, as Redis's rewriteAppendOnlyFileRio writes
//! them (SET, RPUSH/SADD/HMSET/ZADD in batches of 64, XADD/XSETID/XGROUP/
//! XCLAIM for streams, PEXPIREAT for TTLs, FUNCTION LOAD for libraries;
//! module values, which have no command form, as RESTORE of their payload).
//!
//! With `aof-use-rdb-preamble yes` the base is an RDB file instead
//! ([`rdb_base`], through persist/rdb's writer), as Redis 7.0 writes it.
//!
//! It reads a consistent view: the caller holds every shard lock while it
//! runs (no fork; see mod.rs for what that costs).

use crate::effects::encode_command;
use crate::store::stream::{IdBuf, StreamId, StreamValue};
use crate::store::{Locked, Value};

/// Items per command, Redis's AOF_REWRITE_ITEMS_PER_CMD.
const ITEMS_PER_CMD: usize = 64;

/// Appends the whole keyspace as commands. Keys already expired at `now_ms`
/// are left out. Returns the number of keys written.
pub fn keyspace(
    ks: &mut Locked<'_>,
    databases: usize,
    now_ms: i64,
    out: &mut Vec<u8>,
) -> Result<u64, String> {
    let mut keys = 0;
    for db in 0..databases {
        let mut selected = false;
        for shard in ks.shards_of(db) {
            for e in shard.table().iter() {
                let expire_at = e.expire_at();
                if expire_at.is_some_and(|at| at <= now_ms) {
                    continue;
                }
                if !selected {
                    let n = db.to_string();
                    encode_command(out, &[b"SELECT", n.as_bytes()]);
                    selected = true;
                }
                let key = e.key.as_slice();
                value(key, &e.value, out)?;
                if let Some(at) = expire_at {
                    let at = at.to_string();
                    encode_command(out, &[b"PEXPIREAT", key, at.as_bytes()]);
                }
                keys += 1;
            }
        }
    }
    Ok(keys)
}

/// `FUNCTION LOAD` of every library, as the base starts (Redis's rewriteFunctions).
pub fn functions(libs: &crate::commands::functions::Libraries, out: &mut Vec<u8>) {
    let mut names: Vec<&String> = libs.libs.keys().collect();
    names.sort();
    for name in names {
        if let Some(lib) = libs.libs.get(name) {
            encode_command(out, &[b"FUNCTION", b"LOAD", &lib.code]);
        }
    }
}

/// Emits `cmd key` followed by items, `ITEMS_PER_CMD` per command.
fn batched<'a>(
    out: &mut Vec<u8>,
    cmd: &'static [u8],
    key: &'a [u8],
    items: impl Iterator<Item = Vec<&'a [u8]>>,
) {
    let mut argv: Vec<&[u8]> = vec![cmd, key];
    let mut count = 0;
    for item in items {
        argv.extend(item);
        count += 1;
        if count == ITEMS_PER_CMD {
            encode_command(out, &argv);
            argv.truncate(2);
            count = 0;
        }
    }
    if count > 0 {
        encode_command(out, &argv);
    }
}

fn value(key: &[u8], v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Raw(_) => {
            let mut buf = itoa::Buffer::new();
            let bytes = v.as_bytes(&mut buf).unwrap_or_default();
            encode_command(out, &[b"SET", key, bytes]);
        }
        Value::List(l) => batched(out, b"RPUSH", key, l.iter().map(|e| vec![e])),
        Value::Set(s) => {
            let members: Vec<Vec<u8>> = s.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect();
            batched(
                out,
                b"SADD",
                key,
                members.iter().map(|m| vec![m.as_slice()]),
            );
        }
        Value::Hash(h) => batched(out, b"HMSET", key, h.iter().map(|(f, v)| vec![f, v])),
        Value::ZSet(z) => {
            let items: Vec<(String, &[u8])> = z
                .iter()
                .map(|(m, s)| (crate::util::float::fmt_double(s), m))
                .collect();
            batched(
                out,
                b"ZADD",
                key,
                items.iter().map(|(s, m)| vec![s.as_bytes(), *m]),
            );
        }
        Value::Stream(s) => stream(key, s, out),
        Value::Module(_) => {
            // A module value as its DUMP payload: no module command re-runs.
            let opts = crate::persist::rdb::RdbOptions::default();
            let payload = crate::persist::rdb::dump::dump_payload(v, &opts);
            encode_command(out, &[b"RESTORE", key, b"0", &payload, b"REPLACE"]);
        }
    }
    Ok(())
}

/// A stream as Redis's rewriteStreamObject writes it.
fn stream(key: &[u8], s: &StreamValue, out: &mut Vec<u8>) {
    let mut a = IdBuf::new();
    let mut b = IdBuf::new();
    if !s.is_empty() {
        s.range(StreamId::MIN, StreamId::MAX, false, |id, e| {
            let mut idb = IdBuf::new();
            let mut argv: Vec<&[u8]> = vec![b"XADD", key, id.format(&mut idb)];
            for (f, v) in e.pairs() {
                argv.push(f);
                argv.push(v);
            }
            encode_command(out, &argv);
            true
        });
    } else {
        // An empty stream still exists: create it and trim it away.
        encode_command(
            out,
            &[
                b"XADD",
                key,
                b"MAXLEN",
                b"0",
                s.last_id.format(&mut a),
                b"x",
                b"y",
            ],
        );
    }
    let added = s.entries_added.to_string();
    encode_command(
        out,
        &[
            b"XSETID",
            key,
            s.last_id.format(&mut a),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            s.max_deleted_id.format(&mut b),
        ],
    );
    for (name, g) in &s.groups {
        let read = g.entries_read.to_string();
        encode_command(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                g.last_id.format(&mut a),
                b"ENTRIESREAD",
                read.as_bytes(),
            ],
        );
        for (id, nack) in &g.pel {
            let time = nack.delivery_time.to_string();
            let count = nack.delivery_count.to_string();
            encode_command(
                out,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    &nack.consumer,
                    b"0",
                    id.format(&mut a),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"JUSTID",
                    b"FORCE",
                ],
            );
        }
        for (consumer, c) in &g.consumers {
            if c.pel.is_empty() {
                encode_command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
            }
        }
    }
}

/// The keyspace and the libraries as an RDB file (the `.base.rdb` of an
/// AOF with `aof-use-rdb-preamble yes`), keys expired at `now_ms` left out.
pub fn rdb_base(
    ks: &mut Locked<'_>,
    databases: usize,
    now_ms: i64,
    libs: &crate::commands::functions::Libraries,
    opts: crate::persist::rdb::RdbOptions,
) -> Result<Vec<u8>, String> {
    use crate::persist::rdb::{default_aux, EntryMeta, RdbWriter};
    let io = |e: std::io::Error| format!("writing the RDB preamble: {e}");
    let mut w = RdbWriter::new(Vec::new(), opts);
    w.header(&default_aux(crate::alloc::used_memory() as u64, true))
        .map_err(io)?;
    let mut names: Vec<&String> = libs.libs.keys().collect();
    names.sort();
    for name in names {
        if let Some(lib) = libs.libs.get(name) {
            w.function(&lib.code).map_err(io)?;
        }
    }
    for db in 0..databases {
        let (mut keys, mut expires) = (0u64, 0u64);
        for shard in ks.shards_of(db) {
            for e in shard.table().iter() {
                match e.expire_at() {
                    Some(at) if at <= now_ms => {}
                    Some(_) => {
                        keys += 1;
                        expires += 1;
                    }
                    None => keys += 1,
                }
            }
        }
        if keys == 0 {
            continue;
        }
        w.select_db(db, keys, expires).map_err(io)?;
        for shard in ks.shards_of(db) {
            for e in shard.table().iter() {
                let expire_at_ms = e.expire_at();
                if expire_at_ms.is_some_and(|at| at <= now_ms) {
                    continue;
                }
                let meta = EntryMeta {
                    expire_at_ms,
                    ..EntryMeta::default()
                };
                w.entry(e.key.as_slice(), &e.value, meta).map_err(io)?;
            }
        }
    }
    w.finish().map_err(io)
}
