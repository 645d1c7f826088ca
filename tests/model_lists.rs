//! Model test for the list commands: random operation sequences (fixed seeds) run against a real
//! `ember-server` and against a plain `VecDeque` model in this file, comparing every raw reply
//! byte for byte: pushes, pops with and without count, ranges, indexes, LSET, LINSERT, LREM,
//! LTRIM, LPOS with RANK/COUNT/MAXLEN, LMOVE, RPOPLPUSH, LMPOP, deletion of emptied keys and
//! WRONGTYPE. Elements range from empty to several KiB so lists span many chunks; one seed
//! speaks RESP3. Bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, Protocol, RespConn, Rng, ServerProcess};
use std::collections::{HashMap, VecDeque};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

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
    fn bulks<'a>(&self, items: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
        let items: Vec<Vec<u8>> = items.map(|b| self.bulk(b)).collect();
        self.array(&items)
    }
    fn ok(&self) -> Vec<u8> {
        b"+OK\r\n".to_vec()
    }
    fn err(&self, e: &str) -> Vec<u8> {
        format!("-{e}\r\n").into_bytes()
    }
}

type Db = HashMap<Vec<u8>, VecDeque<Vec<u8>>>;

const KEYS: &[&str] = &["k0", "k1", "k2", "k3"];
/// A string key: every list command on it answers WRONGTYPE.
const STRING_KEY: &str = "str";

fn element(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(100) {
        0..=59 => return [b"a", b"b", b"c", b"d"][rng.below(4) as usize].to_vec(),
        60..=64 => 0,
        65..=84 => rng.below(23) as usize,
        85..=97 => 23 + rng.below(300) as usize,
        _ => 2000 + rng.below(9000) as usize,
    };
    let fill = b'a' + rng.below(2) as u8;
    let mut v = vec![fill; len];
    if len > 0 && rng.chance(50) {
        v[0] = b'0' + rng.below(10) as u8;
    }
    v
}

fn key(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(3) {
        STRING_KEY.as_bytes().to_vec()
    } else {
        KEYS[rng.below(KEYS.len() as u64) as usize]
            .as_bytes()
            .to_vec()
    }
}

/// Redis's start/stop clamping; None when the range is empty.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    Some((s as usize, e.min(len - 1) as usize))
}

fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn side(left: bool) -> &'static str {
    if left {
        "LEFT"
    } else {
        "RIGHT"
    }
}

/// Applies one random command to the model; returns the command and the expected reply.
fn step(rng: &mut Rng, db: &mut Db, enc: &Enc) -> (Vec<Vec<u8>>, Vec<u8>) {
    let k = key(rng);
    let is_str = k == STRING_KEY.as_bytes();
    let mut cmd: Vec<Vec<u8>> = Vec::new();
    let arg = |s: &str| s.as_bytes().to_vec();
    let op = rng.below(100);
    let reply = match op {
        // Pushes, weighted so lists grow across chunks.
        0..=29 => {
            let left = rng.chance(50);
            let x = rng.chance(15);
            let name = match (left, x) {
                (true, false) => "LPUSH",
                (false, false) => "RPUSH",
                (true, true) => "LPUSHX",
                (false, true) => "RPUSHX",
            };
            let n = if rng.chance(10) {
                50 + rng.below(400)
            } else {
                1 + rng.below(4)
            };
            let elems: Vec<Vec<u8>> = (0..n).map(|_| element(rng)).collect();
            cmd.push(arg(name));
            cmd.push(k.clone());
            cmd.extend(elems.iter().cloned());
            if is_str {
                enc.err(WRONGTYPE)
            } else if x && !db.contains_key(&k) {
                enc.int(0)
            } else {
                let l = db.entry(k.clone()).or_default();
                for e in elems {
                    if left {
                        l.push_front(e)
                    } else {
                        l.push_back(e)
                    }
                }
                enc.int(l.len() as i64)
            }
        }
        // LPOP / RPOP, with or without a count.
        30..=39 => {
            let left = rng.chance(50);
            cmd.push(arg(if left { "LPOP" } else { "RPOP" }));
            cmd.push(k.clone());
            let count = if rng.chance(50) {
                Some(rng.below(6) as usize)
            } else {
                None
            };
            if let Some(c) = count {
                cmd.push(arg(&c.to_string()));
            }
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match (db.get_mut(&k), count) {
                    (None, None) => enc.null(),
                    (None, Some(_)) => enc.null_array(),
                    (Some(l), None) => {
                        let v = if left { l.pop_front() } else { l.pop_back() };
                        enc.bulk(&v.unwrap_or_default())
                    }
                    (Some(l), Some(c)) => {
                        let mut got = Vec::new();
                        for _ in 0..c.min(l.len()) {
                            got.extend(if left { l.pop_front() } else { l.pop_back() });
                        }
                        enc.bulks(got.iter())
                    }
                }
            }
        }
        40..=43 => {
            cmd = vec![arg("LLEN"), k.clone()];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                enc.int(db.get(&k).map_or(0, |l| l.len()) as i64)
            }
        }
        44..=51 => {
            let len = db.get(&k).map_or(0, |l| l.len()) as i64;
            let (s, e) = if rng.chance(20) {
                (0, -1)
            } else {
                let s = rng.range(-len - 3, len + 3);
                (s, s + rng.range(-2, 120))
            };
            cmd = vec![
                arg("LRANGE"),
                k.clone(),
                arg(&s.to_string()),
                arg(&e.to_string()),
            ];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match (db.get(&k), db.get(&k).and_then(|l| clamp(s, e, l.len()))) {
                    (Some(l), Some((a, b))) => enc.bulks(l.range(a..=b)),
                    _ => enc.array(&[]),
                }
            }
        }
        52..=56 => {
            let len = db.get(&k).map_or(0, |l| l.len()) as i64;
            let i = rng.range(-len - 2, len + 1);
            cmd = vec![arg("LINDEX"), k.clone(), arg(&i.to_string())];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match db.get(&k).and_then(|l| index(i, l.len()).map(|i| &l[i])) {
                    Some(v) => enc.bulk(v),
                    None => enc.null(),
                }
            }
        }
        57..=61 => {
            let len = db.get(&k).map_or(0, |l| l.len()) as i64;
            let i = rng.range(-len - 1, len);
            let v = element(rng);
            cmd = vec![arg("LSET"), k.clone(), arg(&i.to_string()), v.clone()];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match db.get_mut(&k) {
                    None => enc.err("ERR no such key"),
                    Some(l) => match index(i, l.len()) {
                        Some(i) => {
                            l[i] = v;
                            enc.ok()
                        }
                        None => enc.err("ERR index out of range"),
                    },
                }
            }
        }
        62..=67 => {
            let after = rng.chance(50);
            let pivot = element(rng);
            let v = element(rng);
            cmd = vec![
                arg("LINSERT"),
                k.clone(),
                arg(if after { "AFTER" } else { "BEFORE" }),
                pivot.clone(),
                v.clone(),
            ];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match db.get_mut(&k) {
                    None => enc.int(0),
                    Some(l) => match l.iter().position(|x| *x == pivot) {
                        None => enc.int(-1),
                        Some(p) => {
                            l.insert(p + after as usize, v);
                            enc.int(l.len() as i64)
                        }
                    },
                }
            }
        }
        68..=72 => {
            let count = rng.range(-3, 3);
            let v = element(rng);
            cmd = vec![arg("LREM"), k.clone(), arg(&count.to_string()), v.clone()];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                match db.get_mut(&k) {
                    None => enc.int(0),
                    Some(l) => {
                        let limit = count.unsigned_abs() as usize;
                        let mut removed = 0;
                        let keep = |removed: usize| limit != 0 && removed >= limit;
                        if count < 0 {
                            let mut i = l.len();
                            while i > 0 && !keep(removed) {
                                i -= 1;
                                if l[i] == v {
                                    l.remove(i);
                                    removed += 1;
                                }
                            }
                        } else {
                            let mut i = 0;
                            while i < l.len() && !keep(removed) {
                                if l[i] == v {
                                    l.remove(i);
                                    removed += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        }
                        enc.int(removed as i64)
                    }
                }
            }
        }
        73..=75 => {
            let len = db.get(&k).map_or(0, |l| l.len()) as i64;
            let s = rng.range(-3, 5.min(len + 1));
            let e = if rng.chance(30) {
                rng.range(-5, len + 2)
            } else {
                rng.range(len * 3 / 4, len + 2)
            };
            cmd = vec![
                arg("LTRIM"),
                k.clone(),
                arg(&s.to_string()),
                arg(&e.to_string()),
            ];
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                if let Some(l) = db.get_mut(&k) {
                    match clamp(s, e, l.len()) {
                        None => l.clear(),
                        Some((a, b)) => {
                            l.truncate(b + 1);
                            l.drain(..a);
                        }
                    }
                }
                enc.ok()
            }
        }
        76..=83 => {
            let v = element(rng);
            cmd = vec![arg("LPOS"), k.clone(), v.clone()];
            let rank = if rng.chance(40) { rng.range(-3, 3) } else { 1 };
            let rank = if rank == 0 { 1 } else { rank };
            if rank != 1 || rng.chance(10) {
                cmd.extend([arg("RANK"), arg(&rank.to_string())]);
            }
            let count = rng.chance(50).then(|| rng.below(4) as i64);
            if let Some(c) = count {
                cmd.extend([arg("COUNT"), arg(&c.to_string())]);
            }
            let maxlen = if rng.chance(30) {
                rng.below(40) as i64
            } else {
                0
            };
            if maxlen != 0 {
                cmd.extend([arg("MAXLEN"), arg(&maxlen.to_string())]);
            }
            if is_str {
                enc.err(WRONGTYPE)
            } else {
                let l = db.get(&k).cloned().unwrap_or_default();
                let n = l.len();
                let order: Vec<usize> = if rank < 0 {
                    (0..n).rev().collect()
                } else {
                    (0..n).collect()
                };
                let want_rank = rank.unsigned_abs() as usize;
                let mut found = Vec::new();
                let mut matches = 0;
                for (scanned, &i) in order.iter().enumerate() {
                    if maxlen != 0 && scanned as i64 >= maxlen {
                        break;
                    }
                    if l[i] == v {
                        matches += 1;
                        if matches >= want_rank {
                            found.push(i as i64);
                            match count {
                                None => break,
                                Some(c) if c != 0 && found.len() as i64 >= c => break,
                                _ => {}
                            }
                        }
                    }
                }
                match count {
                    Some(_) => {
                        let items: Vec<Vec<u8>> = found.iter().map(|&i| enc.int(i)).collect();
                        enc.array(&items)
                    }
                    None => found.first().map_or_else(|| enc.null(), |&i| enc.int(i)),
                }
            }
        }
        84..=91 => {
            let dst = key(rng);
            let (from_left, to_left) = if rng.chance(30) {
                cmd = vec![arg("RPOPLPUSH"), k.clone(), dst.clone()];
                (false, true)
            } else {
                let (f, t) = (rng.chance(50), rng.chance(50));
                cmd = vec![
                    arg("LMOVE"),
                    k.clone(),
                    dst.clone(),
                    arg(side(f)),
                    arg(side(t)),
                ];
                (f, t)
            };
            let dst_str = dst == STRING_KEY.as_bytes();
            if is_str {
                enc.err(WRONGTYPE)
            } else if !db.contains_key(&k) {
                enc.null()
            } else if dst_str {
                enc.err(WRONGTYPE)
            } else {
                let src = db.get_mut(&k).expect("checked above");
                let v = if from_left {
                    src.pop_front()
                } else {
                    src.pop_back()
                };
                let v = v.expect("model lists are never empty");
                let d = db.entry(dst.clone()).or_default();
                if to_left {
                    d.push_front(v.clone())
                } else {
                    d.push_back(v.clone())
                }
                enc.bulk(&v)
            }
        }
        _ => {
            let n = 1 + rng.below(3) as usize;
            let keys: Vec<Vec<u8>> = (0..n).map(|_| key(rng)).collect();
            let left = rng.chance(50);
            cmd = vec![arg("LMPOP"), arg(&n.to_string())];
            cmd.extend(keys.iter().cloned());
            cmd.push(arg(side(left)));
            let count = rng.chance(50).then(|| 1 + rng.below(5) as usize);
            if let Some(c) = count {
                cmd.extend([arg("COUNT"), arg(&c.to_string())]);
            }
            let mut reply = None;
            for key in &keys {
                if key == STRING_KEY.as_bytes() {
                    reply = Some(enc.err(WRONGTYPE));
                    break;
                }
                if let Some(l) = db.get_mut(key) {
                    let mut got = Vec::new();
                    for _ in 0..count.unwrap_or(1).min(l.len()) {
                        got.extend(if left { l.pop_front() } else { l.pop_back() });
                    }
                    reply = Some(enc.array(&[enc.bulk(key), enc.bulks(got.iter())]));
                    break;
                }
            }
            reply.unwrap_or_else(|| enc.null_array())
        }
    };
    // Redis deletes a list once it is empty.
    db.retain(|_, l| !l.is_empty());
    (cmd, reply)
}

fn describe(cmd: &[Vec<u8>]) -> String {
    cmd.iter()
        .map(|a| {
            if a.len() > 40 {
                format!("<{} bytes>", a.len())
            } else {
                escape(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_seed(conn: &mut RespConn, seed: u64, steps: usize, resp3: bool) {
    assert_eq!(conn.command(&["FLUSHALL"]).unwrap(), b"+OK\r\n");
    if resp3 {
        conn.set_protocol(Protocol::Resp3);
        conn.command(&["HELLO", "3"]).unwrap();
    }
    assert_eq!(conn.command(&["SET", STRING_KEY, "x"]).unwrap(), b"+OK\r\n");
    let enc = Enc { resp3 };
    let mut rng = Rng::new(seed);
    let mut db = Db::new();
    let mut history: VecDeque<String> = VecDeque::new();
    for i in 0..steps {
        let (cmd, want) = step(&mut rng, &mut db, &enc);
        let got = conn.command(&cmd).unwrap();
        history.push_back(describe(&cmd));
        if history.len() > 8 {
            history.pop_front();
        }
        if got != want {
            panic!(
                "seed {seed} step {i}: {}\n  ember: {}\n  model: {}\n  last commands:\n    {}",
                describe(&cmd),
                escape(&got[..got.len().min(400)]),
                escape(&want[..want.len().min(400)]),
                history.iter().cloned().collect::<Vec<_>>().join("\n    ")
            );
        }
        // Now and then, compare whole lists and the key set.
        if i % 97 == 0 {
            for k in KEYS {
                let got = conn.command(&["LRANGE", k, "0", "-1"]).unwrap();
                let want = db
                    .get(k.as_bytes())
                    .map_or_else(|| enc.array(&[]), |l| enc.bulks(l.iter()));
                assert!(got == want, "seed {seed} step {i}: contents of {k} differ");
                let exists = conn.command(&["EXISTS", k]).unwrap();
                assert_eq!(exists, enc.int(db.contains_key(k.as_bytes()) as i64));
            }
        }
    }
    if resp3 {
        conn.command(&["HELLO", "2"]).unwrap();
        conn.set_protocol(Protocol::Resp2);
    }
}

#[test]
fn lists_match_a_deque_model() {
    let server = ServerProcess::start_ember(&[]);
    let mut conn = server.connect();
    for seed in 1..=5u64 {
        run_seed(&mut conn, seed, 2500, seed == 4);
    }
}
