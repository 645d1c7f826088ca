//! The contents of a base file: the keyspace (and function libraries) as
//! the commands that rebuild it, as Redis's rewriteAppendOnlyFileRio writes
//! them (SET, RPUSH/SADD/HMSET/ZADD in batches of 64, XADD/XSETID/XGROUP/
//! XCLAIM for streams, PEXPIREAT for TTLs, FUNCTION LOAD for libraries;
//! module values, which have no command form, as RESTORE of their payload).
//!
//! With `aof-use-rdb-preamble yes` the base is an RDB file instead
//! (persist/snapshot.rs's `write_rdb`, the one RDB serializer), as Redis 7.0
//! writes it.
//!
//! It reads a point-in-time snapshot (store/snapshot.rs) stepped from the
//! rewrite thread: no fork, and no lock held longer than one step.

use crate::effects::encode_command;
use crate::persist::snapshot::STEP_ENTRIES;
use crate::store::stream::{IdBuf, StreamId, StreamValue};
use crate::store::{Snapshot, Store, Value};
use std::io::Write;

/// Items per command, Redis's AOF_REWRITE_ITEMS_PER_CMD.
const ITEMS_PER_CMD: usize = 64;

/// Streams a running snapshot's keyspace to `out` as commands. Keys already
/// expired at `now_ms` (the snapshot's point in time) are left out. Each
/// step's commands are rendered under one shard lock into a buffer and
/// written after it is released, so a slow disk never holds a lock;
/// `delay_us` sleeps that long per key (`rdb-key-save-delay`, for tests).
/// Returns the number of keys written.
pub fn keyspace<W: Write>(
    store: &Store,
    snap: &mut Snapshot,
    now_ms: i64,
    delay_us: u64,
    out: &mut W,
) -> std::io::Result<u64> {
    let mut keys = 0;
    let mut cur_db = usize::MAX;
    let mut buf = Vec::new();
    loop {
        let mut n = 0u64;
        let more = snap.step(store, STEP_ENTRIES, |db, e| {
            let expire_at = e.expire_at();
            if expire_at.is_some_and(|at| at <= now_ms) {
                return;
            }
            // The walker visits databases in ascending order.
            if db != cur_db {
                let n = db.to_string();
                encode_command(&mut buf, &[b"SELECT", n.as_bytes()]);
                cur_db = db;
            }
            let key = e.key.as_slice();
            value(key, &e.value, &mut buf);
            if let Some(at) = expire_at {
                let at = at.to_string();
                encode_command(&mut buf, &[b"PEXPIREAT", key, at.as_bytes()]);
            }
            n += 1;
        });
        out.write_all(&buf)?;
        buf.clear();
        keys += n;
        if delay_us > 0 && n > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay_us * n));
        }
        if !more {
            return Ok(keys);
        }
    }
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

fn value(key: &[u8], v: &Value, out: &mut Vec<u8>) {
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
