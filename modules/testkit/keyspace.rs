//! A tiny in-memory keyspace for the guests' native unit tests (included with `#[path]` by the
//! crates that use it; not a crate of its own).
//!
//! It answers the handful of commands the bundled modules and examples call through `call!` —
//! strings, hashes, sorted sets, expiry — with Redis's replies and error texts, on the SDK's
//! simulated clock (`ember_guest_sdk::time_ms`, fixed with `testing::set_time_ms`).
//! [`Harness::run`] runs a module command like the host: all-or-nothing, so an error reply
//! undoes the invocation's writes. This is a test double, not a second Redis: commands outside
//! the list answer an error so a test notices.
#![allow(dead_code)]

use ember_guest_sdk::{testing, Module, Reply, Result};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

type Field = Vec<u8>;
/// A reply that is an error, as the `Err` side of the command helpers.
type Refusal = Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Members with their scores, unordered; sorted on read.
    ZSet(HashMap<Vec<u8>, f64>),
}

#[derive(Clone, Debug, Default)]
pub struct Keyspace {
    /// value and absolute expiry (unix ms)
    data: HashMap<Vec<u8>, (Value, Option<i64>)>,
    /// Every command the guest ran, for assertions on what was (not) called.
    pub log: Vec<Vec<Vec<u8>>>,
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

fn int_arg(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn score_arg(b: &[u8]) -> Option<f64> {
    match b {
        b"-inf" => Some(f64::NEG_INFINITY),
        b"+inf" | b"inf" => Some(f64::INFINITY),
        _ => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

fn now() -> i64 {
    ember_guest_sdk::time_ms()
}

impl Keyspace {
    /// The live value at `key` (expired keys are dropped first, as Redis does on access).
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Value> {
        let expired = matches!(self.data.get(key), Some((_, Some(at))) if now() > *at);
        if expired {
            self.data.remove(key);
        }
        self.data.get_mut(key).map(|(v, _)| v)
    }

    pub fn set(&mut self, key: &[u8], value: Value) {
        self.data.insert(key.to_vec(), (value, None));
    }

    /// Remaining ms to live: -2 missing, -1 no expiry.
    pub fn pttl(&mut self, key: &[u8]) -> i64 {
        if self.get(key).is_none() {
            return -2;
        }
        match self.data.get(key) {
            Some((_, Some(at))) => at - now(),
            _ => -1,
        }
    }

    pub fn hash(&mut self, key: &[u8]) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
        match self.get(key) {
            Some(Value::Hash(h)) => Some(h.clone()),
            _ => None,
        }
    }

    pub fn string(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn hash_mut(
        &mut self,
        key: &[u8],
        create: bool,
    ) -> std::result::Result<Option<&mut BTreeMap<Field, Vec<u8>>>, Refusal> {
        if self.get(key).is_none() {
            if !create {
                return Ok(None);
            }
            self.set(key, Value::Hash(BTreeMap::new()));
        }
        match self.get(key) {
            Some(Value::Hash(h)) => Ok(Some(h)),
            _ => Err(err(WRONGTYPE)),
        }
    }

    fn zset_mut(
        &mut self,
        key: &[u8],
        create: bool,
    ) -> std::result::Result<Option<&mut HashMap<Field, f64>>, Refusal> {
        if self.get(key).is_none() {
            if !create {
                return Ok(None);
            }
            self.set(key, Value::ZSet(HashMap::new()));
        }
        match self.get(key) {
            Some(Value::ZSet(z)) => Ok(Some(z)),
            _ => Err(err(WRONGTYPE)),
        }
    }

    /// Drop an emptied hash or sorted set, as Redis does.
    fn drop_if_empty(&mut self, key: &[u8]) {
        let empty = match self.get(key) {
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.data.remove(key);
        }
    }

    fn sorted(z: &HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Run one command.
    pub fn exec(&mut self, argv: &[Vec<u8>]) -> Reply {
        self.log.push(argv.to_vec());
        match self.exec_inner(argv) {
            Ok(r) | Err(r) => r,
        }
    }

    fn exec_inner(&mut self, argv: &[Vec<u8>]) -> std::result::Result<Reply, Reply> {
        let name = String::from_utf8_lossy(&argv[0]).to_uppercase();
        let a = &argv[1..];
        let key = a.first().map(Vec::as_slice).unwrap_or(b"");
        let syntax = || err("ERR syntax error");
        let not_int = || err("ERR value is not an integer or out of range");
        Ok(match name.as_str() {
            "GET" => match self.get(key) {
                None => Reply::Nil,
                Some(Value::Str(s)) => bulk(s),
                Some(_) => return Err(err(WRONGTYPE)),
            },
            "SET" => {
                let value = a.get(1).ok_or_else(syntax)?.clone();
                let expiry = match a.get(2).map(|o| o.to_ascii_uppercase()) {
                    None => None,
                    Some(o) if o == b"PX" => {
                        let ms = a.get(3).and_then(|m| int_arg(m)).ok_or_else(not_int)?;
                        if ms <= 0 {
                            return Err(err("ERR invalid expire time in 'set' command"));
                        }
                        Some(now() + ms)
                    }
                    Some(_) => return Err(syntax()),
                };
                self.data.insert(key.to_vec(), (Value::Str(value), expiry));
                Reply::Status("OK".into())
            }
            "DECRBY" => {
                let by = a.get(1).and_then(|m| int_arg(m)).ok_or_else(not_int)?;
                let cur = match self.get(key) {
                    None => 0,
                    Some(Value::Str(s)) => int_arg(s).ok_or_else(not_int)?,
                    Some(_) => return Err(err(WRONGTYPE)),
                };
                let new = cur - by;
                let ttl = self.data.get(key).and_then(|(_, t)| *t);
                self.data.insert(
                    key.to_vec(),
                    (Value::Str(new.to_string().into_bytes()), ttl),
                );
                Reply::Int(new)
            }
            "DEL" => {
                let mut n = 0;
                for k in a {
                    if self.get(k).is_some() {
                        self.data.remove(k.as_slice());
                        n += 1;
                    }
                }
                Reply::Int(n)
            }
            "EXISTS" => Reply::Int(a.iter().filter(|k| self.get(k).is_some()).count() as i64),
            "TYPE" => Reply::Status(
                match self.get(key) {
                    None => "none",
                    Some(Value::Str(_)) => "string",
                    Some(Value::Hash(_)) => "hash",
                    Some(Value::ZSet(_)) => "zset",
                }
                .into(),
            ),
            "PTTL" => Reply::Int(self.pttl(key)),
            "PEXPIRE" => {
                let ms = a.get(1).and_then(|m| int_arg(m)).ok_or_else(not_int)?;
                if self.get(key).is_none() {
                    Reply::Int(0)
                } else if ms <= 0 {
                    self.data.remove(key);
                    Reply::Int(1)
                } else {
                    if let Some(entry) = self.data.get_mut(key) {
                        entry.1 = Some(now() + ms);
                    }
                    Reply::Int(1)
                }
            }
            "PERSIST" => {
                if self.get(key).is_none() {
                    return Ok(Reply::Int(0));
                }
                match self.data.get_mut(key) {
                    Some(entry) if entry.1.is_some() => {
                        entry.1 = None;
                        Reply::Int(1)
                    }
                    _ => Reply::Int(0),
                }
            }
            "HGET" => match self.hash_mut(key, false)? {
                None => Reply::Nil,
                Some(h) => h
                    .get(a.get(1).ok_or_else(syntax)?)
                    .map_or(Reply::Nil, |v| bulk(v)),
            },
            "HEXISTS" => match self.hash_mut(key, false)? {
                None => Reply::Int(0),
                Some(h) => Reply::Int(i64::from(h.contains_key(a.get(1).ok_or_else(syntax)?))),
            },
            "HMGET" => {
                let h = self.hash_mut(key, false)?.cloned().unwrap_or_default();
                Reply::Array(
                    a[1..]
                        .iter()
                        .map(|f| h.get(f).map_or(Reply::Nil, |v| bulk(v)))
                        .collect(),
                )
            }
            "HGETALL" => {
                let h = self.hash_mut(key, false)?.cloned().unwrap_or_default();
                Reply::Array(h.iter().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect())
            }
            "HSET" => {
                if a.len() < 3 || a.len().is_multiple_of(2) {
                    return Err(err("ERR wrong number of arguments for 'hset' command"));
                }
                let h = self.hash_mut(key, true)?.ok_or_else(syntax)?;
                let mut added = 0;
                for kv in a[1..].chunks(2) {
                    if h.insert(kv[0].clone(), kv[1].clone()).is_none() {
                        added += 1;
                    }
                }
                Reply::Int(added)
            }
            "HDEL" => {
                let removed = match self.hash_mut(key, false)? {
                    None => 0,
                    Some(h) => a[1..]
                        .iter()
                        .filter(|f| h.remove(f.as_slice()).is_some())
                        .count(),
                };
                self.drop_if_empty(key);
                Reply::Int(removed as i64)
            }
            "ZADD" => {
                if a.len() < 3 || a.len().is_multiple_of(2) {
                    return Err(syntax());
                }
                let z = self.zset_mut(key, true)?.ok_or_else(syntax)?;
                let mut added = 0;
                for sm in a[1..].chunks(2) {
                    let score =
                        score_arg(&sm[0]).ok_or_else(|| err("ERR value is not a valid float"))?;
                    if z.insert(sm[1].clone(), score).is_none() {
                        added += 1;
                    }
                }
                Reply::Int(added)
            }
            "ZCARD" => Reply::Int(self.zset_mut(key, false)?.map_or(0, |z| z.len() as i64)),
            "ZREMRANGEBYSCORE" => {
                let min = a.get(1).and_then(|s| score_arg(s)).ok_or_else(syntax)?;
                let max = a.get(2).and_then(|s| score_arg(s)).ok_or_else(syntax)?;
                let removed = match self.zset_mut(key, false)? {
                    None => 0,
                    Some(z) => {
                        let before = z.len();
                        z.retain(|_, s| !(*s >= min && *s <= max));
                        before - z.len()
                    }
                };
                self.drop_if_empty(key);
                Reply::Int(removed as i64)
            }
            "ZRANGE" => {
                let start = a.get(1).and_then(|s| int_arg(s)).ok_or_else(not_int)?;
                let stop = a.get(2).and_then(|s| int_arg(s)).ok_or_else(not_int)?;
                let withscores = a
                    .get(3)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"WITHSCORES"));
                let items = self
                    .zset_mut(key, false)?
                    .map(|z| Self::sorted(z))
                    .unwrap_or_default();
                let n = items.len() as i64;
                let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i };
                let (s, e) = (norm(start), norm(stop).min(n - 1));
                let mut out = Vec::new();
                if s <= e {
                    for (m, sc) in &items[s as usize..=e as usize] {
                        out.push(bulk(m));
                        if withscores {
                            out.push(bulk(format!("{sc}").as_bytes()));
                        }
                    }
                }
                Reply::Array(out)
            }
            _ => {
                return Err(err(&format!(
                    "ERR test keyspace does not implement '{name}'"
                )))
            }
        })
    }
}

/// A keyspace wired to the SDK's simulated host, running a module's commands all-or-nothing.
pub struct Harness {
    pub ks: Rc<RefCell<Keyspace>>,
    module: &'static Module,
}

impl Harness {
    /// Reset the simulated host, fix the clock at `now_ms` and route `call!` to a fresh keyspace.
    pub fn new(module: &'static Module, now_ms: i64) -> Harness {
        testing::reset();
        testing::set_time_ms(now_ms);
        let ks = Rc::new(RefCell::new(Keyspace::default()));
        let inner = Rc::clone(&ks);
        testing::on_call(move |argv| inner.borrow_mut().exec(argv));
        Harness { ks, module }
    }

    pub fn set_time(&self, now_ms: i64) {
        testing::set_time_ms(now_ms);
    }

    /// Run a command; on an error reply the keyspace is put back as it was, as the host undoes
    /// an aborted invocation's writes.
    pub fn run(&self, argv: &[&str]) -> Result<Reply> {
        let bytes: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let before = self.ks.borrow().data.clone();
        let result = self.module.run(&bytes);
        if result.is_err() {
            self.ks.borrow_mut().data = before;
        }
        result
    }

    /// Run a command straight on the keyspace (what another client would do).
    pub fn redis(&self, argv: &[&str]) -> Reply {
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.ks.borrow_mut().exec(&argv)
    }

    /// An integer array reply as a Vec.
    pub fn ints(reply: &Reply) -> Vec<i64> {
        match reply {
            Reply::Array(items) => items
                .iter()
                .map(|i| i.as_int().expect("an integer"))
                .collect(),
            other => panic!("expected an array of integers, got {other:?}"),
        }
    }
}
