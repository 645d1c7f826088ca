//! Model test for the set commands: random operation sequences (fixed seeds) run against a real
//! `ember-server` and against a `BTreeSet` model in this file, comparing every reply: SADD, SREM,
//! SISMEMBER, SMISMEMBER, SCARD, SMEMBERS (exact ascending order while the model says "intset",
//! as a set once "hashtable"), SMOVE, SINTER/SUNION/SDIFF and their *STORE forms, SINTERCARD with
//! LIMIT, OBJECT ENCODING, deletion of emptied keys and WRONGTYPE. SPOP and SRANDMEMBER replies
//! are checked for their properties (size, distinctness, membership) and SPOP's removals are
//! applied to the model; SSCAN iterations run with writes between the steps and must return
//! every member present for the whole scan. Members mix canonical integers, non-canonical ones
//! ("01", "-0", "+1") and strings, and sets sometimes grow past 512 members, so both encodings
//! and the conversion are exercised. One seed speaks RESP3. Bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{
    escape, integer_value, split_aggregate, string_value, Protocol, RespConn, Rng, ServerProcess,
};
use std::collections::{BTreeSet, HashMap, HashSet};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const MAX_INTSET: usize = 512;

/// Redis's string2ll: canonical decimal integers only.
fn as_int(m: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(m).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// A set and the encoding Redis would report for it.
#[derive(Default, Clone)]
struct Set {
    members: BTreeSet<Vec<u8>>,
    table: bool,
}

impl Set {
    /// What a set built from scratch by adding `members` (in this order) is
    /// encoded as: an intset until a non-integer or the 513th member.
    fn built(members: impl IntoIterator<Item = Vec<u8>>) -> Set {
        let mut s = Set::default();
        for m in members {
            s.add(&m);
        }
        s
    }
    fn add(&mut self, m: &[u8]) -> bool {
        let added = self.members.insert(m.to_vec());
        if added && (as_int(m).is_none() || self.members.len() > MAX_INTSET) {
            self.table = true;
        }
        added
    }
    fn encoding(&self) -> &'static str {
        if self.table {
            "hashtable"
        } else {
            "intset"
        }
    }
    /// Members in the order an intset iterates them (ascending integers).
    fn int_order(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<(i64, Vec<u8>)> = self
            .members
            .iter()
            .map(|m| (as_int(m).unwrap_or(i64::MAX), m.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, m)| m).collect()
    }
}

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
    fn agg(&self, kind: u8, items: &[Vec<u8>]) -> Vec<u8> {
        let mut v = format!("{}{}\r\n", kind as char, items.len()).into_bytes();
        for i in items {
            v.extend_from_slice(i);
        }
        v
    }
    fn array(&self, items: &[Vec<u8>]) -> Vec<u8> {
        self.agg(b'*', items)
    }
    fn err(&self, e: &str) -> Vec<u8> {
        format!("-{e}\r\n").into_bytes()
    }
}

struct Tester {
    conn: RespConn,
    enc: Enc,
    model: HashMap<Vec<u8>, Set>,
    rng: Rng,
    seed: u64,
    step: usize,
}

impl Tester {
    fn what(&self, args: &[Vec<u8>]) -> String {
        format!(
            "seed {} step {}: {:?}",
            self.seed,
            self.step,
            args.iter().map(|a| escape(a)).collect::<Vec<_>>()
        )
    }

    fn send(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let what = self.what(args);
        self.conn
            .command(args)
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    fn check(&mut self, args: &[Vec<u8>], expected: Vec<u8>) {
        let got = self.send(args);
        assert_eq!(escape(&got), escape(&expected), "{}", self.what(args));
    }

    /// A set reply: exact order for an intset, any order for a hashtable.
    fn check_set_reply(&mut self, args: &[Vec<u8>], s: &Set, kind: u8) {
        let got = self.send(args);
        let what = self.what(args);
        let proto = self.conn.protocol();
        let (got_kind, elems) =
            split_aggregate(&got, proto).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
        let want_kind = if kind == b'~' && !self.enc.resp3 {
            b'*'
        } else {
            kind
        };
        assert_eq!(got_kind, want_kind, "{what}");
        let members: Vec<Vec<u8>> = elems
            .iter()
            .map(|e| string_value(e).expect("bulk").to_vec())
            .collect();
        if s.table {
            let got_set: BTreeSet<Vec<u8>> = members.iter().cloned().collect();
            assert_eq!(got_set.len(), members.len(), "{what}: repeated member");
            assert_eq!(got_set, s.members, "{what}");
        } else {
            assert_eq!(members, s.int_order(), "{what}");
        }
    }

    fn key(&mut self) -> Vec<u8> {
        format!("s{}", self.rng.below(4)).into_bytes()
    }

    fn member(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=59 => self.rng.range(-40, 40).to_string().into_bytes(),
            60..=62 => ["01", "-0", "+1", " 1", "1.0"][self.rng.below(5) as usize]
                .as_bytes()
                .to_vec(),
            63..=64 => i64::MIN.to_string().into_bytes(),
            65..=66 => (i64::MAX - self.rng.below(3) as i64)
                .to_string()
                .into_bytes(),
            67..=70 => (70_000 + self.rng.below(20) as i64)
                .to_string()
                .into_bytes(),
            _ => format!("m{}", self.rng.below(30)).into_bytes(),
        }
    }

    fn get(&self, key: &[u8]) -> Option<&Set> {
        self.model.get(key)
    }

    fn tidy(&mut self, key: &[u8]) {
        if self.model.get(key).is_some_and(|s| s.members.is_empty()) {
            self.model.remove(key);
        }
    }

    fn step(&mut self) {
        let key = self.key();
        let k = |s: &str| s.as_bytes().to_vec();
        match self.rng.below(100) {
            0..=19 => {
                let n = self.rng.range(1, 4);
                let members: Vec<Vec<u8>> = (0..n).map(|_| self.member()).collect();
                let s = self.model.entry(key.clone()).or_default();
                let added = members.iter().filter(|m| s.add(m)).count();
                let mut args = vec![k("SADD"), key];
                args.extend(members);
                self.check(&args, self.enc.int(added as i64));
            }
            20..=27 => {
                let n = self.rng.range(1, 3);
                let members: Vec<Vec<u8>> = (0..n).map(|_| self.member()).collect();
                let mut removed = 0;
                if let Some(s) = self.model.get_mut(&key) {
                    for m in &members {
                        removed += s.members.remove(m) as i64;
                    }
                }
                self.tidy(&key);
                let mut args = vec![k("SREM"), key];
                args.extend(members);
                self.check(&args, self.enc.int(removed));
            }
            28..=33 => {
                let m = self.member();
                let found = self.get(&key).is_some_and(|s| s.members.contains(&m));
                self.check(
                    &[k("SISMEMBER"), key.clone(), m],
                    self.enc.int(found as i64),
                );
                let ms: Vec<Vec<u8>> = (0..3).map(|_| self.member()).collect();
                let items: Vec<Vec<u8>> = ms
                    .iter()
                    .map(|m| {
                        self.enc
                            .int(self.get(&key).is_some_and(|s| s.members.contains(m)) as i64)
                    })
                    .collect();
                let mut args = vec![k("SMISMEMBER"), key];
                args.extend(ms);
                self.check(&args, self.enc.array(&items));
            }
            34..=36 => {
                let n = self.get(&key).map_or(0, |s| s.members.len());
                self.check(&[k("SCARD"), key], self.enc.int(n as i64));
            }
            37..=42 => {
                let s = self.get(&key).cloned().unwrap_or_default();
                self.check_set_reply(&[k("SMEMBERS"), key], &s, b'~');
            }
            43..=45 => {
                let expected = match self.get(&key) {
                    Some(s) => self.enc.bulk(s.encoding().as_bytes()),
                    None => self.enc.null(),
                };
                self.check(&[k("OBJECT"), k("ENCODING"), key], expected);
            }
            46..=51 => self.spop(key),
            52..=56 => self.srandmember(key),
            57..=60 => {
                let dst = self.key();
                let m = self.member();
                let src_has = self.get(&key).is_some_and(|s| s.members.contains(&m));
                let moved = if key == dst {
                    src_has
                } else if src_has {
                    if let Some(s) = self.model.get_mut(&key) {
                        s.members.remove(&m);
                    }
                    self.tidy(&key);
                    self.model.entry(dst.clone()).or_default().add(&m);
                    true
                } else {
                    false
                };
                self.check(&[k("SMOVE"), key, dst, m], self.enc.int(moved as i64));
            }
            61..=72 => self.algebra(),
            73..=76 => self.sscan(key),
            77 => {
                // Grow past the intset limit in one go.
                let base = self.rng.range(-1000, 1000);
                let members: Vec<Vec<u8>> = (0..200)
                    .map(|i| (base + i).to_string().into_bytes())
                    .collect();
                let s = self.model.entry(key.clone()).or_default();
                let added = members.iter().filter(|m| s.add(m)).count();
                let mut args = vec![k("SADD"), key];
                args.extend(members);
                self.check(&args, self.enc.int(added as i64));
            }
            78..=79 => {
                let existed = self.model.remove(&key).is_some();
                self.check(&[k("DEL"), key], self.enc.int(existed as i64));
            }
            80..=82 => {
                let cmds: [&[&str]; 9] = [
                    &["SADD", "str", "a"],
                    &["SREM", "str", "a"],
                    &["SMEMBERS", "str"],
                    &["SPOP", "str"],
                    &["SRANDMEMBER", "str", "-2"],
                    &["SINTER", "s0", "str"],
                    &["SUNIONSTORE", "s1", "str"],
                    &["SSCAN", "str", "0"],
                    &["SMOVE", "str", "s0", "a"],
                ];
                let c = cmds[self.rng.below(cmds.len() as u64) as usize];
                let args: Vec<Vec<u8>> = c.iter().map(|s| k(s)).collect();
                self.check(&args, self.enc.err(WRONGTYPE));
            }
            _ => {
                let t = if self.get(&key).is_some() {
                    "set"
                } else {
                    "none"
                };
                self.check(&[k("TYPE"), key], format!("+{t}\r\n").into_bytes());
            }
        }
    }

    fn spop(&mut self, key: Vec<u8>) {
        let k = |s: &str| s.as_bytes().to_vec();
        let proto = self.conn.protocol();
        let before = self.get(&key).cloned();
        if self.rng.chance(40) {
            let args = vec![k("SPOP"), key.clone()];
            let got = self.send(&args);
            let what = self.what(&args);
            match before {
                None => assert_eq!(got, self.enc.null(), "{what}"),
                Some(_) => {
                    let m =
                        string_value(&got).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
                    let s = self.model.get_mut(&key).expect("model");
                    assert!(s.members.remove(m), "{what}: {} not a member", escape(m));
                    self.tidy(&key);
                }
            }
            return;
        }
        let count = match self.rng.below(4) {
            0 => 0,
            1 => self.rng.range(1, 3),
            2 => self.rng.range(3, 30),
            _ => self.rng.range(30, 700),
        } as usize;
        let args = vec![k("SPOP"), key.clone(), count.to_string().into_bytes()];
        let got = self.send(&args);
        let what = self.what(&args);
        let (kind, elems) =
            split_aggregate(&got, proto).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
        assert_eq!(kind, if self.enc.resp3 { b'~' } else { b'*' }, "{what}");
        let Some(before) = before else {
            assert!(elems.is_empty(), "{what}");
            return;
        };
        let size = before.members.len();
        assert_eq!(elems.len(), count.min(size), "{what}");
        let popped: Vec<Vec<u8>> = elems
            .iter()
            .map(|e| string_value(e).expect("bulk").to_vec())
            .collect();
        let distinct: HashSet<&Vec<u8>> = popped.iter().collect();
        assert_eq!(distinct.len(), popped.len(), "{what}: repeated member");
        let s = self.model.get_mut(&key).expect("model");
        for m in &popped {
            assert!(s.members.remove(m), "{what}: {} not a member", escape(m));
        }
        let remaining = size - popped.len();
        if count > 0 && count < size && remaining * 5 <= count {
            // Redis rebuilt the set from the members that stay.
            let rebuilt = Set::built(s.members.iter().cloned());
            s.table = rebuilt.table;
        }
        self.tidy(&key);
    }

    fn srandmember(&mut self, key: Vec<u8>) {
        let k = |s: &str| s.as_bytes().to_vec();
        let proto = self.conn.protocol();
        let set = self.get(&key).cloned();
        if self.rng.chance(25) {
            let args = vec![k("SRANDMEMBER"), key];
            let got = self.send(&args);
            let what = self.what(&args);
            match set {
                None => assert_eq!(got, self.enc.null(), "{what}"),
                Some(s) => {
                    let m =
                        string_value(&got).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
                    assert!(s.members.contains(m), "{what}");
                }
            }
            return;
        }
        let count: i64 = match self.rng.below(5) {
            0 => 0,
            1 => self.rng.range(1, 5),
            2 => self.rng.range(5, 700),
            3 => self.rng.range(-10, -1),
            _ => self.rng.range(-700, -10),
        };
        let args = vec![k("SRANDMEMBER"), key, count.to_string().into_bytes()];
        let got = self.send(&args);
        let what = self.what(&args);
        let (kind, elems) =
            split_aggregate(&got, proto).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
        assert_eq!(kind, b'*', "{what}");
        let Some(s) = set else {
            assert!(elems.is_empty(), "{what}");
            return;
        };
        let picks: Vec<Vec<u8>> = elems
            .iter()
            .map(|e| string_value(e).expect("bulk").to_vec())
            .collect();
        let n = count.unsigned_abs() as usize;
        let size = s.members.len();
        assert_eq!(
            picks.len(),
            if count >= 0 { n.min(size) } else { n },
            "{what}"
        );
        for m in &picks {
            assert!(s.members.contains(m), "{what}: {} not a member", escape(m));
        }
        if count > 0 {
            let distinct: HashSet<&Vec<u8>> = picks.iter().collect();
            assert_eq!(distinct.len(), picks.len(), "{what}: repeated member");
        }
        if count as usize >= size && count > 0 && !s.table {
            assert_eq!(picks, s.int_order(), "{what}: whole intset, ascending");
        }
    }

    fn algebra(&mut self) {
        let k = |s: &str| s.as_bytes().to_vec();
        let n = self.rng.range(1, 3) as usize;
        let keys: Vec<Vec<u8>> = (0..n).map(|_| self.key()).collect();
        let sets: Vec<Option<Set>> = keys.iter().map(|k| self.get(k).cloned()).collect();
        let empty = BTreeSet::new();
        let members = |i: usize| sets[i].as_ref().map_or(&empty, |s| &s.members);
        let inter: BTreeSet<Vec<u8>> = if sets.iter().any(|s| s.is_none()) {
            BTreeSet::new()
        } else {
            members(0)
                .iter()
                .filter(|m| (1..n).all(|j| members(j).contains(*m)))
                .cloned()
                .collect()
        };
        let union: BTreeSet<Vec<u8>> = (0..n).flat_map(|i| members(i).iter().cloned()).collect();
        let diff: BTreeSet<Vec<u8>> = members(0)
            .iter()
            .filter(|m| (1..n).all(|j| !members(j).contains(*m)))
            .cloned()
            .collect();
        let op = self.rng.below(7);
        let mut args = vec![k([
            "SINTER",
            "SUNION",
            "SDIFF",
            "SINTERSTORE",
            "SUNIONSTORE",
            "SDIFFSTORE",
            "SINTERCARD",
        ][op as usize])];
        let result = match op % 3 {
            0 => inter.clone(),
            1 => union.clone(),
            _ => diff.clone(),
        };
        // The encoding of the result set as Redis builds it. SDIFF may use "add the first set,
        // remove the others", which keeps the encoding the first set's members gave it.
        let diff_algo_two = {
            let nonnull = sets.iter().filter(|s| s.is_some()).count();
            let size0 = members(0).len();
            sets[0].is_some()
                && (size0 * nonnull) / 2 > (0..n).map(|i| members(i).len()).sum::<usize>()
        };
        let built = if op % 3 == 2 && diff_algo_two {
            let mut b = Set::built(members(0).iter().cloned());
            b.members = result.clone();
            b
        } else {
            Set::built(result.iter().cloned())
        };
        match op {
            0..=2 => {
                args.extend(keys.iter().cloned());
                // The reply's order: SINTER iterates its (first) smallest input, SUNION and SDIFF
                // the result set; an intset iterates in ascending order.
                let ordered = if op == 0 {
                    let smallest = (0..n).min_by_key(|&i| members(i).len()).unwrap_or(0);
                    sets.iter().all(|s| s.is_some())
                        && sets[smallest].as_ref().is_some_and(|s| !s.table)
                } else {
                    !built.table
                };
                let got = self.send(&args);
                let what = self.what(&args);
                let proto = self.conn.protocol();
                let (_, elems) = split_aggregate(&got, proto)
                    .unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
                let got_members: Vec<Vec<u8>> = elems
                    .iter()
                    .map(|e| string_value(e).expect("bulk").to_vec())
                    .collect();
                if ordered {
                    assert_eq!(got_members, built.int_order(), "{what}");
                } else {
                    let as_set: BTreeSet<Vec<u8>> = got_members.iter().cloned().collect();
                    assert_eq!(as_set.len(), got_members.len(), "{what}: repeated member");
                    assert_eq!(as_set, result, "{what}");
                }
            }
            3..=5 => {
                let dst = self.key();
                args.push(dst.clone());
                args.extend(keys.iter().cloned());
                self.check(&args, self.enc.int(result.len() as i64));
                if result.is_empty() {
                    self.model.remove(&dst);
                } else {
                    self.model.insert(dst, built);
                }
            }
            _ => {
                let limit = if self.rng.chance(50) {
                    self.rng.range(0, 10)
                } else {
                    -1
                };
                args.push(n.to_string().into_bytes());
                args.extend(keys.iter().cloned());
                let mut card = inter.len();
                if limit >= 0 {
                    args.push(k("LIMIT"));
                    args.push(limit.to_string().into_bytes());
                    if limit > 0 {
                        card = card.min(limit as usize);
                    }
                }
                self.check(&args, self.enc.int(card as i64));
            }
        }
    }

    /// A full SSCAN with writes to the same key between its steps.
    fn sscan(&mut self, key: Vec<u8>) {
        let k = |s: &str| s.as_bytes().to_vec();
        let count = self.rng.range(1, 30);
        let pattern = if self.rng.chance(30) {
            Some(k("1*"))
        } else {
            None
        };
        let matches = |m: &[u8]| pattern.is_none() || m.starts_with(b"1");
        let start: BTreeSet<Vec<u8>> = self
            .get(&key)
            .map_or_else(BTreeSet::new, |s| s.members.clone());
        let mut ever = start.clone();
        let mut deleted = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut cursor = k("0");
        let proto = self.conn.protocol();
        let mut calls = 0;
        loop {
            let mut args = vec![
                k("SSCAN"),
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
            let what = self.what(&args);
            let (_, parts) =
                split_aggregate(&got, proto).unwrap_or_else(|| panic!("{what}: {}", escape(&got)));
            cursor = string_value(parts[0]).expect("cursor").to_vec();
            let (_, elems) = split_aggregate(parts[1], proto).expect("items");
            let got_members: Vec<Vec<u8>> = elems
                .iter()
                .map(|e| string_value(e).expect("member").to_vec())
                .collect();
            if calls == 0 && cursor == b"0" {
                if let Some(s) = self.get(&key).filter(|s| !s.table) {
                    let expected: Vec<Vec<u8>> =
                        s.int_order().into_iter().filter(|m| matches(m)).collect();
                    assert_eq!(
                        got_members, expected,
                        "{what}: an intset comes whole, ascending"
                    );
                }
            }
            for m in got_members {
                assert!(matches(&m), "{what}: {} does not match", escape(&m));
                assert!(ever.contains(&m), "{what}: {} never existed", escape(&m));
                seen.insert(m);
            }
            calls += 1;
            if cursor == b"0" {
                break;
            }
            assert!(calls < 10_000, "{what}: scan does not end");
            if self.rng.chance(50) {
                let m = format!("new{}", self.rng.below(50)).into_bytes();
                let added = self.model.entry(key.clone()).or_default().add(&m);
                ever.insert(m.clone());
                self.check(&[k("SADD"), key.clone(), m], self.enc.int(added as i64));
            }
            if self.rng.chance(50) {
                let m = self.member();
                let mut del = false;
                if let Some(s) = self.model.get_mut(&key) {
                    del = s.members.remove(&m);
                }
                self.tidy(&key);
                if del {
                    deleted.insert(m.clone());
                }
                self.check(&[k("SREM"), key.clone(), m], self.enc.int(del as i64));
            }
        }
        for m in start.iter().filter(|m| matches(m) && !deleted.contains(*m)) {
            assert!(
                seen.contains(m),
                "seed {} step {}: SSCAN missed {}",
                self.seed,
                self.step,
                escape(m)
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
    for i in 0..4 {
        let key = format!("s{i}").into_bytes();
        let n = t.model.get(&key).map_or(0, |s| s.members.len());
        let got = t.send(&[b"SCARD".to_vec(), key]);
        assert_eq!(
            integer_value(&got),
            Some(n as i64),
            "seed {seed}: final SCARD s{i}"
        );
    }
}

#[test]
fn sets_match_the_model() {
    let server = ServerProcess::start_ember(&[]);
    for (seed, resp3) in [(11, false), (12, false), (13, true), (14, false)] {
        run(seed, 3000, resp3, &server);
    }
}
