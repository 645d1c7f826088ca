//! Property test for sorted sets: random operation sequences run against a
//! real `ember-server` and against a simple model (a `BTreeMap` of member →
//! score per key, ordered by (score, member) on demand), and every reply is
//! compared byte for byte with the reply the model predicts: adds and
//! increments, ranks, rank/score/lex ranges (REV, LIMIT, WITHSCORES), counts,
//! removals by member/rank/score/lex, pops (ZPOPMIN/ZPOPMAX/ZMPOP), the
//! union/intersection/difference stores, ZRANDMEMBER membership and complete
//! ZSCAN iterations. Member spaces of a few hundred push sets past the
//! listpack limit and back down, so both encodings are exercised, and one
//! seed runs in RESP3.
//!
//! Scores are multiples of 0.5 in a small range so ties are frequent and the
//! expected text of a score is simple to derive independently of the server's
//! formatter. Fixed seeds; a few seconds in total.

#[path = "common/mod.rs"]
mod common;

use common::{escape, Protocol, RespConn, ServerProcess};
use std::collections::{BTreeMap, HashSet};

/// xorshift64*, seeded through splitmix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

type ZSet = BTreeMap<Vec<u8>, f64>;

/// The model's elements in (score, member) order.
fn ordered(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

/// Expected-reply builder for one protocol.
struct Expect {
    resp3: bool,
    buf: Vec<u8>,
}

impl Expect {
    fn new(resp3: bool) -> Expect {
        Expect {
            resp3,
            buf: Vec::new(),
        }
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
    fn int(&mut self, n: i64) -> &mut Self {
        self.buf.extend_from_slice(format!(":{n}\r\n").as_bytes());
        self
    }
    fn bulk(&mut self, b: &[u8]) -> &mut Self {
        self.buf
            .extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
        self
    }
    fn null(&mut self) -> &mut Self {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
        self
    }
    fn null_array(&mut self) -> &mut Self {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
        self
    }
    fn array(&mut self, n: usize) -> &mut Self {
        self.buf.extend_from_slice(format!("*{n}\r\n").as_bytes());
        self
    }
    fn double(&mut self, v: f64) -> &mut Self {
        let s = score_text(v);
        if self.resp3 {
            self.buf.extend_from_slice(format!(",{s}\r\n").as_bytes());
        } else {
            self.bulk(s.as_bytes());
        }
        self
    }
    /// Members with or without scores, framed as ZRANGE frames them.
    fn elements(&mut self, items: &[(Vec<u8>, f64)], withscores: bool) -> &mut Self {
        self.array(if withscores && !self.resp3 {
            items.len() * 2
        } else {
            items.len()
        });
        for (m, s) in items {
            if withscores && self.resp3 {
                self.array(2);
            }
            self.bulk(m);
            if withscores {
                self.double(*s);
            }
        }
        self
    }
}

/// A score as Redis prints it; model scores are multiples of 0.5 well inside
/// the range where Redis prints integers as integers.
fn score_text(v: f64) -> String {
    if v == v.trunc() {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn fmt_arg(v: f64) -> String {
    score_text(v)
}

struct Harness {
    conn: RespConn,
    seed: u64,
    step: usize,
    log: Vec<String>,
}

impl Harness {
    fn call(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let text: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        self.log.push(text.join(" "));
        if self.log.len() > 12 {
            self.log.remove(0);
        }
        self.conn.send(args).expect("send");
        self.conn.read_reply().expect("reply")
    }

    fn check(&mut self, args: &[Vec<u8>], want: &[u8]) {
        let got = self.call(args);
        if got != want {
            // Show the replies from a little before their first difference.
            let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
            let from = at.saturating_sub(60);
            let show = |b: &[u8]| escape(&b[from.min(b.len())..(at + 200).min(b.len())]);
            panic!(
                "seed {} step {}: reply mismatch at byte {at}\n  recent commands:\n    {}\n  expected: ...{}\n  got:      ...{}",
                self.seed,
                self.step,
                self.log.join("\n    "),
                show(want),
                show(&got)
            );
        }
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

const KEYS: [&str; 3] = ["za", "zb", "zc"];
/// All members of this key share score 0 (lex ranges are defined there).
const LEX_KEY: &str = "zl";

/// Ranks lo..hi of a Redis (start, stop) index pair, or None if empty.
fn clamp(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let l = len as i64;
    let mut s = if start < 0 { l + start } else { start };
    let mut e = if stop < 0 { l + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= l {
        return None;
    }
    if e >= l {
        e = l - 1;
    }
    Some((s as usize, e as usize + 1))
}

/// A random score bound: (text, value, exclusive).
fn score_bound(rng: &mut Rng) -> (String, f64, bool) {
    match rng.below(12) {
        0 => ("-inf".into(), f64::NEG_INFINITY, false),
        1 => ("+inf".into(), f64::INFINITY, false),
        _ => {
            let v = rng.range(-12, 12) as f64 / 2.0;
            if rng.chance(35) {
                (format!("({}", fmt_arg(v)), v, true)
            } else {
                (fmt_arg(v), v, false)
            }
        }
    }
}

fn in_min(s: f64, v: f64, ex: bool) -> bool {
    if ex {
        s > v
    } else {
        s >= v
    }
}

fn in_max(s: f64, v: f64, ex: bool) -> bool {
    if ex {
        s < v
    } else {
        s <= v
    }
}

/// A random lex bound: (text, kind) with kind 0 = "-", 1 = "+", 2 = [m, 3 = (m.
fn lex_bound(rng: &mut Rng) -> (String, u8, Vec<u8>) {
    match rng.below(10) {
        0 => ("-".into(), 0, vec![]),
        1 => ("+".into(), 1, vec![]),
        k => {
            let m = lex_member(rng);
            let excl = k % 2 == 0;
            let text = format!(
                "{}{}",
                if excl { "(" } else { "[" },
                String::from_utf8_lossy(&m)
            );
            (text, if excl { 3 } else { 2 }, m)
        }
    }
}

fn lex_member(rng: &mut Rng) -> Vec<u8> {
    // Short strings over a small alphabet: prefixes and equal strings are common.
    let len = rng.range(1, 3) as usize;
    (0..len).map(|_| b"abc"[rng.below(3) as usize]).collect()
}

fn lex_ge_min(m: &[u8], kind: u8, b: &[u8]) -> bool {
    match kind {
        0 => true,
        1 => false,
        2 => m >= b,
        _ => m > b,
    }
}

fn lex_le_max(m: &[u8], kind: u8, b: &[u8]) -> bool {
    match kind {
        0 => false,
        1 => true,
        2 => m <= b,
        _ => m < b,
    }
}

/// `members`: size of the member space. `grow`: percent of steps forced to
/// be a bulk ZADD, which keeps sets large despite pops and removals.
fn run(seed: u64, ops: usize, resp3: bool, members: u64, grow: u64) {
    let server = ServerProcess::start_ember(&[]);
    let mut conn = server.connect();
    if resp3 {
        conn.send(&args(&["HELLO", "3"])).expect("send");
        conn.set_protocol(Protocol::Resp3);
        conn.read_reply().expect("hello");
    }
    let mut h = Harness {
        conn,
        seed,
        step: 0,
        log: Vec::new(),
    };
    let mut e = Expect::new(resp3);
    let mut rng = Rng::new(seed);
    let mut model: BTreeMap<String, ZSet> = BTreeMap::new();
    for step in 0..ops {
        h.step = step;
        let key = KEYS[rng.below(KEYS.len() as u64) as usize].to_string();
        let member = |rng: &mut Rng| format!("m{}", rng.below(members)).into_bytes();
        let score = |rng: &mut Rng| rng.range(-10, 10) as f64 / 2.0;
        let z = model.get(&key).cloned().unwrap_or_default();
        let ord = ordered(&z);
        if std::env::var_os("EMBER_MODEL_DEBUG").is_some() && step % 1000 == 0 {
            let sizes: Vec<usize> = model.values().map(|z| z.len()).collect();
            eprintln!("seed {seed} step {step}: set sizes {sizes:?}");
        }

        let op = if rng.chance(grow) { 0 } else { rng.below(30) };
        let bulk = op == 0 && grow > 0;
        match op {
            // ZADD with a valid random option set and a few pairs.
            0..=5 => {
                let (nx, xx) = match rng.below(6) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (false, false),
                };
                let (gt, lt) = if nx {
                    (false, false)
                } else {
                    match rng.below(6) {
                        0 => (true, false),
                        1 => (false, true),
                        _ => (false, false),
                    }
                };
                let ch = rng.chance(30);
                let pairs = if bulk {
                    rng.range(5, 25)
                } else {
                    rng.range(1, 6)
                } as usize;
                let mut a = vec![b"ZADD".to_vec(), key.clone().into_bytes()];
                for (on, name) in [(nx, "NX"), (xx, "XX"), (gt, "GT"), (lt, "LT"), (ch, "CH")] {
                    if on {
                        a.push(name.as_bytes().to_vec());
                    }
                }
                let mut zm = z.clone();
                let (mut added, mut changed) = (0, 0);
                for _ in 0..pairs {
                    let (m, s) = (member(&mut rng), score(&mut rng));
                    a.push(fmt_arg(s).into_bytes());
                    a.push(m.clone());
                    match zm.get(&m).copied() {
                        None if !xx => {
                            zm.insert(m, s);
                            added += 1;
                        }
                        None => {}
                        Some(cur) => {
                            if nx || (gt && s <= cur) || (lt && s >= cur) {
                                continue;
                            }
                            if s != cur {
                                zm.insert(m, s);
                                changed += 1;
                            }
                        }
                    }
                }
                let want = e.int(if ch { added + changed } else { added }).take();
                h.check(&a, &want);
                if !zm.is_empty() {
                    model.insert(key.clone(), zm);
                }
            }
            // ZINCRBY
            6 | 7 => {
                let (m, by) = (member(&mut rng), score(&mut rng));
                let new = z.get(&m).copied().unwrap_or(0.0) + by;
                let want = e.double(new).take();
                h.check(
                    &[
                        b"ZINCRBY".to_vec(),
                        key.clone().into_bytes(),
                        fmt_arg(by).into_bytes(),
                        m.clone(),
                    ],
                    &want,
                );
                model.entry(key.clone()).or_default().insert(m, new);
            }
            // ZREM
            8 | 9 => {
                let ms: Vec<Vec<u8>> = (0..rng.range(1, 4)).map(|_| member(&mut rng)).collect();
                let mut zm = z.clone();
                let mut n = 0;
                for m in &ms {
                    if zm.remove(m).is_some() {
                        n += 1;
                    }
                }
                let mut a = vec![b"ZREM".to_vec(), key.clone().into_bytes()];
                a.extend(ms);
                h.check(&a, &e.int(n).take());
                if zm.is_empty() {
                    model.remove(&key);
                } else {
                    model.insert(key.clone(), zm);
                }
            }
            // ZSCORE / ZMSCORE / ZCARD
            10 => {
                let m = member(&mut rng);
                let want = match z.get(&m) {
                    Some(s) => e.double(*s).take(),
                    None => e.null().take(),
                };
                h.check(&[b"ZSCORE".to_vec(), key.clone().into_bytes(), m], &want);
                let ms: Vec<Vec<u8>> = (0..3).map(|_| member(&mut rng)).collect();
                e.array(3);
                for m in &ms {
                    match z.get(m) {
                        Some(s) => e.double(*s),
                        None => e.null(),
                    };
                }
                let want = e.take();
                let mut a = vec![b"ZMSCORE".to_vec(), key.clone().into_bytes()];
                a.extend(ms);
                h.check(&a, &want);
                h.check(&args(&["ZCARD", &key]), &e.int(z.len() as i64).take());
            }
            // ZRANK / ZREVRANK
            11 | 12 => {
                let m = member(&mut rng);
                let pos = ord.iter().position(|(x, _)| *x == m);
                let want = match pos {
                    Some(p) => e.int(p as i64).take(),
                    None => e.null().take(),
                };
                h.check(
                    &[b"ZRANK".to_vec(), key.clone().into_bytes(), m.clone()],
                    &want,
                );
                let want = match pos {
                    Some(p) => e.int((ord.len() - 1 - p) as i64).take(),
                    None => e.null().take(),
                };
                h.check(&[b"ZREVRANK".to_vec(), key.clone().into_bytes(), m], &want);
            }
            // ZRANGE by rank, maybe REV / WITHSCORES, and ZREVRANGE.
            13 | 14 => {
                let n = ord.len() as i64 + 3;
                let (start, stop) = (rng.range(-n, n), rng.range(-n, n));
                let rev = rng.chance(40);
                let ws = rng.chance(50);
                let mut items = match clamp(start, stop, ord.len()) {
                    None => vec![],
                    Some((s, e)) => {
                        if rev {
                            let mut r = ord.clone();
                            r.reverse();
                            r[s..e].to_vec()
                        } else {
                            ord[s..e].to_vec()
                        }
                    }
                };
                let want = e.elements(&items, ws).take();
                let mut a = args(&["ZRANGE", &key, &start.to_string(), &stop.to_string()]);
                if rev {
                    a.push(b"REV".to_vec());
                }
                if ws {
                    a.push(b"WITHSCORES".to_vec());
                }
                h.check(&a, &want);
                if !rev {
                    items = match clamp(start, stop, ord.len()) {
                        None => vec![],
                        Some((s, e)) => {
                            let mut r = ord.clone();
                            r.reverse();
                            r[s..e].to_vec()
                        }
                    };
                    let want = e.elements(&items, ws).take();
                    let mut a = args(&["ZREVRANGE", &key, &start.to_string(), &stop.to_string()]);
                    if ws {
                        a.push(b"WITHSCORES".to_vec());
                    }
                    h.check(&a, &want);
                }
            }
            // Score ranges: ZRANGEBYSCORE / ZREVRANGEBYSCORE / ZRANGE BYSCORE, LIMIT, ZCOUNT.
            15..=17 => {
                let (mint, minv, minex) = score_bound(&mut rng);
                let (maxt, maxv, maxex) = score_bound(&mut rng);
                let rev = rng.chance(50);
                let ws = rng.chance(50);
                let limit = if rng.chance(40) {
                    Some((rng.range(-1, 5), rng.range(-2, 6)))
                } else {
                    None
                };
                let inrange: Vec<(Vec<u8>, f64)> = ord
                    .iter()
                    .filter(|(_, s)| in_min(*s, minv, minex) && in_max(*s, maxv, maxex))
                    .cloned()
                    .collect();
                h.check(
                    &args(&["ZCOUNT", &key, &mint, &maxt]),
                    &e.int(inrange.len() as i64).take(),
                );
                let mut items = inrange.clone();
                if rev {
                    items.reverse();
                }
                if let Some((off, cnt)) = limit {
                    items = if off < 0 {
                        vec![]
                    } else {
                        let it = items.into_iter().skip(off as usize);
                        if cnt < 0 {
                            it.collect()
                        } else {
                            it.take(cnt as usize).collect()
                        }
                    };
                }
                let want = e.elements(&items, ws).take();
                let mut a = if rev {
                    args(&["ZREVRANGEBYSCORE", &key, &maxt, &mint])
                } else {
                    args(&["ZRANGEBYSCORE", &key, &mint, &maxt])
                };
                if ws {
                    a.push(b"WITHSCORES".to_vec());
                }
                if let Some((off, cnt)) = limit {
                    a.extend(args(&["LIMIT", &off.to_string(), &cnt.to_string()]));
                }
                h.check(&a, &want);
                // The same through ZRANGE ... BYSCORE [REV].
                let mut a = if rev {
                    args(&["ZRANGE", &key, &maxt, &mint, "BYSCORE", "REV"])
                } else {
                    args(&["ZRANGE", &key, &mint, &maxt, "BYSCORE"])
                };
                if let Some((off, cnt)) = limit {
                    a.extend(args(&["LIMIT", &off.to_string(), &cnt.to_string()]));
                }
                if ws {
                    a.push(b"WITHSCORES".to_vec());
                }
                h.check(&a, &want);
            }
            // ZREMRANGEBYRANK / ZREMRANGEBYSCORE
            18 => {
                let mut zm = z.clone();
                let n = if rng.chance(50) {
                    let l = ord.len() as i64 + 2;
                    let (start, stop) = (rng.range(-l, l), rng.range(-l, l));
                    let removed = clamp(start, stop, ord.len())
                        .map(|(s, e)| ord[s..e].to_vec())
                        .unwrap_or_default();
                    for (m, _) in &removed {
                        zm.remove(m);
                    }
                    h.check(
                        &args(&[
                            "ZREMRANGEBYRANK",
                            &key,
                            &start.to_string(),
                            &stop.to_string(),
                        ]),
                        &e.int(removed.len() as i64).take(),
                    );
                    removed.len()
                } else {
                    let (mint, minv, minex) = score_bound(&mut rng);
                    let (_, maxv, maxex) = (0, minv + rng.range(0, 3) as f64 / 2.0, rng.chance(30));
                    let maxt = if maxex {
                        format!("({}", fmt_arg(maxv))
                    } else {
                        fmt_arg(maxv)
                    };
                    let removed: Vec<Vec<u8>> = ord
                        .iter()
                        .filter(|(_, s)| in_min(*s, minv, minex) && in_max(*s, maxv, maxex))
                        .map(|(m, _)| m.clone())
                        .collect();
                    for m in &removed {
                        zm.remove(m);
                    }
                    h.check(
                        &args(&["ZREMRANGEBYSCORE", &key, &mint, &maxt]),
                        &e.int(removed.len() as i64).take(),
                    );
                    removed.len()
                };
                let _ = n;
                if zm.is_empty() {
                    model.remove(&key);
                } else {
                    model.insert(key.clone(), zm);
                }
            }
            // ZPOPMIN / ZPOPMAX, with and without COUNT.
            19 | 20 => {
                let max = rng.chance(50);
                let count = if rng.chance(40) {
                    None
                } else {
                    Some(rng.range(0, 6) as usize)
                };
                let name = if max { "ZPOPMAX" } else { "ZPOPMIN" };
                let mut seq = ord.clone();
                if max {
                    seq.reverse();
                }
                let n = count.unwrap_or(1).min(seq.len());
                let popped = &seq[..n];
                let nested = resp3 && count.is_some();
                if count == Some(0) || z.is_empty() {
                    // Nothing to pop: an empty array whatever the protocol.
                    e.array(0);
                } else {
                    e.array(if nested { n } else { n * 2 });
                    for (m, s) in popped {
                        if nested {
                            e.array(2);
                        }
                        e.bulk(m).double(*s);
                    }
                }
                let want = e.take();
                let mut a = args(&[name, &key]);
                if let Some(c) = count {
                    a.push(c.to_string().into_bytes());
                }
                h.check(&a, &want);
                if count != Some(0) {
                    let mut zm = z.clone();
                    for (m, _) in popped {
                        zm.remove(m);
                    }
                    if zm.is_empty() {
                        model.remove(&key);
                    } else {
                        model.insert(key.clone(), zm);
                    }
                }
            }
            // ZMPOP over all keys.
            21 => {
                let max = rng.chance(50);
                let count = rng.range(1, 5) as usize;
                let first = KEYS
                    .iter()
                    .find(|k| model.contains_key(**k))
                    .map(|k| k.to_string());
                match &first {
                    None => {
                        e.null_array();
                    }
                    Some(k) => {
                        let mut seq = ordered(&model[k]);
                        if max {
                            seq.reverse();
                        }
                        let n = count.min(seq.len());
                        e.array(2).bulk(k.as_bytes()).array(n);
                        for (m, s) in &seq[..n] {
                            e.array(2).bulk(m).double(*s);
                        }
                        let zm = model.get_mut(k).expect("present");
                        for (m, _) in &seq[..n] {
                            zm.remove(m);
                        }
                        if zm.is_empty() {
                            model.remove(k);
                        }
                    }
                }
                let want = e.take();
                let mut a = args(&["ZMPOP", "3"]);
                a.extend(KEYS.iter().map(|k| k.as_bytes().to_vec()));
                a.extend(args(&[
                    if max { "MAX" } else { "MIN" },
                    "COUNT",
                    &count.to_string(),
                ]));
                h.check(&a, &want);
            }
            // Stores: ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE into a key of the pool.
            22 | 23 => {
                let op = rng.below(3);
                let (a1, a2) = (
                    KEYS[rng.below(3) as usize].to_string(),
                    KEYS[rng.below(3) as usize].to_string(),
                );
                let dst = KEYS[rng.below(3) as usize].to_string();
                // Positive weights: a zero or negative weight can make -0,
                // which Redis prints as "-0" or "0" depending on the encoding.
                let w = [rng.range(1, 3) as f64, rng.range(1, 3) as f64];
                let s1 = model.get(&a1).cloned().unwrap_or_default();
                let s2 = model.get(&a2).cloned().unwrap_or_default();
                let agg = rng.below(3);
                let combine = |x: f64, y: f64| match agg {
                    0 => x + y,
                    1 => x.min(y),
                    _ => x.max(y),
                };
                let zero = |v: f64| if v.is_nan() { 0.0 } else { v };
                let mut res = ZSet::new();
                let name = ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][op as usize];
                match op {
                    0 => {
                        for (m, s) in &s1 {
                            res.insert(m.clone(), zero(s * w[0]));
                        }
                        for (m, s) in &s2 {
                            let v = zero(s * w[1]);
                            res.entry(m.clone())
                                .and_modify(|x| *x = combine(*x, v))
                                .or_insert(v);
                        }
                    }
                    1 => {
                        for (m, s) in &s1 {
                            if let Some(s2v) = s2.get(m) {
                                res.insert(m.clone(), combine(zero(s * w[0]), s2v * w[1]));
                            }
                        }
                    }
                    _ => {
                        for (m, s) in &s1 {
                            if !s2.contains_key(m) {
                                res.insert(m.clone(), *s);
                            }
                        }
                    }
                }
                // Sums of weighted halves are exact, so the order of additions
                // (Redis sorts inputs by size) cannot change the result.
                let mut a = args(&[name, &dst, "2", &a1, &a2]);
                if op != 2 {
                    a.extend(args(&["WEIGHTS", &fmt_arg(w[0]), &fmt_arg(w[1])]));
                    a.extend(args(&["AGGREGATE", ["SUM", "MIN", "MAX"][agg as usize]]));
                }
                h.check(&a, &e.int(res.len() as i64).take());
                if res.is_empty() {
                    model.remove(&dst);
                } else {
                    model.insert(dst.clone(), res);
                }
            }
            // ZRANDMEMBER: membership and sizes.
            24 => {
                let count = rng.range(-5, 8);
                let got = h.call(&args(&["ZRANDMEMBER", &key, &count.to_string()]));
                let expect_len = if count >= 0 {
                    (count as usize).min(z.len())
                } else if z.is_empty() {
                    0
                } else {
                    (-count) as usize
                };
                let (_, elems) =
                    common::split_aggregate(&got, h.conn.protocol()).unwrap_or_else(|| {
                        panic!("seed {seed} step {step}: not an array: {}", escape(&got))
                    });
                assert_eq!(
                    elems.len(),
                    expect_len,
                    "seed {seed} step {step}: ZRANDMEMBER count"
                );
                let mut seen = HashSet::new();
                for el in elems {
                    let m = common::string_value(el).expect("bulk").to_vec();
                    assert!(
                        z.contains_key(&m),
                        "seed {seed} step {step}: random member not in set"
                    );
                    if count > 0 {
                        assert!(
                            seen.insert(m),
                            "seed {seed} step {step}: duplicate with positive count"
                        );
                    }
                }
            }
            // A complete ZSCAN gives every element exactly once with its score.
            25 => {
                let mut cursor = b"0".to_vec();
                let mut seen: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
                for _ in 0..10_000 {
                    let got = h.call(&[
                        b"ZSCAN".to_vec(),
                        key.clone().into_bytes(),
                        cursor.clone(),
                        b"COUNT".to_vec(),
                        b"7".to_vec(),
                    ]);
                    let proto = h.conn.protocol();
                    let (_, parts) = common::split_aggregate(&got, proto).expect("scan reply");
                    cursor = common::string_value(parts[0]).expect("cursor").to_vec();
                    let (_, items) = common::split_aggregate(parts[1], proto).expect("items");
                    for pair in items.chunks(2) {
                        let m = common::string_value(pair[0]).expect("member").to_vec();
                        let s: f64 =
                            std::str::from_utf8(common::string_value(pair[1]).expect("score"))
                                .expect("utf8")
                                .parse()
                                .expect("score");
                        seen.insert(m, s);
                    }
                    if cursor == b"0" {
                        break;
                    }
                }
                assert_eq!(seen, z, "seed {seed} step {step}: ZSCAN union");
            }
            // Lex ranges on the all-zero-score key.
            26..=28 => {
                let lz = model.get(LEX_KEY).cloned().unwrap_or_default();
                match rng.below(4) {
                    0 => {
                        let ms: Vec<Vec<u8>> =
                            (0..rng.range(1, 4)).map(|_| lex_member(&mut rng)).collect();
                        let mut zm = lz.clone();
                        let mut added = 0;
                        let mut a = args(&["ZADD", LEX_KEY]);
                        for m in ms {
                            a.push(b"0".to_vec());
                            if zm.insert(m.clone(), 0.0).is_none() {
                                added += 1;
                            }
                            a.push(m);
                        }
                        h.check(&a, &e.int(added).take());
                        model.insert(LEX_KEY.to_string(), zm);
                    }
                    1 | 2 => {
                        let (mint, mink, minm) = lex_bound(&mut rng);
                        let (maxt, maxk, maxm) = lex_bound(&mut rng);
                        let rev = rng.chance(50);
                        let limit = if rng.chance(40) {
                            Some((rng.range(-1, 4), rng.range(-1, 5)))
                        } else {
                            None
                        };
                        let inrange: Vec<(Vec<u8>, f64)> = ordered(&lz)
                            .into_iter()
                            .filter(|(m, _)| {
                                lex_ge_min(m, mink, &minm) && lex_le_max(m, maxk, &maxm)
                            })
                            .collect();
                        h.check(
                            &args(&["ZLEXCOUNT", LEX_KEY, &mint, &maxt]),
                            &e.int(inrange.len() as i64).take(),
                        );
                        let mut items = inrange;
                        if rev {
                            items.reverse();
                        }
                        if let Some((off, cnt)) = limit {
                            items = if off < 0 {
                                vec![]
                            } else {
                                let it = items.into_iter().skip(off as usize);
                                if cnt < 0 {
                                    it.collect()
                                } else {
                                    it.take(cnt as usize).collect()
                                }
                            };
                        }
                        let want = e.elements(&items, false).take();
                        let mut a = if rev {
                            args(&["ZREVRANGEBYLEX", LEX_KEY, &maxt, &mint])
                        } else {
                            args(&["ZRANGEBYLEX", LEX_KEY, &mint, &maxt])
                        };
                        if let Some((off, cnt)) = limit {
                            a.extend(args(&["LIMIT", &off.to_string(), &cnt.to_string()]));
                        }
                        h.check(&a, &want);
                    }
                    _ => {
                        let (mint, mink, minm) = lex_bound(&mut rng);
                        let (maxt, maxk, maxm) = lex_bound(&mut rng);
                        let mut zm = lz.clone();
                        let removed: Vec<Vec<u8>> = lz
                            .keys()
                            .filter(|m| lex_ge_min(m, mink, &minm) && lex_le_max(m, maxk, &maxm))
                            .cloned()
                            .collect();
                        for m in &removed {
                            zm.remove(m);
                        }
                        h.check(
                            &args(&["ZREMRANGEBYLEX", LEX_KEY, &mint, &maxt]),
                            &e.int(removed.len() as i64).take(),
                        );
                        if zm.is_empty() {
                            model.remove(LEX_KEY);
                        } else {
                            model.insert(LEX_KEY.to_string(), zm);
                        }
                    }
                }
            }
            // Encoding follows Redis's rule: listpack until the set has had
            // more than 128 members or a member longer than 64 bytes; here
            // members are short, so only a set that never grew past 128 is a
            // listpack. Checked loosely: a set above 128 must be a skiplist.
            _ => {
                let got = h.call(&args(&["OBJECT", "ENCODING", &key]));
                if z.len() > 128 {
                    let want = e.bulk(b"skiplist").take();
                    assert_eq!(got, want, "seed {seed} step {step}: encoding");
                } else if z.is_empty() {
                    assert_eq!(got, e.null().take(), "seed {seed} step {step}: encoding");
                }
            }
        }
    }
    // Final full comparison of every key.
    for k in KEYS.iter().chain(std::iter::once(&LEX_KEY)) {
        let z = model.get(*k).cloned().unwrap_or_default();
        let want = e.elements(&ordered(&z), true).take();
        h.check(&args(&["ZRANGE", k, "0", "-1", "WITHSCORES"]), &want);
    }
}

#[test]
fn zsets_match_model_small_sets() {
    run(1, 6000, false, 40, 0);
    run(2, 6000, true, 40, 0);
}

#[test]
fn zsets_match_model_past_listpack_limit() {
    run(3, 8000, false, 600, 30);
    run(4, 5000, true, 300, 20);
}
