//! Stream tests against a real `ember-server`:
//!
//! - A model test: random operation sequences (fixed seeds) run against the server and against a
//!   `BTreeMap` model of entries, groups and pending entries lists in this file, comparing every
//!   raw reply byte for byte: XADD (explicit, `ms-*`, rejected IDs, exact MAXLEN/MINID trimming),
//!   XDEL, XTRIM, XRANGE/XREVRANGE with inclusive and exclusive bounds and COUNT, XLEN, XREAD,
//!   XGROUP CREATE/CREATECONSUMER/DELCONSUMER, XREADGROUP (new entries and history), XACK,
//!   XPENDING summaries, XCLAIM and XAUTOCLAIM (JUSTID, deleted entries, cursors), WRONGTYPE.
//!   Small nodes (`stream-node-max-entries`) in some seeds so entries span many nodes; one seed
//!   speaks RESP3.
//! - A consumer-group scenario: several consumers share a job stream, one is killed mid-batch,
//!   its pending messages are reclaimed with XAUTOCLAIM, and every message is acknowledged
//!   exactly once.
//! - Blocking XREAD / XREADGROUP: woken by XADD from another client and from MULTI/EXEC, FIFO
//!   among group consumers, timeouts, -NOGROUP and -UNBLOCKED wake-ups, RESP3.
//!
//! Bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, Protocol, RespConn, Rng, ServerProcess};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

type Id = (u64, u64);

/// An entry's field-value pairs (also: a subscriber's channel-message pairs).
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn id_str(id: Id) -> Vec<u8> {
    format!("{}-{}", id.0, id.1).into_bytes()
}

/// Expected replies, encoded for the connection's protocol.
struct Enc {
    resp3: bool,
}

impl Enc {
    fn int(&self, n: i64) -> Vec<u8> {
        format!(":{n}\r\n").into_bytes()
    }
    fn bulk(&self, b: &[u8]) -> Vec<u8> {
        let mut v = format!("${}\r\n", b.len()).into_bytes();
        v.extend_from_slice(b);
        v.extend_from_slice(b"\r\n");
        v
    }
    fn null(&self) -> Vec<u8> {
        if self.resp3 {
            b"_\r\n".to_vec()
        } else {
            b"$-1\r\n".to_vec()
        }
    }
    fn null_array(&self) -> Vec<u8> {
        if self.resp3 {
            b"_\r\n".to_vec()
        } else {
            b"*-1\r\n".to_vec()
        }
    }
    fn array(&self, items: &[Vec<u8>]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", items.len()).into_bytes();
        for i in items {
            v.extend_from_slice(i);
        }
        v
    }
    /// XREAD's top level: a map in RESP3, an array of pairs in RESP2.
    fn streams(&self, items: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut v = if self.resp3 {
            format!("%{}\r\n", items.len()).into_bytes()
        } else {
            format!("*{}\r\n", items.len()).into_bytes()
        };
        for (k, entries) in items {
            if !self.resp3 {
                v.extend_from_slice(b"*2\r\n");
            }
            v.extend_from_slice(&self.bulk(k));
            v.extend_from_slice(entries);
        }
        v
    }
    fn ok(&self) -> Vec<u8> {
        b"+OK\r\n".to_vec()
    }
    fn err(&self, e: &str) -> Vec<u8> {
        format!("-{e}\r\n").into_bytes()
    }
    fn id(&self, id: Id) -> Vec<u8> {
        self.bulk(&id_str(id))
    }
    fn entry(&self, id: Id, fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut flat = Vec::new();
        for (f, v) in fields {
            flat.push(self.bulk(f));
            flat.push(self.bulk(v));
        }
        self.array(&[self.id(id), self.array(&flat)])
    }
}

#[derive(Default, Clone)]
struct Group {
    last_id: Id,
    /// id -> consumer
    pel: BTreeMap<Id, Vec<u8>>,
    consumers: BTreeSet<Vec<u8>>,
}

#[derive(Default, Clone)]
struct Stream {
    entries: BTreeMap<Id, Pairs>,
    last_id: Id,
    groups: BTreeMap<Vec<u8>, Group>,
}

type Db = HashMap<Vec<u8>, Stream>;

const KEYS: &[&str] = &["s0", "s1"];
const STRING_KEY: &str = "str";
const GROUPS: &[&str] = &["g0", "g1"];
const CONSUMERS: &[&str] = &["alice", "bob", "carol"];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

fn value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => Vec::new(),
        1 => rng.below(1000).to_string().into_bytes(),
        2 => vec![b'x'; 50 + rng.below(200) as usize],
        _ => vec![b'a' + rng.below(26) as u8; 1 + rng.below(6) as usize],
    }
}

fn fields(rng: &mut Rng) -> Vec<(Vec<u8>, Vec<u8>)> {
    // Mostly the same shape (the master-entry fast path), sometimes another one.
    let names: &[&[u8]] = match rng.below(4) {
        0 => &[b"a", b"b"],
        1 => &[b"x"],
        _ => &[b"f", b"g"],
    };
    names.iter().map(|n| (n.to_vec(), value(rng))).collect()
}

/// A random ID near the stream's top: sometimes below it (rejected), often equal ms.
fn next_id(rng: &mut Rng, last: Id) -> Id {
    match rng.below(10) {
        0 if last != (0, 0) => (last.0, last.1.saturating_sub(rng.below(2))),
        1..=4 => (last.0, last.1 + 1 + rng.below(3)),
        _ => (last.0 + 1 + rng.below(5), rng.below(3)),
    }
}

/// An ID around the stream's entries, for bounds.
fn some_id(rng: &mut Rng, s: Option<&Stream>) -> Id {
    if let Some(s) = s {
        if !s.entries.is_empty() && rng.chance(60) {
            let n = rng.below(s.entries.len() as u64) as usize;
            if let Some((id, _)) = s.entries.iter().nth(n) {
                return *id;
            }
        }
        if rng.chance(50) {
            return (rng.below(s.last_id.0 + 2), rng.below(4));
        }
    }
    (rng.below(30), rng.below(4))
}

fn key(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(3) {
        STRING_KEY.as_bytes().to_vec()
    } else {
        pick(rng, KEYS).as_bytes().to_vec()
    }
}

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Exact trimming in the model; the number of entries removed.
fn trim_model(s: &mut Stream, maxlen: Option<usize>, minid: Option<Id>) -> i64 {
    let mut n = 0;
    if let Some(max) = maxlen {
        while s.entries.len() > max {
            let first = *s.entries.keys().next().expect("non-empty");
            s.entries.remove(&first);
            n += 1;
        }
    }
    if let Some(min) = minid {
        while let Some(&first) = s.entries.keys().next() {
            if first >= min {
                break;
            }
            s.entries.remove(&first);
            n += 1;
        }
    }
    n
}

fn range_reply(enc: &Enc, s: &Stream, lo: Id, hi: Id, count: usize, rev: bool) -> Vec<u8> {
    if lo > hi {
        return enc.array(&[]);
    }
    let it: Box<dyn Iterator<Item = (&Id, &Pairs)>> = if rev {
        Box::new(s.entries.range(lo..=hi).rev())
    } else {
        Box::new(s.entries.range(lo..=hi))
    };
    let items: Vec<Vec<u8>> = it
        .take(if count == 0 { usize::MAX } else { count })
        .map(|(id, f)| enc.entry(*id, f))
        .collect();
    enc.array(&items)
}

/// Bound text and the ID it means: inclusive or `(` exclusive, `-`/`+`.
fn bound(rng: &mut Rng, s: Option<&Stream>, start: bool) -> (Vec<u8>, Option<Id>) {
    match rng.below(8) {
        0 => {
            let text = if start { b"-".to_vec() } else { b"+".to_vec() };
            (
                text,
                Some(if start { (0, 0) } else { (u64::MAX, u64::MAX) }),
            )
        }
        1 => {
            // A lone ms: start takes seq 0, end takes the largest seq.
            let id = some_id(rng, s);
            let v = if start { (id.0, 0) } else { (id.0, u64::MAX) };
            (id.0.to_string().into_bytes(), Some(v))
        }
        2 | 3 => {
            let id = some_id(rng, s);
            let mut text = b"(".to_vec();
            text.extend_from_slice(&id_str(id));
            let v = if start {
                if id.1 == u64::MAX {
                    (id.0 + 1, 0)
                } else {
                    (id.0, id.1 + 1)
                }
            } else if id == (0, 0) {
                return (text, None);
            } else if id.1 == 0 {
                (id.0 - 1, u64::MAX)
            } else {
                (id.0, id.1 - 1)
            };
            (text, Some(v))
        }
        _ => {
            let id = some_id(rng, s);
            (id_str(id), Some(id))
        }
    }
}

/// One random command and the reply the model expects; updates the model.
fn step(rng: &mut Rng, db: &mut Db, enc: &Enc) -> (Vec<Vec<u8>>, Vec<u8>) {
    let k = key(rng);
    let is_str = k == STRING_KEY.as_bytes();
    match rng.below(100) {
        // XADD with an explicit or ms-* ID, maybe trimming.
        0..=29 => {
            let last = db.get(&k).map_or((0, 0), |s| s.last_id);
            let id = next_id(rng, last);
            let f = fields(rng);
            let mut cmd = args(&[b"XADD", &k]);
            let mut trim: (Option<usize>, Option<Id>) = (None, None);
            if rng.chance(15) {
                let n = rng.below(8) as usize;
                cmd.extend(args(&[b"MAXLEN", b"=", n.to_string().as_bytes()]));
                trim.0 = Some(n);
            } else if rng.chance(10) {
                let m = some_id(rng, db.get(&k));
                cmd.extend(args(&[b"MINID", &id_str(m)]));
                trim.1 = Some(m);
            }
            let seq_star = rng.chance(15);
            if seq_star {
                let mut t = id.0.to_string().into_bytes();
                t.extend_from_slice(b"-*");
                cmd.push(t);
            } else {
                cmd.push(id_str(id));
            }
            for (a, b) in &f {
                cmd.push(a.clone());
                cmd.push(b.clone());
            }
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let effective = if seq_star {
                if id.0 == last.0 {
                    (id.0, last.1 + 1)
                } else {
                    (id.0, 0)
                }
            } else {
                id
            };
            if !seq_star && effective == (0, 0) {
                return (
                    cmd,
                    enc.err("ERR The ID specified in XADD must be greater than 0-0"),
                );
            }
            if effective <= last {
                // The key is created before the ID is refused.
                db.entry(k.clone()).or_default();
                return (
                    cmd,
                    enc.err("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
                );
            }
            let s = db.entry(k).or_default();
            s.entries.insert(effective, f);
            s.last_id = effective;
            trim_model(s, trim.0, trim.1);
            (cmd, enc.id(effective))
        }
        // XDEL
        30..=35 => {
            let s = db.get(&k);
            let mut ids = vec![some_id(rng, s)];
            if rng.chance(40) {
                ids.push(some_id(rng, s));
            }
            let mut cmd = args(&[b"XDEL", &k]);
            cmd.extend(ids.iter().map(|&i| id_str(i)));
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let mut n = 0;
            if let Some(s) = db.get_mut(&k) {
                for id in ids {
                    if s.entries.remove(&id).is_some() {
                        n += 1;
                    }
                }
            }
            (cmd, enc.int(n))
        }
        // XTRIM (exact)
        36..=39 => {
            if rng.chance(50) {
                let n = rng.below(10) as usize;
                let cmd = args(&[b"XTRIM", &k, b"MAXLEN", n.to_string().as_bytes()]);
                if is_str {
                    return (cmd, enc.err(WRONGTYPE));
                }
                let removed = db.get_mut(&k).map_or(0, |s| trim_model(s, Some(n), None));
                (cmd, enc.int(removed))
            } else {
                let m = some_id(rng, db.get(&k));
                let cmd = args(&[b"XTRIM", &k, b"MINID", b"=", &id_str(m)]);
                if is_str {
                    return (cmd, enc.err(WRONGTYPE));
                }
                let removed = db.get_mut(&k).map_or(0, |s| trim_model(s, None, Some(m)));
                (cmd, enc.int(removed))
            }
        }
        // XRANGE / XREVRANGE
        40..=54 => {
            let rev = rng.chance(40);
            let (st, lo) = bound(rng, db.get(&k), true);
            let (en, hi) = bound(rng, db.get(&k), false);
            let count = if rng.chance(40) {
                Some(rng.below(5) as usize)
            } else {
                None
            };
            let mut cmd = if rev {
                args(&[b"XREVRANGE", &k, &en, &st])
            } else {
                args(&[b"XRANGE", &k, &st, &en])
            };
            if let Some(c) = count {
                cmd.extend(args(&[b"COUNT", c.to_string().as_bytes()]));
            }
            let (Some(lo), Some(hi)) = (lo, hi) else {
                // "(0-0" as an end: Redis refuses the interval.
                return (cmd, enc.err("ERR invalid end ID for the interval"));
            };
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(s) = db.get(&k) else {
                return (cmd, enc.array(&[]));
            };
            if count == Some(0) {
                return (cmd, enc.null_array());
            }
            (cmd, range_reply(enc, s, lo, hi, count.unwrap_or(0), rev))
        }
        // XLEN
        55..=57 => {
            let cmd = args(&[b"XLEN", &k]);
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            (
                cmd,
                enc.int(db.get(&k).map_or(0, |s| s.entries.len()) as i64),
            )
        }
        // XREAD over both streams
        58..=62 => {
            let count = rng.below(4) as usize;
            let mut cmd = args(&[b"XREAD"]);
            if count > 0 {
                cmd.extend(args(&[b"COUNT", count.to_string().as_bytes()]));
            }
            cmd.push(b"STREAMS".to_vec());
            let keys: Vec<Vec<u8>> = KEYS.iter().map(|k| k.as_bytes().to_vec()).collect();
            let ids: Vec<Id> = keys.iter().map(|k| some_id(rng, db.get(k))).collect();
            cmd.extend(keys.iter().cloned());
            cmd.extend(ids.iter().map(|&i| id_str(i)));
            let mut out = Vec::new();
            for (k, &gt) in keys.iter().zip(&ids) {
                let Some(s) = db.get(k) else { continue };
                let after: Vec<_> = s
                    .entries
                    .range((std::ops::Bound::Excluded(gt), std::ops::Bound::Unbounded))
                    .take(if count == 0 { usize::MAX } else { count })
                    .map(|(id, f)| enc.entry(*id, f))
                    .collect();
                if !after.is_empty() {
                    out.push((k.clone(), enc.array(&after)));
                }
            }
            if out.is_empty() {
                return (cmd, enc.null_array());
            }
            (cmd, enc.streams(&out))
        }
        // XGROUP CREATE
        63..=66 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let from_start = rng.chance(50);
            let mkstream = rng.chance(50);
            let mut cmd = args(&[
                b"XGROUP",
                b"CREATE",
                &k,
                &g,
                if from_start { b"0" } else { b"$" },
            ]);
            if mkstream {
                cmd.push(b"MKSTREAM".to_vec());
            }
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            if !db.contains_key(&k) && !mkstream {
                return (cmd, enc.err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
            }
            let s = db.entry(k).or_default();
            if s.groups.contains_key(&g) {
                return (cmd, enc.err("BUSYGROUP Consumer Group name already exists"));
            }
            let last = if from_start { (0, 0) } else { s.last_id };
            s.groups.insert(
                g,
                Group {
                    last_id: last,
                    ..Default::default()
                },
            );
            (cmd, enc.ok())
        }
        // XREADGROUP: new entries or history
        67..=78 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let c = pick(rng, CONSUMERS).as_bytes().to_vec();
            let count = rng.below(4) as usize;
            let history = rng.chance(30);
            let mut cmd = args(&[b"XREADGROUP", b"GROUP", &g, &c]);
            if count > 0 {
                cmd.extend(args(&[b"COUNT", count.to_string().as_bytes()]));
            }
            cmd.extend(args(&[b"STREAMS", &k, if history { b"0" } else { b">" }]));
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(s) = db.get_mut(&k).filter(|s| s.groups.contains_key(&g)) else {
                return (
                    cmd,
                    enc.err(&format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        String::from_utf8_lossy(&k),
                        String::from_utf8_lossy(&g)
                    )),
                );
            };
            let limit = if count == 0 { usize::MAX } else { count };
            let entries = s.entries.clone();
            let grp = s.groups.get_mut(&g).expect("checked");
            if history {
                grp.consumers.insert(c.clone());
                let mine: Vec<Id> = grp
                    .pel
                    .iter()
                    .filter(|(_, owner)| **owner == c)
                    .map(|(id, _)| *id)
                    .take(limit)
                    .collect();
                let items: Vec<Vec<u8>> = mine
                    .iter()
                    .map(|id| match entries.get(id) {
                        Some(f) => enc.entry(*id, f),
                        None => enc.array(&[enc.id(*id), enc.null_array()]),
                    })
                    .collect();
                return (cmd, enc.streams(&[(k.clone(), enc.array(&items))]));
            }
            let new: Vec<(Id, Pairs)> = entries
                .range((
                    std::ops::Bound::Excluded(grp.last_id),
                    std::ops::Bound::Unbounded,
                ))
                .take(limit)
                .map(|(id, f)| (*id, f.clone()))
                .collect();
            if new.is_empty() {
                return (cmd, enc.null_array());
            }
            grp.consumers.insert(c.clone());
            let mut items = Vec::new();
            for (id, f) in &new {
                grp.last_id = *id;
                grp.pel.insert(*id, c.clone());
                items.push(enc.entry(*id, f));
            }
            (cmd, enc.streams(&[(k.clone(), enc.array(&items))]))
        }
        // XACK
        79..=84 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let mut ids = Vec::new();
            if let Some(grp) = db.get(&k).and_then(|s| s.groups.get(&g)) {
                if !grp.pel.is_empty() && rng.chance(70) {
                    let n = rng.below(grp.pel.len() as u64) as usize;
                    ids.push(*grp.pel.keys().nth(n).expect("in range"));
                }
            }
            ids.push(some_id(rng, db.get(&k)));
            let mut cmd = args(&[b"XACK", &k, &g]);
            cmd.extend(ids.iter().map(|&i| id_str(i)));
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let mut n = 0;
            if let Some(grp) = db.get_mut(&k).and_then(|s| s.groups.get_mut(&g)) {
                for id in ids {
                    if grp.pel.remove(&id).is_some() {
                        n += 1;
                    }
                }
            }
            (cmd, enc.int(n))
        }
        // XPENDING summary
        85..=88 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let cmd = args(&[b"XPENDING", &k, &g]);
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(grp) = db.get(&k).and_then(|s| s.groups.get(&g)) else {
                return (
                    cmd,
                    enc.err(&format!(
                        "NOGROUP No such key '{}' or consumer group '{}'",
                        String::from_utf8_lossy(&k),
                        String::from_utf8_lossy(&g)
                    )),
                );
            };
            if grp.pel.is_empty() {
                return (
                    cmd,
                    enc.array(&[enc.int(0), enc.null(), enc.null(), enc.null_array()]),
                );
            }
            let mut per: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for owner in grp.pel.values() {
                *per.entry(owner.clone()).or_default() += 1;
            }
            let consumers: Vec<Vec<u8>> = per
                .iter()
                .map(|(c, n)| enc.array(&[enc.bulk(c), enc.bulk(n.to_string().as_bytes())]))
                .collect();
            let first = *grp.pel.keys().next().expect("non-empty");
            let last = *grp.pel.keys().next_back().expect("non-empty");
            (
                cmd,
                enc.array(&[
                    enc.int(grp.pel.len() as i64),
                    enc.id(first),
                    enc.id(last),
                    enc.array(&consumers),
                ]),
            )
        }
        // XCLAIM ... JUSTID with min-idle 0
        89..=93 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let c = pick(rng, CONSUMERS).as_bytes().to_vec();
            let mut ids = Vec::new();
            if let Some(grp) = db.get(&k).and_then(|s| s.groups.get(&g)) {
                if !grp.pel.is_empty() {
                    let n = rng.below(grp.pel.len() as u64) as usize;
                    ids.push(*grp.pel.keys().nth(n).expect("in range"));
                }
            }
            ids.push(some_id(rng, db.get(&k)));
            let mut cmd = args(&[b"XCLAIM", &k, &g, &c, b"0"]);
            cmd.extend(ids.iter().map(|&i| id_str(i)));
            cmd.push(b"JUSTID".to_vec());
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(s) = db.get_mut(&k).filter(|s| s.groups.contains_key(&g)) else {
                return (
                    cmd,
                    enc.err(&format!(
                        "NOGROUP No such key '{}' or consumer group '{}'",
                        String::from_utf8_lossy(&k),
                        String::from_utf8_lossy(&g)
                    )),
                );
            };
            let entries = &s.entries;
            let grp = s.groups.get_mut(&g).expect("checked");
            let mut out = Vec::new();
            for id in ids {
                if !entries.contains_key(&id) {
                    grp.pel.remove(&id);
                    continue;
                }
                if let Some(owner) = grp.pel.get_mut(&id) {
                    *owner = c.clone();
                    grp.consumers.insert(c.clone());
                    out.push(enc.id(id));
                }
            }
            (cmd, enc.array(&out))
        }
        // XAUTOCLAIM ... JUSTID with min-idle 0
        94..=97 => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let c = pick(rng, CONSUMERS).as_bytes().to_vec();
            let start = some_id(rng, db.get(&k));
            let count = 1 + rng.below(3) as usize;
            let cmd = args(&[
                b"XAUTOCLAIM",
                &k,
                &g,
                &c,
                b"0",
                &id_str(start),
                b"COUNT",
                count.to_string().as_bytes(),
                b"JUSTID",
            ]);
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(s) = db.get_mut(&k).filter(|s| s.groups.contains_key(&g)) else {
                return (
                    cmd,
                    enc.err(&format!(
                        "NOGROUP No such key '{}' or consumer group '{}'",
                        String::from_utf8_lossy(&k),
                        String::from_utf8_lossy(&g)
                    )),
                );
            };
            let entries = &s.entries;
            let grp = s.groups.get_mut(&g).expect("checked");
            let scanned: Vec<Id> = grp.pel.range(start..).map(|(id, _)| *id).collect();
            let mut left = count;
            let mut claimed = Vec::new();
            let mut deleted = Vec::new();
            let mut idx = 0;
            while left > 0 && idx < scanned.len() {
                let id = scanned[idx];
                idx += 1;
                if !entries.contains_key(&id) {
                    grp.pel.remove(&id);
                    deleted.push(enc.id(id));
                } else {
                    grp.pel.insert(id, c.clone());
                    grp.consumers.insert(c.clone());
                    claimed.push(enc.id(id));
                }
                left -= 1;
            }
            let cursor = scanned.get(idx).copied().unwrap_or((0, 0));
            (
                cmd,
                enc.array(&[enc.id(cursor), enc.array(&claimed), enc.array(&deleted)]),
            )
        }
        // XGROUP DELCONSUMER
        _ => {
            let g = pick(rng, GROUPS).as_bytes().to_vec();
            let c = pick(rng, CONSUMERS).as_bytes().to_vec();
            let cmd = args(&[b"XGROUP", b"DELCONSUMER", &k, &g, &c]);
            if is_str {
                return (cmd, enc.err(WRONGTYPE));
            }
            let Some(s) = db.get_mut(&k) else {
                return (cmd, enc.err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
            };
            let Some(grp) = s.groups.get_mut(&g) else {
                return (
                    cmd,
                    enc.err(&format!(
                        "NOGROUP No such consumer group '{}' for key name '{}'",
                        String::from_utf8_lossy(&g),
                        String::from_utf8_lossy(&k)
                    )),
                );
            };
            let had = grp.consumers.remove(&c);
            let before = grp.pel.len();
            if had {
                grp.pel.retain(|_, owner| *owner != c);
            }
            (cmd, enc.int((before - grp.pel.len()) as i64))
        }
    }
}

fn describe(cmd: &[Vec<u8>]) -> String {
    cmd.iter().map(|a| escape(a)).collect::<Vec<_>>().join(" ")
}

fn run_seed(conn: &mut RespConn, seed: u64, steps: usize, resp3: bool, node_entries: u64) {
    conn.command(&["FLUSHALL"]).expect("flushall");
    conn.command(&[
        "CONFIG",
        "SET",
        "stream-node-max-entries",
        &node_entries.to_string(),
    ])
    .expect("config set");
    conn.command(&["SET", STRING_KEY, "x"]).expect("set");
    if resp3 {
        conn.set_protocol(Protocol::Resp3);
        conn.command(&["HELLO", "3"]).expect("hello");
    }
    let enc = Enc { resp3 };
    let mut rng = Rng::new(seed);
    let mut db = Db::new();
    let mut history: Vec<String> = Vec::new();
    for i in 0..steps {
        let (cmd, want) = step(&mut rng, &mut db, &enc);
        let got = conn.command(&cmd).expect("reply");
        history.push(describe(&cmd));
        if got != want {
            let tail = history[history.len().saturating_sub(12)..].join("\n  ");
            panic!(
                "seed {seed} step {i}: {}\n want: {}\n  got: {}\nlast commands:\n  {tail}",
                describe(&cmd),
                escape(&want),
                escape(&got)
            );
        }
    }
    if resp3 {
        conn.set_protocol(Protocol::Resp2);
        conn.command(&["HELLO", "2"]).expect("hello");
    }
    conn.command(&["CONFIG", "SET", "stream-node-max-entries", "100"])
        .expect("config set");
}

#[test]
fn streams_match_a_btreemap_model() {
    let srv = ServerProcess::start_ember(&[]);
    let mut conn = srv.connect();
    for seed in 1..=6u64 {
        let node_entries = [100, 3, 1, 5, 2, 100][seed as usize - 1];
        run_seed(&mut conn, seed, 2500, seed == 4, node_entries);
    }
}

// ---------------------------------------------------------------------------------------------
// Reply decoding helpers for the scenario and blocking tests
// ---------------------------------------------------------------------------------------------

/// A decoded RESP value (enough for these tests).
#[derive(Debug, Clone, PartialEq)]
enum V {
    Bulk(Vec<u8>),
    Int(i64),
    Arr(Vec<V>),
    Nil,
    Err(String),
    Simple(String),
}

fn parse(buf: &[u8]) -> V {
    fn line(buf: &[u8], pos: &mut usize) -> String {
        let start = *pos;
        while &buf[*pos..*pos + 2] != b"\r\n" {
            *pos += 1;
        }
        let s = String::from_utf8_lossy(&buf[start..*pos]).into_owned();
        *pos += 2;
        s
    }
    fn go(buf: &[u8], pos: &mut usize) -> V {
        let t = buf[*pos];
        *pos += 1;
        match t {
            b'+' => V::Simple(line(buf, pos)),
            b'-' => V::Err(line(buf, pos)),
            b':' => V::Int(line(buf, pos).parse().expect("int")),
            b'_' => {
                line(buf, pos);
                V::Nil
            }
            b'$' => {
                let n: i64 = line(buf, pos).parse().expect("len");
                if n < 0 {
                    return V::Nil;
                }
                let v = buf[*pos..*pos + n as usize].to_vec();
                *pos += n as usize + 2;
                V::Bulk(v)
            }
            b'*' | b'%' => {
                let n: i64 = line(buf, pos).parse().expect("len");
                if n < 0 {
                    return V::Nil;
                }
                let n = if t == b'%' { n * 2 } else { n };
                V::Arr((0..n).map(|_| go(buf, pos)).collect())
            }
            other => panic!("unexpected reply type {}", other as char),
        }
    }
    let mut pos = 0;
    go(buf, &mut pos)
}

impl V {
    fn arr(&self) -> &[V] {
        match self {
            V::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn bulk(&self) -> &[u8] {
        match self {
            V::Bulk(b) => b,
            other => panic!("not a bulk: {other:?}"),
        }
    }
    fn int(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            other => panic!("not an integer: {other:?}"),
        }
    }
}

fn cmd(conn: &mut RespConn, args: &[&str]) -> V {
    parse(&conn.command(args).expect("reply"))
}

/// Entry IDs of an XREADGROUP / XREAD reply (RESP2), all streams.
fn read_ids(v: &V) -> Vec<String> {
    match v {
        V::Nil => Vec::new(),
        V::Arr(streams) => streams
            .iter()
            .flat_map(|s| s.arr()[1].arr().to_vec())
            .map(|e| String::from_utf8_lossy(e.arr()[0].bulk()).into_owned())
            .collect(),
        other => panic!("unexpected read reply {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer-group scenario
// ---------------------------------------------------------------------------------------------

#[test]
fn consumer_group_with_a_killed_consumer_acks_every_message_once() {
    let srv = ServerProcess::start_ember(&[]);
    let mut admin = srv.connect();
    assert_eq!(
        cmd(
            &mut admin,
            &["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"]
        ),
        V::Simple("OK".into())
    );
    const JOBS: usize = 400;
    // Who acknowledged what: every XACK that answered 1.
    let acks: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    // Entries handed to the workers so far; they stop once all are out.
    let delivered = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    // The victim takes one batch, acknowledges part of it, and is killed.
    let mut victim = srv.connect();
    let victim_id = cmd(&mut victim, &["CLIENT", "ID"]).int();
    let mut producer = srv.connect();
    for i in 0..50 {
        let v = producer
            .command(&["XADD", "jobs", "*", "job", &i.to_string()])
            .expect("xadd");
        assert_eq!(v[0], b'$');
    }
    let batch = read_ids(&cmd(
        &mut victim,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "victim",
            "COUNT",
            "10",
            "STREAMS",
            "jobs",
            ">",
        ],
    ));
    assert_eq!(batch.len(), 10);
    for id in &batch[..3] {
        assert_eq!(
            cmd(&mut victim, &["XACK", "jobs", "workers", id]),
            V::Int(1)
        );
        acks.lock()
            .unwrap()
            .entry(id.clone())
            .or_default()
            .push("victim".into());
    }
    let unacked: BTreeSet<String> = batch[3..].iter().cloned().collect();
    assert_eq!(
        cmd(
            &mut admin,
            &["CLIENT", "KILL", "ID", &victim_id.to_string()]
        ),
        V::Int(1)
    );
    assert!(victim.command(&["PING"]).is_err() || victim.wait_closed(Duration::from_secs(2)));

    // Three workers block for new jobs while the producer adds the rest.
    let mut workers = Vec::new();
    for w in 0..3 {
        let mut conn = srv.connect();
        let acks = acks.clone();
        let delivered = delivered.clone();
        let name = format!("worker{w}");
        workers.push(std::thread::spawn(move || {
            let mut got = 0;
            loop {
                let v = cmd(
                    &mut conn,
                    &[
                        "XREADGROUP",
                        "GROUP",
                        "workers",
                        &name,
                        "COUNT",
                        "7",
                        "BLOCK",
                        "200",
                        "STREAMS",
                        "jobs",
                        ">",
                    ],
                );
                let ids = read_ids(&v);
                if ids.is_empty() {
                    if delivered.load(std::sync::atomic::Ordering::SeqCst) >= JOBS - 10 {
                        break;
                    }
                    continue;
                }
                delivered.fetch_add(ids.len(), std::sync::atomic::Ordering::SeqCst);
                for id in ids {
                    let r = cmd(&mut conn, &["XACK", "jobs", "workers", &id]);
                    if r == V::Int(1) {
                        acks.lock()
                            .unwrap()
                            .entry(id)
                            .or_default()
                            .push(name.clone());
                    }
                    got += 1;
                }
            }
            got
        }));
    }
    for i in 50..JOBS {
        producer
            .command(&["XADD", "jobs", "*", "job", &i.to_string()])
            .expect("xadd");
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let delivered: usize = workers.into_iter().map(|h| h.join().expect("worker")).sum();
    assert_eq!(
        delivered,
        JOBS - 10,
        "workers get every job the victim did not take"
    );

    // The victim's unacknowledged jobs are still pending, owned by it.
    let summary = cmd(&mut admin, &["XPENDING", "jobs", "workers"]);
    assert_eq!(summary.arr()[0], V::Int(7));
    // Not idle long enough yet: nothing to reclaim with a long min-idle.
    let none = cmd(
        &mut admin,
        &["XAUTOCLAIM", "jobs", "workers", "reaper", "3600000", "0-0"],
    );
    assert!(none.arr()[1].arr().is_empty());
    std::thread::sleep(Duration::from_millis(120));
    let mut reaper = srv.connect();
    let mut cursor = "0-0".to_string();
    let mut reclaimed = BTreeSet::new();
    loop {
        let v = cmd(
            &mut reaper,
            &[
                "XAUTOCLAIM",
                "jobs",
                "workers",
                "reaper",
                "100",
                &cursor,
                "COUNT",
                "3",
            ],
        );
        let parts = v.arr();
        for e in parts[1].arr() {
            let id = String::from_utf8_lossy(e.arr()[0].bulk()).into_owned();
            assert_eq!(
                cmd(&mut reaper, &["XACK", "jobs", "workers", &id]),
                V::Int(1)
            );
            acks.lock()
                .unwrap()
                .entry(id.clone())
                .or_default()
                .push("reaper".into());
            reclaimed.insert(id);
        }
        assert!(parts[2].arr().is_empty(), "no job was deleted");
        cursor = String::from_utf8_lossy(parts[0].bulk()).into_owned();
        if cursor == "0-0" {
            break;
        }
    }
    assert_eq!(
        reclaimed, unacked,
        "the reaper reclaims exactly the victim's unacked jobs"
    );

    let acks = acks.lock().unwrap();
    assert_eq!(acks.len(), JOBS, "every job acknowledged");
    for (id, by) in acks.iter() {
        assert_eq!(by.len(), 1, "{id} acknowledged more than once: {by:?}");
    }
    let all = cmd(&mut admin, &["XRANGE", "jobs", "-", "+"]);
    let ids: BTreeSet<String> = all
        .arr()
        .iter()
        .map(|e| String::from_utf8_lossy(e.arr()[0].bulk()).into_owned())
        .collect();
    assert_eq!(ids, acks.keys().cloned().collect::<BTreeSet<_>>());
    let summary = cmd(&mut admin, &["XPENDING", "jobs", "workers"]);
    assert_eq!(summary.arr()[0], V::Int(0));
    // XINFO reflects the consumers that took part.
    let consumers = cmd(&mut admin, &["XINFO", "CONSUMERS", "jobs", "workers"]);
    let names: Vec<String> = consumers
        .arr()
        .iter()
        .map(|c| String::from_utf8_lossy(c.arr()[1].bulk()).into_owned())
        .collect();
    assert_eq!(names, ["reaper", "victim", "worker0", "worker1", "worker2"]);
    let groups = cmd(&mut admin, &["XINFO", "GROUPS", "jobs"]);
    let g = groups.arr()[0].arr();
    assert_eq!(g[9], V::Int(JOBS as i64), "entries-read");
    assert_eq!(g[11], V::Int(0), "lag");
}

// ---------------------------------------------------------------------------------------------
// Blocking
// ---------------------------------------------------------------------------------------------

/// Sends a blocking command and checks it has not answered yet.
fn block(conn: &mut RespConn, args: &[&str]) {
    conn.send(args).expect("send");
    conn.set_timeout(Duration::from_millis(150));
    assert!(
        conn.read_reply().is_err(),
        "{args:?} answered instead of blocking"
    );
    conn.set_timeout(Duration::from_secs(5));
}

fn reply(conn: &mut RespConn) -> V {
    parse(&conn.read_reply().expect("reply"))
}

#[test]
fn xread_block_is_woken_by_xadd_from_another_client() {
    let srv = ServerProcess::start_ember(&[]);
    let mut a = srv.connect();
    let mut b = srv.connect();
    block(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(
        cmd(&mut b, &["XADD", "s", "1-1", "f", "v"]),
        V::Bulk(b"1-1".to_vec())
    );
    let got = a.read_reply().expect("woken");
    assert_eq!(
        got,
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );

    // `$` means after the last ID at the time of the call; COUNT applies when woken.
    block(
        &mut a,
        &[
            "XREAD", "COUNT", "1", "BLOCK", "5000", "STREAMS", "other", "s", "$", "$",
        ],
    );
    cmd(&mut b, &["MULTI"]);
    cmd(&mut b, &["XADD", "s", "2-1", "f", "a"]);
    cmd(&mut b, &["XADD", "s", "3-1", "f", "b"]);
    let exec = cmd(&mut b, &["EXEC"]);
    assert_eq!(exec.arr().len(), 2);
    let v = reply(&mut a);
    assert_eq!(v.arr().len(), 1, "only the stream that got data");
    assert_eq!(v.arr()[0].arr()[0], V::Bulk(b"s".to_vec()));
    assert_eq!(read_ids(&v), ["2-1"]);

    // Without COUNT a woken reader gets everything the transaction added.
    block(&mut a, &["XREAD", "BLOCK", "5000", "STREAMS", "s", "$"]);
    cmd(&mut b, &["MULTI"]);
    cmd(&mut b, &["XADD", "s", "4-1", "f", "a"]);
    cmd(&mut b, &["XADD", "s", "5-1", "f", "b"]);
    cmd(&mut b, &["EXEC"]);
    assert_eq!(read_ids(&reply(&mut a)), ["4-1", "5-1"]);
}

#[test]
fn xread_block_times_out_with_a_null() {
    let srv = ServerProcess::start_ember(&[]);
    let mut a = srv.connect();
    let t = Instant::now();
    assert_eq!(
        a.command(&["XREAD", "BLOCK", "100", "STREAMS", "s", "$"])
            .expect("reply"),
        b"*-1\r\n"
    );
    assert!(t.elapsed() >= Duration::from_millis(90));
    a.set_protocol(Protocol::Resp3);
    a.command(&["HELLO", "3"]).expect("hello");
    assert_eq!(
        a.command(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">"
        ])
        .expect("reply"),
        b"-NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option\r\n"
    );
    a.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])
        .expect("create");
    assert_eq!(
        a.command(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">"
        ])
        .expect("reply"),
        b"_\r\n"
    );
    assert_eq!(
        a.command(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"])
            .expect("reply"),
        b"_\r\n"
    );
    // A blocked XREAD in RESP3 is answered with a map.
    let mut b = srv.connect();
    block(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    b.command(&["XADD", "s", "1-1", "f", "v"]).expect("xadd");
    assert_eq!(
        a.read_reply().expect("woken"),
        b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}

#[test]
fn xreadgroup_block_serves_consumers_in_arrival_order() {
    let srv = ServerProcess::start_ember(&[]);
    let mut admin = srv.connect();
    cmd(&mut admin, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut c1 = srv.connect();
    let mut c2 = srv.connect();
    block(
        &mut c1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    block(
        &mut c2,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c2",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(&mut admin, &["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut c1)), ["1-1"]);
    // The second consumer is still waiting: the first took the entry.
    c2.set_timeout(Duration::from_millis(100));
    assert!(c2.read_reply().is_err());
    c2.set_timeout(Duration::from_secs(5));
    cmd(&mut admin, &["XADD", "s", "2-1", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut c2)), ["2-1"]);
    let p = cmd(&mut admin, &["XPENDING", "s", "g"]);
    assert_eq!(p.arr()[0], V::Int(2));
    let per = p.arr()[3].arr();
    assert_eq!(per.len(), 2);

    // NOACK deliveries leave nothing pending.
    block(
        &mut c1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(&mut admin, &["XADD", "s", "3-1", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut c1)), ["3-1"]);
    assert_eq!(cmd(&mut admin, &["XPENDING", "s", "g"]).arr()[0], V::Int(2));

    // Woken by an XADD inside MULTI/EXEC, a new consumer is created on delivery.
    block(
        &mut c2,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c3",
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(&mut admin, &["MULTI"]);
    cmd(&mut admin, &["XADD", "s", "4-1", "f", "v"]);
    cmd(&mut admin, &["XADD", "s", "5-1", "f", "v"]);
    cmd(&mut admin, &["EXEC"]);
    assert_eq!(read_ids(&reply(&mut c2)), ["4-1"]);
    let consumers = cmd(&mut admin, &["XINFO", "CONSUMERS", "s", "g"]);
    assert_eq!(consumers.arr().len(), 3);
}

#[test]
fn xreadgroup_block_ends_when_the_group_or_key_goes() {
    let srv = ServerProcess::start_ember(&[]);
    let mut admin = srv.connect();
    cmd(&mut admin, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut c = srv.connect();
    block(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    assert_eq!(cmd(&mut admin, &["XGROUP", "DESTROY", "s", "g"]), V::Int(1));
    assert_eq!(
        reply(&mut c),
        V::Err("NOGROUP the consumer group this client was blocked on no longer exists".into())
    );

    cmd(&mut admin, &["XGROUP", "CREATE", "s", "g", "$"]);
    block(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(&mut admin, &["DEL", "s"]);
    assert_eq!(
        reply(&mut c),
        V::Err("UNBLOCKED the stream key no longer exists".into())
    );

    // A plain XREAD keeps waiting through a deletion and is served by the next XADD.
    cmd(&mut admin, &["XADD", "s", "5-1", "f", "v"]);
    block(&mut c, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    cmd(&mut admin, &["DEL", "s"]);
    c.set_timeout(Duration::from_millis(100));
    assert!(c.read_reply().is_err());
    c.set_timeout(Duration::from_secs(5));
    cmd(&mut admin, &["XADD", "s", "6-1", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut c)), ["6-1"]);

    // A key replaced by another type ends a group read too.
    cmd(&mut admin, &["XGROUP", "CREATE", "s", "g", "$"]);
    block(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(&mut admin, &["SET", "s", "x"]);
    assert_eq!(
        reply(&mut c),
        V::Err("UNBLOCKED the stream key no longer exists".into())
    );
}

/// Waiters that a write cannot serve must not hold back the ones behind them (Redis serves
/// every ready client of a stream key). Needs the framework to skip an unready waiter instead
/// of stopping at it.
#[test]
fn an_unready_stream_waiter_does_not_block_the_next() {
    let srv = ServerProcess::start_ember(&[]);
    let mut admin = srv.connect();
    let mut far = srv.connect();
    let mut near = srv.connect();
    block(&mut far, &["XREAD", "BLOCK", "0", "STREAMS", "s", "100-0"]);
    block(&mut near, &["XREAD", "BLOCK", "0", "STREAMS", "s", "0-0"]);
    cmd(&mut admin, &["XADD", "s", "5-0", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut near)), ["5-0"]);
    cmd(&mut admin, &["XADD", "s", "200-0", "f", "v"]);
    assert_eq!(read_ids(&reply(&mut far)), ["200-0"]);
}

// ---------------------------------------------------------------------------------------------
// Keyspace notifications, against the real Redis
// ---------------------------------------------------------------------------------------------

/// The keyspace events a script of stream commands emits, as (channel, message) pairs per
/// command. A PING on the subscriber after each command marks the end of its events.
fn stream_events(srv: &ServerProcess) -> Vec<(String, Pairs)> {
    let mut c = srv.connect();
    let mut sub = srv.connect();
    c.command(&["CONFIG", "SET", "notify-keyspace-events", "KEA"])
        .expect("config");
    sub.command(&["PSUBSCRIBE", "__key*__:*"])
        .expect("psubscribe");
    let script: &[&[&str]] = &[
        &["XADD", "s", "1-1", "f", "v"],
        &["XADD", "s", "2-1", "f", "v"],
        &["XADD", "s", "MAXLEN", "1", "3-1", "f", "v"],
        &["XADD", "s", "MAXLEN", "5", "4-1", "f", "v"],
        &["XADD", "nokey", "NOMKSTREAM", "1-1", "f", "v"],
        &["XADD", "s", "1-1", "f", "v"],
        &["XDEL", "s", "3-1"],
        &["XDEL", "s", "9-9"],
        &["XTRIM", "s", "MAXLEN", "5"],
        &["XADD", "s", "5-1", "f", "v"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XSETID", "s", "9-0"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "s2", "g", "$", "MKSTREAM"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c1"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c1"],
        &["XADD", "s", "10-1", "f", "v"],
        &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g", "c3", "STREAMS", "s", "0"],
        &["XCLAIM", "s", "g", "c4", "0", "10-1"],
        &["XAUTOCLAIM", "s", "g", "c5", "0", "0"],
        &["XACK", "s", "g", "10-1"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c1"],
        &["XGROUP", "DELCONSUMER", "s", "g", "nobody"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["DEL", "s", "s2"],
    ];
    let mut out = Vec::new();
    for args in script {
        c.command(args).expect("reply");
        sub.send(&["PING"]).expect("ping");
        // The PING's reply ends this command's events. Ember may answer the PING before it
        // has flushed messages published just before (Redis never does), so after the
        // reply a short quiet period must pass too.
        let mut events = Vec::new();
        let mut seen_pong = false;
        loop {
            sub.set_timeout(Duration::from_millis(if seen_pong { 30 } else { 1000 }));
            let Ok(raw) = sub.read_reply() else { break };
            let v = parse(&raw);
            let parts = v.arr();
            if parts[0] == V::Bulk(b"pong".to_vec()) {
                seen_pong = true;
                continue;
            }
            events.push((parts[2].bulk().to_vec(), parts[3].bulk().to_vec()));
        }
        assert!(seen_pong, "no PING reply");
        out.push((args.join(" "), events));
    }
    c.command(&["CONFIG", "SET", "notify-keyspace-events", ""])
        .expect("config");
    out
}

#[test]
fn stream_keyspace_events_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let want = stream_events(&redis);
    let got = stream_events(&ember);
    let total: usize = want.iter().map(|(_, e)| e.len()).sum();
    assert!(total > 30, "Redis emitted only {total} events");
    for (w, g) in want.iter().zip(&got) {
        let show = |e: &[(Vec<u8>, Vec<u8>)]| {
            e.iter()
                .map(|(c, m)| format!("{} {}", escape(c), escape(m)))
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&g.1), show(&w.1), "events of {}", w.0);
    }
}
