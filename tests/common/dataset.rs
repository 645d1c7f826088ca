//! A data set of every type and encoding, and what "the same data" means
//! when two servers (Ember and Redis, or one server before and after a
//! restart, a reload, a MIGRATE) are compared: each key rendered as
//! everything a user can read about it. Shared by the persistence tests
//! (rdb.rs, aof.rs, persistence.rs, migrate.rs). Included next to `common`
//! with `#[path = "common/dataset.rs"] mod dataset;`.
#![allow(dead_code)]

use super::common::*;

pub type Argv = Vec<Vec<u8>>;

pub fn cmd(args: &[&str]) -> Argv {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Commands building a data set with every type in each of its encodings.
pub fn every_type() -> Vec<Argv> {
    let mut c: Vec<Argv> = Vec::new();
    let mut rng = Rng::new(7);
    // Strings: int, embstr, raw, compressible, binary, empty, HLL.
    c.push(cmd(&["SET", "s:int", "12345"]));
    c.push(cmd(&["SET", "s:bigint", "12345678901234"]));
    c.push(cmd(&["SET", "s:neg", "-7"]));
    c.push(cmd(&["SET", "s:lead0", "0123"]));
    c.push(cmd(&["SET", "s:short", "hello"]));
    c.push(cmd(&["SET", "s:emb", &"a".repeat(44)]));
    c.push(cmd(&["SET", "s:lzf", &"abcdefgh".repeat(400)]));
    let noisy: String = (0..3000)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect();
    c.push(cmd(&["SET", "s:raw", &noisy]));
    c.push(vec![
        b"SET".to_vec(),
        b"s:bin".to_vec(),
        (0..=255u8).collect(),
    ]);
    c.push(cmd(&["SET", "s:empty", ""]));
    c.push(cmd(&["APPEND", "s:appended", "grown"]));
    c.push(cmd(&["APPEND", "s:appended", " in place"]));
    c.push(cmd(&["PFADD", "s:hll", "a", "b", "c", "d", "e"]));
    // TTLs.
    c.push(cmd(&["SET", "t:str", "v", "PX", "500000"]));
    c.push(cmd(&["RPUSH", "t:list", "a", "b"]));
    c.push(cmd(&["PEXPIRE", "t:list", "900000"]));
    // Lists: one node, many nodes, a huge element, integers.
    c.push(cmd(&[
        "RPUSH",
        "l:small",
        "a",
        "1",
        "-2",
        "300000",
        "hello world",
    ]));
    let mut big = vec!["RPUSH".to_string(), "l:big".into()];
    for i in 0..3000 {
        big.push(if i % 3 == 0 {
            i.to_string()
        } else {
            format!("item-{i}-{}", "x".repeat(i % 50))
        });
    }
    c.push(big.iter().map(|s| s.as_bytes().to_vec()).collect());
    c.push(cmd(&["RPUSH", "l:huge", "x", &"y".repeat(20000), "z"]));
    // Sets: intsets of 16/32/64-bit members, hashtables.
    let mut s = vec!["SADD".to_string(), "set:int".into()];
    s.extend((1..100).map(|i| (i * 7).to_string()));
    c.push(s.iter().map(|s| s.as_bytes().to_vec()).collect());
    c.push(cmd(&["SADD", "set:int32", "1", "100000", "-70000"]));
    c.push(cmd(&[
        "SADD",
        "set:int64",
        "1",
        "9223372036854775807",
        "-9223372036854775808",
    ]));
    let mut s = vec!["SADD".to_string(), "set:bigint".into()];
    s.extend((0..600).map(|i| i.to_string()));
    c.push(s.iter().map(|s| s.as_bytes().to_vec()).collect());
    c.push(cmd(&["SADD", "set:str", "apple", "banana", "cherry", "12"]));
    // Hashes: listpack, hashtable by value length, by count.
    c.push(cmd(&[
        "HSET", "h:small", "f1", "v1", "f2", "2", "n", "-300000", "e", "",
    ]));
    c.push(cmd(&["HSET", "h:longval", "f", &"v".repeat(100), "g", "1"]));
    let mut h = vec!["HSET".to_string(), "h:many".into()];
    for i in 0..600 {
        h.push(format!("field:{i}"));
        h.push(format!("value:{}", i * 3));
    }
    c.push(h.iter().map(|s| s.as_bytes().to_vec()).collect());
    // Sorted sets: listpack (odd scores included), skiplist by count, by member length.
    c.push(cmd(&[
        "ZADD", "z:small", "1", "one", "1.5", "onehalf", "-0.25", "neg", "1e300", "huge", "inf",
        "top", "-inf", "bottom", "3", "7",
    ]));
    let mut z = vec!["ZADD".to_string(), "z:big".into()];
    for i in 0..300 {
        z.push(format!("{}", (i as f64) * 0.37 - 20.0));
        z.push(format!("m{i}"));
    }
    c.push(z.iter().map(|s| s.as_bytes().to_vec()).collect());
    c.push(cmd(&[
        "ZADD",
        "z:long",
        "2.5",
        &"m".repeat(100),
        "1",
        "short",
    ]));
    // Streams.
    for i in 1..=10 {
        c.push(cmd(&[
            "XADD",
            "x:plain",
            &format!("{i}-1"),
            "temp",
            &(20 + i).to_string(),
            "hum",
            "50",
        ]));
    }
    c.push(cmd(&[
        "XADD", "x:plain", "11-0", "other", "shape", "x", "y",
    ]));
    for i in 1..=8 {
        c.push(cmd(&[
            "XADD",
            "x:groups",
            &format!("{i}-0"),
            "f",
            &format!("v{i}"),
        ]));
    }
    c.push(cmd(&["XGROUP", "CREATE", "x:groups", "g1", "0"]));
    c.push(cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "x:groups",
        ">",
    ]));
    c.push(cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "2",
        "STREAMS",
        "x:groups",
        ">",
    ]));
    c.push(cmd(&["XACK", "x:groups", "g1", "2-0"]));
    c.push(cmd(&["XGROUP", "CREATE", "x:groups", "g2", "$"]));
    c.push(cmd(&[
        "XGROUP",
        "CREATECONSUMER",
        "x:groups",
        "g2",
        "carol",
    ]));
    c.push(cmd(&["XCLAIM", "x:groups", "g1", "bob", "0", "1-0"]));
    for i in 1..=6 {
        c.push(cmd(&[
            "XADD",
            "x:deleted",
            &format!("{i}-0"),
            "a",
            &i.to_string(),
        ]));
    }
    c.push(cmd(&["XDEL", "x:deleted", "1-0", "4-0"]));
    c.push(cmd(&["XADD", "x:empty", "5-5", "a", "b"]));
    c.push(cmd(&["XDEL", "x:empty", "5-5"]));
    c.push(cmd(&["XGROUP", "CREATE", "x:empty", "lonely", "$"]));
    for i in 1..=400 {
        c.push(cmd(&[
            "XADD",
            "x:big",
            &format!("{}-{}", 1000 + i / 3, i % 3),
            "k",
            &"v".repeat(i % 40),
            "n",
            &i.to_string(),
        ]));
    }
    c.push(cmd(&["XTRIM", "x:big", "MAXLEN", "350"]));
    // Other databases.
    c.push(cmd(&["SELECT", "1"]));
    c.push(cmd(&["SET", "db1:key", "one"]));
    c.push(cmd(&["HSET", "db1:hash", "a", "b"]));
    c.push(cmd(&["SELECT", "3"]));
    c.push(cmd(&["RPUSH", "db3:list", "x", "y"]));
    c.push(cmd(&["SELECT", "0"]));
    c
}

pub fn run_all(conn: &mut RespConn, cmds: &[Argv]) {
    for a in cmds {
        let r = conn.command(a).expect("command");
        assert!(
            !is_error(&r),
            "{} failed: {}",
            escape(&a.join(&b' ')),
            escape(&r)
        );
    }
}

/// A parsed RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum R {
    Str(Vec<u8>),
    Int(i64),
    Nil,
    Err(String),
    Arr(Vec<R>),
}

pub fn parse(reply: &[u8]) -> R {
    match reply.first() {
        Some(b':') => R::Int(integer_value(reply).expect("int")),
        Some(b'-') => R::Err(String::from_utf8_lossy(reply).trim().to_string()),
        Some(b'$') if reply.starts_with(b"$-1") => R::Nil,
        Some(b'*') if reply.starts_with(b"*-1") => R::Nil,
        Some(b'*') => R::Arr(
            split_aggregate(reply, Protocol::Resp2)
                .expect("array")
                .1
                .into_iter()
                .map(parse)
                .collect(),
        ),
        _ => R::Str(string_value(reply).expect("string").to_vec()),
    }
}

pub fn q(conn: &mut RespConn, args: &[&[u8]]) -> R {
    parse(&conn.command(args).expect("command"))
}

/// Flat name/value array as pairs, keeping only `keep` names.
pub fn fields(r: &R, keep: &[&str]) -> Vec<(String, R)> {
    let R::Arr(items) = r else {
        return vec![];
    };
    items
        .chunks(2)
        .filter_map(|p| match (&p[0], p.get(1)) {
            (R::Str(n), Some(v)) if keep.contains(&&*String::from_utf8_lossy(n)) => {
                Some((String::from_utf8_lossy(n).into_owned(), v.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Everything a user can read about a key, in a comparable form (idle
/// times, which depend on the moment, left out).
pub fn snapshot(conn: &mut RespConn, key: &[u8]) -> String {
    let t = q(conn, &[b"TYPE", key]);
    let mut out = format!("type={t:?}\n");
    // embstr and raw are one encoding to a loader (Redis itself turns a
    // PFADD-made raw string into embstr when it loads or restores it).
    let enc = match q(conn, &[b"OBJECT", b"ENCODING", key]) {
        R::Str(e) if e == b"embstr" || e == b"raw" => "str".to_string(),
        other => format!("{other:?}"),
    };
    out += &format!("encoding={enc}\n");
    let ttl = q(conn, &[b"PTTL", key]);
    out += &format!(
        "ttl={}\n",
        match ttl {
            R::Int(n) if n > 0 => "some".to_string(),
            other => format!("{other:?}"),
        }
    );
    let R::Str(t) = t else { return out };
    match &t[..] {
        b"string" => out += &format!("{:?}", q(conn, &[b"GET", key])),
        b"list" => out += &format!("{:?}", q(conn, &[b"LRANGE", key, b"0", b"-1"])),
        b"set" => {
            let R::Arr(mut m) = q(conn, &[b"SMEMBERS", key]) else {
                panic!("SMEMBERS")
            };
            m.sort_by_key(|r| format!("{r:?}"));
            out += &format!("{m:?}");
        }
        b"hash" => {
            let R::Arr(m) = q(conn, &[b"HGETALL", key]) else {
                panic!("HGETALL")
            };
            let mut pairs: Vec<String> = m.chunks(2).map(|p| format!("{p:?}")).collect();
            pairs.sort();
            out += &format!("{pairs:?}");
        }
        b"zset" => {
            out += &format!(
                "{:?}",
                q(conn, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
            )
        }
        b"stream" => {
            out += &format!("{:?}\n", q(conn, &[b"XRANGE", key, b"-", b"+"]));
            let info = q(conn, &[b"XINFO", b"STREAM", key]);
            out += &format!(
                "{:?}\n",
                fields(
                    &info,
                    &[
                        "length",
                        "last-generated-id",
                        "max-deleted-entry-id",
                        "entries-added",
                        "recorded-first-entry-id",
                        "groups"
                    ]
                )
            );
            let R::Arr(groups) = q(conn, &[b"XINFO", b"GROUPS", key]) else {
                panic!("XINFO GROUPS")
            };
            for g in &groups {
                let f = fields(
                    g,
                    &[
                        "name",
                        "consumers",
                        "pending",
                        "last-delivered-id",
                        "entries-read",
                        "lag",
                    ],
                );
                out += &format!("{f:?}\n");
                let Some((_, R::Str(name))) = f.first().cloned() else {
                    continue;
                };
                let R::Arr(cs) = q(conn, &[b"XINFO", b"CONSUMERS", key, &name]) else {
                    panic!("XINFO CONSUMERS")
                };
                for c in &cs {
                    out += &format!("  {:?}\n", fields(c, &["name", "pending"]));
                }
                let R::Arr(pend) = q(conn, &[b"XPENDING", key, &name, b"-", b"+", b"1000"]) else {
                    panic!("XPENDING")
                };
                for p in pend {
                    if let R::Arr(p) = p {
                        out += &format!("  pel {:?} {:?} count {:?}\n", p[0], p[1], p[3]);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

pub fn keys_of(conn: &mut RespConn) -> Vec<Vec<u8>> {
    let R::Arr(keys) = q(conn, &[b"KEYS", b"*"]) else {
        panic!("KEYS")
    };
    let mut keys: Vec<Vec<u8>> = keys
        .into_iter()
        .map(|k| match k {
            R::Str(s) => s,
            other => panic!("key {other:?}"),
        })
        .collect();
    keys.sort();
    keys
}

pub fn compare_servers(reference: &mut RespConn, other: &mut RespConn, dbs: &[usize], what: &str) {
    compare_servers_with(reference, other, dbs, what, |s| s)
}

/// [`compare_servers`] between a primary and its replica: a consumer
/// group's entries-read and lag are the primary's own counts, which a
/// replica never gets (XREADGROUP propagates as XCLAIM ... LASTID, and a
/// Redis replica of a Redis primary differs the same way), so they are
/// left out; everything else must be equal.
#[allow(dead_code)]
pub fn compare_primary_replica(
    primary: &mut RespConn,
    replica: &mut RespConn,
    dbs: &[usize],
    what: &str,
) {
    compare_servers_with(primary, replica, dbs, what, |s| {
        s.lines()
            .map(|l| match l.find("(\"entries-read\"") {
                Some(i) if l.starts_with("[(\"name\"") => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn compare_servers_with(
    reference: &mut RespConn,
    other: &mut RespConn,
    dbs: &[usize],
    what: &str,
    normalize: impl Fn(String) -> String,
) {
    for &db in dbs {
        let d = db.to_string();
        q(reference, &[b"SELECT", d.as_bytes()]);
        q(other, &[b"SELECT", d.as_bytes()]);
        let keys = keys_of(reference);
        assert_eq!(keys, keys_of(other), "{what}: keys of db {db}");
        let mut diffs = Vec::new();
        for k in &keys {
            let (a, b) = (
                normalize(snapshot(reference, k)),
                normalize(snapshot(other, k)),
            );
            if a != b {
                diffs.push(format!("{}:\nwant {a}\ngot  {b}", escape(k)));
            }
            // TTLs within a few seconds of each other.
            if let (R::Int(x), R::Int(y)) = (q(reference, &[b"PTTL", k]), q(other, &[b"PTTL", k])) {
                assert!(
                    (x - y).abs() < 10_000,
                    "{what}: PTTL of {} {x} vs {y}",
                    escape(k)
                );
            }
        }
        assert!(
            diffs.is_empty(),
            "{what}: {} differences in db {db}:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
    }
}

/// Every key of databases `0..dbs`, as (type, value rendered as text,
/// absolute expiry in ms or -1): what "the same data" means when one server
/// is compared with itself after a restart, a reload or a replay, or with a
/// Redis that loaded the same file. Sets and hashes are sorted; a stream is
/// its entries, its groups (XINFO GROUPS), each group's pending summary and
/// its consumers' pending counts.
pub type Data = std::collections::BTreeMap<(usize, String), (String, String, i64)>;

fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args)
        .unwrap_or_else(|e| panic!("{}: {e}", escape(&encode_command(args))))
}

fn sorted_strings(reply: &[u8]) -> Vec<String> {
    let mut items: Vec<String> = split_aggregate(reply, Protocol::Resp2)
        .map(|(_, items)| items.iter().map(|i| escape(i)).collect())
        .unwrap_or_else(|| vec![escape(reply)]);
    items.sort();
    items
}

pub fn data(c: &mut RespConn, dbs: usize) -> Data {
    let mut out = Data::new();
    for db in 0..dbs {
        run(c, &["SELECT", &db.to_string()]);
        let keys = run(c, &["KEYS", "*"]);
        let keys: Vec<Vec<u8>> = split_aggregate(&keys, Protocol::Resp2)
            .map(|(_, items)| {
                items
                    .iter()
                    .map(|i| string_value(i).unwrap_or_default().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        for key in keys {
            let k = String::from_utf8_lossy(&key).into_owned();
            let t = String::from_utf8_lossy(&run(c, &["TYPE", &k]))
                .trim()
                .trim_start_matches('+')
                .to_string();
            let v = match t.as_str() {
                "string" => escape(&run(c, &["GET", &k])),
                "list" => escape(&run(c, &["LRANGE", &k, "0", "-1"])),
                "set" => sorted_strings(&run(c, &["SMEMBERS", &k])).join(","),
                "hash" => {
                    let flat = run(c, &["HGETALL", &k]);
                    let items: Vec<String> = split_aggregate(&flat, Protocol::Resp2)
                        .map(|(_, items)| items.iter().map(|i| escape(i)).collect())
                        .unwrap_or_default();
                    let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "zset" => escape(&run(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "stream" => {
                    let groups = run(c, &["XINFO", "GROUPS", &k]);
                    let mut v = format!(
                        "{} {}",
                        escape(&run(c, &["XRANGE", &k, "-", "+"])),
                        escape(&groups)
                    );
                    for g in split_aggregate(&groups, Protocol::Resp2)
                        .map(|(_, gs)| gs)
                        .unwrap_or_default()
                    {
                        let fields = split_aggregate(g, Protocol::Resp2)
                            .map(|(_, f)| f)
                            .unwrap_or_default();
                        let Some(name) = fields.get(1).and_then(|n| string_value(n)) else {
                            continue;
                        };
                        let name = String::from_utf8_lossy(name).into_owned();
                        v += &format!(" {name}: {}", escape(&run(c, &["XPENDING", &k, &name])));
                        let consumers = run(c, &["XINFO", "CONSUMERS", &k, &name]);
                        for cons in split_aggregate(&consumers, Protocol::Resp2)
                            .map(|(_, cs)| cs)
                            .unwrap_or_default()
                        {
                            let f = split_aggregate(cons, Protocol::Resp2)
                                .map(|(_, f)| f)
                                .unwrap_or_default();
                            // name and pending; seen-time depends on the moment.
                            if f.len() >= 4 {
                                v += &format!(" {}={}", escape(f[1]), escape(f[3]));
                            }
                        }
                    }
                    v
                }
                other => format!("unexpected type {other}"),
            };
            let at = integer_value(&run(c, &["PEXPIRETIME", &k])).unwrap_or(-3);
            out.insert((db, k), (t, v, at));
        }
    }
    run(c, &["SELECT", "0"]);
    out
}

/// Asserts two data sets are equal, reporting the first differences.
pub fn assert_same(got: &Data, want: &Data, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => diffs.push(format!("missing {k:?}")),
            Some(g) if g != v => diffs.push(format!("{k:?}: got {g:?}, want {v:?}")),
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        diffs.push(format!("extra {k:?}"));
    }
    if !diffs.is_empty() {
        let shown: Vec<String> = diffs
            .iter()
            .take(6)
            .map(|d| d.chars().take(600).collect())
            .collect();
        panic!(
            "{what}: {} differences, first:\n{}",
            diffs.len(),
            shown.join("\n")
        );
    }
}
