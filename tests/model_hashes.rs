//! Model test for the hash commands: random operation sequences (fixed seeds) run against a real
//! `ember-server` and against a plain model in this file (an ordered list of pairs, which is what
//! a listpack-encoded hash is, plus a flag for the hashtable encoding), comparing every reply:
//! HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HEXISTS, HSTRLEN, HINCRBY, HINCRBYFLOAT,
//! HGETALL/HKEYS/HVALS (exact order while the model says "listpack", as sets once it says
//! "hashtable"), OBJECT ENCODING, deletion of emptied keys and WRONGTYPE. HRANDFIELD replies are
//! checked for their properties (size, distinctness, membership, values), and HSCAN iterations
//! run with writes between the steps and must return every field present for the whole scan.
//! Values are sometimes longer than 64 bytes and hashes sometimes grow past 512 fields, so both
//! encodings and the conversion are exercised. One seed speaks RESP3. Bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{
    escape, integer_value, split_aggregate, string_value, Protocol, RespConn, Rng, ServerProcess,
};
use std::collections::{BTreeSet, HashMap, HashSet};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const MAX_ENTRIES: usize = 512;
const MAX_VALUE: usize = 64;

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
    fn agg(&self, kind: u8, n: usize, items: &[Vec<u8>]) -> Vec<u8> {
        let mut v = format!("{}{}\r\n", kind as char, n).into_bytes();
        for i in items {
            v.extend_from_slice(i);
        }
        v
    }
    fn array(&self, items: &[Vec<u8>]) -> Vec<u8> {
        self.agg(b'*', items.len(), items)
    }
    /// A map of pairs (flat array in RESP2).
    fn map(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let items: Vec<Vec<u8>> = pairs
            .iter()
            .flat_map(|(f, v)| [self.bulk(f), self.bulk(v)])
            .collect();
        if self.resp3 {
            self.agg(b'%', pairs.len(), &items)
        } else {
            self.array(&items)
        }
    }
    fn err(&self, e: &str) -> Vec<u8> {
        format!("-{e}\r\n").into_bytes()
    }
}

/// A hash as Redis keeps a listpack one: pairs in insertion order, updated
/// in place, deleted by shifting. `table` once it converted (never back).
#[derive(Default, Clone)]
struct Hash {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    table: bool,
}

impl Hash {
    fn get(&self, f: &[u8]) -> Option<&Vec<u8>> {
        self.pairs.iter().find(|(k, _)| k == f).map(|(_, v)| v)
    }
    /// Returns true when the field is new; converts like Redis.
    fn set(&mut self, f: &[u8], v: &[u8]) -> bool {
        if f.len() > MAX_VALUE || v.len() > MAX_VALUE {
            self.table = true;
        }
        let new = match self.pairs.iter_mut().find(|(k, _)| k == f) {
            Some(p) => {
                p.1 = v.to_vec();
                false
            }
            None => {
                self.pairs.push((f.to_vec(), v.to_vec()));
                true
            }
        };
        if self.pairs.len() > MAX_ENTRIES {
            self.table = true;
        }
        new
    }
    fn del(&mut self, f: &[u8]) -> bool {
        match self.pairs.iter().position(|(k, _)| k == f) {
            Some(i) => {
                self.pairs.remove(i);
                true
            }
            None => false,
        }
    }
    fn encoding(&self) -> &'static str {
        if self.table {
            "hashtable"
        } else {
            "listpack"
        }
    }
}

struct Tester {
    conn: RespConn,
    enc: Enc,
    model: HashMap<Vec<u8>, Hash>,
    rng: Rng,
    seed: u64,
    step: usize,
}

fn sorted_elems(reply: &[u8], proto: Protocol) -> Vec<Vec<u8>> {
    let (_, elems) = split_aggregate(reply, proto).expect("aggregate reply");
    let mut v: Vec<Vec<u8>> = elems.iter().map(|e| e.to_vec()).collect();
    v.sort();
    v
}

impl Tester {
    fn send(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        self.conn.command(args).unwrap_or_else(|e| {
            panic!(
                "seed {} step {}: {:?} failed: {e}",
                self.seed,
                self.step,
                args.iter().map(|a| escape(a)).collect::<Vec<_>>()
            )
        })
    }

    fn check(&mut self, args: &[Vec<u8>], expected: Vec<u8>) -> Vec<u8> {
        let got = self.send(args);
        assert_eq!(
            escape(&got),
            escape(&expected),
            "seed {} step {}: {:?}",
            self.seed,
            self.step,
            args.iter().map(|a| escape(a)).collect::<Vec<_>>()
        );
        got
    }

    /// Compares an unordered aggregate reply with the expected one, element by element.
    fn check_unordered(&mut self, args: &[Vec<u8>], expected: Vec<u8>) {
        let got = self.send(args);
        let proto = self.conn.protocol();
        assert_eq!(
            got.first(),
            expected.first(),
            "seed {} step {}: reply type",
            self.seed,
            self.step
        );
        let what = format!(
            "seed {} step {}: {:?}",
            self.seed,
            self.step,
            args.iter().map(|a| escape(a)).collect::<Vec<_>>()
        );
        if got.first() == Some(&b'%') || (got.first() == Some(&b'*') && args[0] == b"HGETALL") {
            // Pairs: compare as sorted (field, value) pairs.
            let pairs = |r: &[u8]| {
                let (_, e) = split_aggregate(r, proto).expect("aggregate");
                let mut p: Vec<(Vec<u8>, Vec<u8>)> = e
                    .chunks(2)
                    .map(|c| (c[0].to_vec(), c[1].to_vec()))
                    .collect();
                p.sort();
                p
            };
            assert_eq!(pairs(&got), pairs(&expected), "{what}");
        } else {
            assert_eq!(
                sorted_elems(&got, proto),
                sorted_elems(&expected, proto),
                "{what}"
            );
        }
    }

    fn key(&mut self) -> Vec<u8> {
        format!("h{}", self.rng.below(4)).into_bytes()
    }

    fn field(&mut self) -> Vec<u8> {
        if self.rng.chance(3) {
            // Sometimes a field longer than 64 bytes.
            return format!("{}{}", "F".repeat(64), self.rng.below(5)).into_bytes();
        }
        format!("f{}", self.rng.below(30)).into_bytes()
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=39 => self.rng.range(-1000, 1000).to_string().into_bytes(),
            40..=42 => vec![b'v'; 65 + self.rng.below(40) as usize],
            43..=45 => Vec::new(),
            _ => {
                let n = self.rng.range(1, 12) as usize;
                (0..n).map(|_| b'a' + self.rng.below(5) as u8).collect()
            }
        }
    }

    fn hash(&self, key: &[u8]) -> Option<&Hash> {
        self.model.get(key)
    }

    /// Removes an emptied hash, as the server deletes the key.
    fn tidy(&mut self, key: &[u8]) {
        if self.model.get(key).is_some_and(|h| h.pairs.is_empty()) {
            self.model.remove(key);
        }
    }

    fn step(&mut self) {
        let key = self.key();
        let k = |s: &str| s.as_bytes().to_vec();
        match self.rng.below(100) {
            0..=17 => {
                let n = self.rng.range(1, 4);
                let mut args = vec![
                    k(if self.rng.chance(20) { "HMSET" } else { "HSET" }),
                    key.clone(),
                ];
                let mut pairs = Vec::new();
                for _ in 0..n {
                    let (f, v) = (self.field(), self.value());
                    args.push(f.clone());
                    args.push(v.clone());
                    pairs.push((f, v));
                }
                let h = self.model.entry(key.clone()).or_default();
                let created = pairs.iter().filter(|(f, v)| h.set(f, v)).count();
                let expected = if args[0] == b"HMSET" {
                    b"+OK\r\n".to_vec()
                } else {
                    self.enc.int(created as i64)
                };
                self.check(&args, expected);
            }
            18..=21 => {
                let (f, v) = (self.field(), self.value());
                let h = self.model.entry(key.clone()).or_default();
                let added = h.get(&f).is_none() && h.set(&f, &v);
                self.tidy(&key);
                self.check(&[k("HSETNX"), key, f, v], self.enc.int(added as i64));
            }
            22..=29 => {
                let f = self.field();
                let expected = match self.hash(&key).and_then(|h| h.get(&f)) {
                    Some(v) => self.enc.bulk(v),
                    None => self.enc.null(),
                };
                self.check(&[k("HGET"), key, f], expected);
            }
            30..=33 => {
                let fields: Vec<Vec<u8>> = (0..3).map(|_| self.field()).collect();
                let items: Vec<Vec<u8>> = fields
                    .iter()
                    .map(|f| match self.hash(&key).and_then(|h| h.get(f)) {
                        Some(v) => self.enc.bulk(v),
                        None => self.enc.null(),
                    })
                    .collect();
                let mut args = vec![k("HMGET"), key];
                args.extend(fields);
                self.check(&args, self.enc.array(&items));
            }
            34..=41 => {
                let n = self.rng.range(1, 3);
                let fields: Vec<Vec<u8>> = (0..n).map(|_| self.field()).collect();
                let mut deleted = 0;
                if let Some(h) = self.model.get_mut(&key) {
                    for f in &fields {
                        deleted += h.del(f) as i64;
                    }
                }
                self.tidy(&key);
                let mut args = vec![k("HDEL"), key];
                args.extend(fields);
                self.check(&args, self.enc.int(deleted));
            }
            42..=44 => {
                let n = self.hash(&key).map_or(0, |h| h.pairs.len());
                self.check(&[k("HLEN"), key], self.enc.int(n as i64));
            }
            45..=47 => {
                let f = self.field();
                let e = self.hash(&key).is_some_and(|h| h.get(&f).is_some());
                self.check(
                    &[k("HEXISTS"), key.clone(), f.clone()],
                    self.enc.int(e as i64),
                );
                let n = self
                    .hash(&key)
                    .and_then(|h| h.get(&f))
                    .map_or(0, |v| v.len());
                self.check(&[k("HSTRLEN"), key, f], self.enc.int(n as i64));
            }
            48..=54 => {
                let f = self.field();
                let incr = if self.rng.chance(2) {
                    i64::MAX - 5
                } else {
                    self.rng.range(-100, 100)
                };
                let cur = self.hash(&key).and_then(|h| h.get(&f)).cloned();
                let parsed = match &cur {
                    None => Some(0),
                    Some(v) => std::str::from_utf8(v).ok().and_then(|s| {
                        // Redis's string2ll: canonical decimal only.
                        let n: i64 = s.parse().ok()?;
                        (n.to_string() == s).then_some(n)
                    }),
                };
                let expected = match parsed {
                    None => self.enc.err("ERR hash value is not an integer"),
                    Some(c) => match c.checked_add(incr) {
                        None => self.enc.err("ERR increment or decrement would overflow"),
                        Some(n) => {
                            self.model
                                .entry(key.clone())
                                .or_default()
                                .set(&f, n.to_string().as_bytes());
                            self.enc.int(n)
                        }
                    },
                };
                self.check(
                    &[k("HINCRBY"), key, f, incr.to_string().into_bytes()],
                    expected,
                );
            }
            55..=58 => {
                let f = self.field();
                // Increments that are exact in binary, so the sum prints the same in Redis's
                // long double and here.
                let incr = self.rng.range(-40, 40) as f64 / 4.0;
                let cur = self.hash(&key).and_then(|h| h.get(&f)).cloned();
                let parsed = match &cur {
                    None => Some(0.0),
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .filter(|s| !s.is_empty() && !s.starts_with(' '))
                        .and_then(|s| s.parse::<f64>().ok()),
                };
                let expected = match parsed {
                    None => self.enc.err("ERR hash value is not a float"),
                    Some(c) => {
                        let sum = c + incr;
                        let text = if sum == 0.0 {
                            "0".to_string()
                        } else {
                            format!("{sum}")
                        };
                        self.model
                            .entry(key.clone())
                            .or_default()
                            .set(&f, text.as_bytes());
                        self.enc.bulk(text.as_bytes())
                    }
                };
                self.check(
                    &[k("HINCRBYFLOAT"), key, f, format!("{incr}").into_bytes()],
                    expected,
                );
            }
            59..=64 => {
                let which = ["HGETALL", "HKEYS", "HVALS"][self.rng.below(3) as usize];
                let h = self.hash(&key).cloned().unwrap_or_default();
                let expected = match which {
                    "HGETALL" => self.enc.map(&h.pairs),
                    "HKEYS" => self.enc.array(
                        &h.pairs
                            .iter()
                            .map(|(f, _)| self.enc.bulk(f))
                            .collect::<Vec<_>>(),
                    ),
                    _ => self.enc.array(
                        &h.pairs
                            .iter()
                            .map(|(_, v)| self.enc.bulk(v))
                            .collect::<Vec<_>>(),
                    ),
                };
                if h.table {
                    self.check_unordered(&[k(which), key], expected);
                } else {
                    self.check(&[k(which), key], expected);
                }
            }
            65..=68 => {
                let expected = match self.hash(&key) {
                    Some(h) => self.enc.bulk(h.encoding().as_bytes()),
                    None => self.enc.null(),
                };
                self.check(&[k("OBJECT"), k("ENCODING"), key], expected);
            }
            69..=76 => self.hrandfield(key),
            77..=80 => self.hscan(key),
            81 => {
                // Grow past the listpack limit in one go.
                let base = self.rng.below(1000);
                let mut args = vec![k("HSET"), key.clone()];
                let h = self.model.entry(key.clone()).or_default();
                let mut created = 0;
                for i in 0..200 {
                    let f = format!("bulk{}", base + i).into_bytes();
                    created += h.set(&f, b"x") as i64;
                    args.push(f);
                    args.push(k("x"));
                }
                self.check(&args, self.enc.int(created));
            }
            82..=83 => {
                let existed = self.model.remove(&key).is_some();
                self.check(&[k("DEL"), key], self.enc.int(existed as i64));
            }
            84..=86 => {
                // Commands against the string key.
                let cmds: [&[&str]; 8] = [
                    &["HSET", "str", "f", "v"],
                    &["HGET", "str", "f"],
                    &["HGETALL", "str"],
                    &["HDEL", "str", "f"],
                    &["HINCRBY", "str", "f", "1"],
                    &["HRANDFIELD", "str", "2"],
                    &["HSCAN", "str", "0"],
                    &["HLEN", "str"],
                ];
                let c = cmds[self.rng.below(cmds.len() as u64) as usize];
                let args: Vec<Vec<u8>> = c.iter().map(|s| k(s)).collect();
                self.check(&args, self.enc.err(WRONGTYPE));
            }
            _ => {
                let t = if self.hash(&key).is_some() {
                    "hash"
                } else {
                    "none"
                };
                self.check(&[k("TYPE"), key], format!("+{t}\r\n").into_bytes());
            }
        }
    }

    fn hrandfield(&mut self, key: Vec<u8>) {
        let k = |s: &str| s.as_bytes().to_vec();
        let withvalues = self.rng.chance(40);
        let count: i64 = match self.rng.below(6) {
            0 => 0,
            1 => 1,
            2 => self.rng.range(-20, -1),
            3 => self.rng.range(2, 10),
            4 => self.rng.range(20, 600),
            _ => -(self.rng.range(100, 700)),
        };
        let h = self.hash(&key).cloned();
        let mut args = vec![k("HRANDFIELD"), key.clone()];
        let single = self.rng.chance(15);
        if single {
            let got = self.send(&args);
            match &h {
                None => assert_eq!(
                    got,
                    self.enc.null(),
                    "seed {} step {}",
                    self.seed,
                    self.step
                ),
                Some(h) => {
                    let f = string_value(&got).expect("bulk");
                    assert!(
                        h.get(f).is_some(),
                        "seed {} step {}: {}",
                        self.seed,
                        self.step,
                        escape(&got)
                    );
                }
            }
            return;
        }
        args.push(count.to_string().into_bytes());
        if withvalues {
            args.push(k("WITHVALUES"));
        }
        let got = self.send(&args);
        let proto = self.conn.protocol();
        let what = format!(
            "seed {} step {}: HRANDFIELD {} {count} {withvalues}",
            self.seed,
            self.step,
            escape(&key)
        );
        let Some(h) = h else {
            assert_eq!(got, b"*0\r\n", "{what}");
            return;
        };
        let (kind, elems) = split_aggregate(&got, proto).expect("array");
        assert_eq!(kind, b'*', "{what}");
        // Flatten to (field, value?) picks.
        let mut picks: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        if withvalues && self.enc.resp3 {
            for e in elems {
                let (_, pair) = split_aggregate(e, proto).expect("pair");
                assert_eq!(pair.len(), 2, "{what}");
                picks.push((
                    string_value(pair[0]).expect("bulk").to_vec(),
                    Some(string_value(pair[1]).expect("bulk").to_vec()),
                ));
            }
        } else if withvalues {
            assert_eq!(elems.len() % 2, 0, "{what}");
            for c in elems.chunks(2) {
                picks.push((
                    string_value(c[0]).expect("bulk").to_vec(),
                    Some(string_value(c[1]).expect("bulk").to_vec()),
                ));
            }
        } else {
            for e in elems {
                picks.push((string_value(e).expect("bulk").to_vec(), None));
            }
        }
        let n = count.unsigned_abs() as usize;
        let size = h.pairs.len();
        let expected_len = if count >= 0 { n.min(size) } else { n };
        assert_eq!(picks.len(), expected_len, "{what}");
        for (f, v) in &picks {
            let mv = h
                .get(f)
                .unwrap_or_else(|| panic!("{what}: {} not in hash", escape(f)));
            if let Some(v) = v {
                assert_eq!(v, mv, "{what}");
            }
        }
        if count > 0 {
            let distinct: HashSet<&Vec<u8>> = picks.iter().map(|(f, _)| f).collect();
            assert_eq!(distinct.len(), picks.len(), "{what}: repeated field");
        }
        if count >= size as i64 && !h.table {
            // The whole listpack, in order.
            let order: Vec<&Vec<u8>> = picks.iter().map(|(f, _)| f).collect();
            let model: Vec<&Vec<u8>> = h.pairs.iter().map(|(f, _)| f).collect();
            assert_eq!(order, model, "{what}");
        }
    }

    /// A full HSCAN with writes to the same key between its steps.
    fn hscan(&mut self, key: Vec<u8>) {
        let k = |s: &str| s.as_bytes().to_vec();
        let count = self.rng.range(1, 30);
        let pattern = if self.rng.chance(30) {
            Some(k("f1*"))
        } else {
            None
        };
        let matches = |f: &[u8]| pattern.as_ref().is_none_or(|p| f.starts_with(&p[..2]));
        let start: BTreeSet<Vec<u8>> = self.hash(&key).map_or_else(BTreeSet::new, |h| {
            h.pairs.iter().map(|(f, _)| f.clone()).collect()
        });
        let mut ever: BTreeSet<Vec<u8>> = start.clone();
        let mut deleted: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut cursor = k("0");
        let proto = self.conn.protocol();
        let mut calls = 0;
        loop {
            let mut args = vec![
                k("HSCAN"),
                key.clone(),
                cursor.clone(),
                k("COUNT"),
                count.to_string().into_bytes(),
            ];
            if let Some(p) = &pattern {
                args.push(k("MATCH"));
                args.push(p.clone());
            }
            let got = self.send(&args);
            let what = format!(
                "seed {} step {}: {:?}",
                self.seed,
                self.step,
                args.iter().map(|a| escape(a)).collect::<Vec<_>>()
            );
            let (_, parts) =
                split_aggregate(&got, proto).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
            cursor = string_value(parts[0]).expect("cursor").to_vec();
            let (_, elems) = split_aggregate(parts[1], proto).expect("items");
            assert_eq!(elems.len() % 2, 0, "{what}");
            let h = self.hash(&key).cloned();
            if calls == 0 && cursor == b"0" {
                // One call: a listpack returns everything, in order.
                if let Some(h) = &h {
                    if !h.table {
                        let expected: Vec<Vec<u8>> = h
                            .pairs
                            .iter()
                            .filter(|(f, _)| matches(f))
                            .flat_map(|(f, v)| [self.enc.bulk(f), self.enc.bulk(v)])
                            .collect();
                        let got_items: Vec<Vec<u8>> = elems.iter().map(|e| e.to_vec()).collect();
                        assert_eq!(got_items, expected, "{what}");
                    }
                }
            }
            for c in elems.chunks(2) {
                let f = string_value(c[0]).expect("field").to_vec();
                assert!(matches(&f), "{what}: {} does not match", escape(&f));
                assert!(ever.contains(&f), "{what}: {} never existed", escape(&f));
                if let Some(v) = h.as_ref().and_then(|h| h.get(&f)) {
                    assert_eq!(string_value(c[1]).expect("value"), &v[..], "{what}");
                }
                seen.insert(f);
            }
            calls += 1;
            if cursor == b"0" {
                break;
            }
            assert!(calls < 10_000, "{what}: scan does not end");
            // Writes between steps: add a field, delete one.
            if self.rng.chance(50) {
                let f = format!("new{}", self.rng.below(50)).into_bytes();
                let h = self.model.entry(key.clone()).or_default();
                let created = h.set(&f, b"n");
                ever.insert(f.clone());
                self.check(
                    &[k("HSET"), key.clone(), f, k("n")],
                    self.enc.int(created as i64),
                );
            }
            if self.rng.chance(50) {
                let f = self.field();
                let mut del = false;
                if let Some(h) = self.model.get_mut(&key) {
                    del = h.del(&f);
                }
                self.tidy(&key);
                if del {
                    deleted.insert(f.clone());
                }
                self.check(&[k("HDEL"), key.clone(), f], self.enc.int(del as i64));
            }
        }
        for f in start.iter().filter(|f| matches(f) && !deleted.contains(*f)) {
            assert!(
                seen.contains(f),
                "seed {} step {}: HSCAN missed {}",
                self.seed,
                self.step,
                escape(f)
            );
        }
    }
}

fn run(seed: u64, steps: usize, resp3: bool, server: &ServerProcess) {
    let mut conn = server.connect();
    conn.command(&["FLUSHALL"]).expect("flushall");
    if resp3 {
        conn.set_protocol(Protocol::Resp3);
        conn.command(&["HELLO", "3"]).expect("hello");
    }
    conn.command(&["SET", "str", "x"]).expect("set");
    let mut t = Tester {
        conn,
        enc: Enc { resp3 },
        model: HashMap::new(),
        rng: Rng::new(seed),
        seed,
        step: 0,
    };
    let started = std::time::Instant::now();
    for i in 0..steps {
        t.step = i;
        t.step();
    }
    eprintln!("seed {seed}: {steps} steps in {:?}", started.elapsed());
    // Final sweep: every key matches the model.
    for i in 0..4 {
        let key = format!("h{i}").into_bytes();
        let n = t.model.get(&key).map_or(0, |h| h.pairs.len());
        let got = t.send(&[b"HLEN".to_vec(), key]);
        assert_eq!(
            integer_value(&got),
            Some(n as i64),
            "seed {seed}: final HLEN h{i}"
        );
    }
}

#[test]
fn hashes_match_the_model() {
    let server = ServerProcess::start_ember(&[]);
    for (seed, resp3) in [(1, false), (2, false), (3, true), (4, false)] {
        run(seed, 3000, resp3, &server);
    }
}
