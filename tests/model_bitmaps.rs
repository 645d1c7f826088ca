//! Model test for the bitmap commands: random operation sequences (fixed seeds) run against a
//! real `ember-server`, against a real `redis-server`, and against a plain byte-vector model in
//! this file that works bit by bit (and does BITFIELD arithmetic in i128), comparing every raw
//! reply: SETBIT, GETBIT, BITCOUNT and BITPOS with BYTE and BIT ranges (negative, reversed and
//! out-of-range indexes), BITOP AND/OR/XOR/NOT over keys of different lengths and missing keys,
//! BITFIELD GET/SET/INCRBY with every overflow mode and #-offsets, and GET of the resulting
//! strings. Bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, RespConn, Rng, ServerProcess};
use std::collections::HashMap;

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn bulk(b: &[u8]) -> Vec<u8> {
    let mut v = format!("${}\r\n", b.len()).into_bytes();
    v.extend_from_slice(b);
    v.extend_from_slice(b"\r\n");
    v
}

fn bit_at(s: &[u8], i: u64) -> bool {
    s.get((i / 8) as usize)
        .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// Redis's index normalisation for BITCOUNT / BITPOS ranges over `total` units.
fn normalise(mut start: i64, mut end: i64, total: i64) -> (i64, i64) {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start, end)
}

/// The model: key -> bytes.
#[derive(Default)]
struct Model {
    keys: HashMap<String, Vec<u8>>,
}

impl Model {
    fn setbit(&mut self, key: &str, off: u64, on: bool) -> Vec<u8> {
        let v = self.keys.entry(key.to_string()).or_default();
        let byte = (off / 8) as usize;
        if v.len() <= byte {
            v.resize(byte + 1, 0);
        }
        let old = bit_at(v, off);
        let mask = 0x80u8 >> (off % 8);
        if on {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        int(old as i64)
    }

    fn getbit(&self, key: &str, off: u64) -> Vec<u8> {
        let v = self.keys.get(key).map(|v| v.as_slice()).unwrap_or(&[]);
        int(bit_at(v, off) as i64)
    }

    /// BITCOUNT with an optional (start, end, bit_unit) range.
    fn bitcount(&self, key: &str, range: Option<(i64, i64, bool)>) -> Vec<u8> {
        let Some(v) = self.keys.get(key) else {
            return int(0);
        };
        let (first_bit, last_bit) = match range {
            None => (0, v.len() as i64 * 8 - 1),
            Some((s, e, _)) if s < 0 && e < 0 && s > e => return int(0),
            Some((s, e, true)) => normalise(s, e, v.len() as i64 * 8),
            Some((s, e, false)) => {
                let (s, e) = normalise(s, e, v.len() as i64);
                (s * 8, e * 8 + 7)
            }
        };
        let n = (first_bit.max(0)..=last_bit)
            .filter(|&i| bit_at(v, i as u64))
            .count();
        int(n as i64)
    }

    /// BITPOS with optional start, end and unit.
    fn bitpos(
        &self,
        key: &str,
        bit: bool,
        start: Option<i64>,
        end: Option<(i64, bool)>,
    ) -> Vec<u8> {
        let Some(v) = self.keys.get(key) else {
            return int(if bit { -1 } else { 0 });
        };
        let unit_bits = end.is_some_and(|(_, b)| b);
        let total = if unit_bits {
            v.len() as i64 * 8
        } else {
            v.len() as i64
        };
        let (s, e) = normalise(
            start.unwrap_or(0),
            end.map(|(e, _)| e).unwrap_or(total - 1),
            total,
        );
        if s > e {
            return int(-1);
        }
        let (first_bit, last_bit) = if unit_bits {
            (s, e)
        } else {
            (s * 8, e * 8 + 7)
        };
        for i in first_bit..=last_bit {
            if bit_at(v, i as u64) == bit {
                return int(i);
            }
        }
        // Looking for a 0 without an explicit end: the string continues with zeros.
        if !bit && end.is_none() {
            return int(last_bit + 1);
        }
        int(-1)
    }

    fn bitop(&mut self, op: &str, dest: &str, srcs: &[&str]) -> Vec<u8> {
        let vals: Vec<Vec<u8>> = srcs
            .iter()
            .map(|k| self.keys.get(*k).cloned().unwrap_or_default())
            .collect();
        let len = vals.iter().map(|v| v.len()).max().unwrap_or(0);
        let byte = |v: &Vec<u8>, i: usize| v.get(i).copied().unwrap_or(0);
        let res: Vec<u8> = (0..len)
            .map(|i| {
                let mut acc = byte(&vals[0], i);
                for v in &vals[1..] {
                    match op {
                        "AND" => acc &= byte(v, i),
                        "OR" => acc |= byte(v, i),
                        _ => acc ^= byte(v, i),
                    }
                }
                if op == "NOT" {
                    !acc
                } else {
                    acc
                }
            })
            .collect();
        if res.is_empty() {
            self.keys.remove(dest);
        } else {
            self.keys.insert(dest.to_string(), res);
        }
        int(len as i64)
    }
}

/// One BITFIELD operation.
#[derive(Clone)]
enum FieldOp {
    Get {
        signed: bool,
        bits: u32,
        off: u64,
    },
    Set {
        signed: bool,
        bits: u32,
        off: u64,
        value: i64,
    },
    Incr {
        signed: bool,
        bits: u32,
        off: u64,
        by: i64,
    },
    Overflow(&'static str),
}

fn read_field(v: &[u8], signed: bool, bits: u32, off: u64) -> i128 {
    let mut u: u128 = 0;
    for i in 0..bits as u64 {
        u = (u << 1) | bit_at(v, off + i) as u128;
    }
    if signed && u >> (bits - 1) & 1 == 1 {
        u as i128 - (1i128 << bits)
    } else {
        u as i128
    }
}

fn write_field(v: &mut [u8], bits: u32, off: u64, value: i128) {
    for i in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - i)) & 1 == 1;
        let pos = off + i;
        let mask = 0x80u8 >> (pos % 8);
        if bit {
            v[(pos / 8) as usize] |= mask;
        } else {
            v[(pos / 8) as usize] &= !mask;
        }
    }
}

impl Model {
    fn bitfield(&mut self, key: &str, ops: &[FieldOp]) -> Vec<u8> {
        let highest = ops
            .iter()
            .filter_map(|o| match o {
                FieldOp::Set { bits, off, .. } | FieldOp::Incr { bits, off, .. } => {
                    Some(off + *bits as u64 - 1)
                }
                _ => None,
            })
            .max();
        if let Some(h) = highest {
            let v = self.keys.entry(key.to_string()).or_default();
            let need = (h / 8 + 1) as usize;
            if v.len() < need {
                v.resize(need, 0);
            }
        }
        let mut overflow = "WRAP";
        let mut out = Vec::new();
        let mut n = 0;
        for op in ops {
            let v = self.keys.get(key).cloned().unwrap_or_default();
            let (signed, bits, off, target, ret_old) = match *op {
                FieldOp::Overflow(o) => {
                    overflow = o;
                    continue;
                }
                FieldOp::Get { signed, bits, off } => {
                    out.extend(int(read_field(&v, signed, bits, off) as i64));
                    n += 1;
                    continue;
                }
                // An unsigned SET sees its argument as a u64 (two's complement), as Redis does.
                FieldOp::Set {
                    signed,
                    bits,
                    off,
                    value,
                } => {
                    let t = if signed {
                        value as i128
                    } else {
                        value as u64 as i128
                    };
                    (signed, bits, off, t, true)
                }
                FieldOp::Incr {
                    signed,
                    bits,
                    off,
                    by,
                } => (
                    signed,
                    bits,
                    off,
                    read_field(&v, signed, bits, off) + by as i128,
                    false,
                ),
            };
            n += 1;
            let old = read_field(&v, signed, bits, off);
            let (min, max) = if signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            let new = if (min..=max).contains(&target) {
                target
            } else {
                match overflow {
                    "FAIL" => {
                        out.extend(b"$-1\r\n");
                        continue;
                    }
                    "SAT" => {
                        if target > max {
                            max
                        } else {
                            min
                        }
                    }
                    _ => {
                        let m = target.rem_euclid(1i128 << bits);
                        if signed && m > max {
                            m - (1i128 << bits)
                        } else {
                            m
                        }
                    }
                }
            };
            out.extend(int(if ret_old { old } else { new } as i64));
            if let Some(s) = self.keys.get_mut(key) {
                write_field(s, bits, off, new);
            }
        }
        let mut reply = format!("*{n}\r\n").into_bytes();
        reply.extend(out);
        reply
    }
}

fn field_args(op: &FieldOp) -> Vec<String> {
    let ty = |signed: bool, bits: u32| format!("{}{bits}", if signed { 'i' } else { 'u' });
    match op {
        FieldOp::Get { signed, bits, off } => {
            vec!["GET".into(), ty(*signed, *bits), off.to_string()]
        }
        FieldOp::Set {
            signed,
            bits,
            off,
            value,
        } => vec![
            "SET".into(),
            ty(*signed, *bits),
            off.to_string(),
            value.to_string(),
        ],
        FieldOp::Incr {
            signed,
            bits,
            off,
            by,
        } => vec![
            "INCRBY".into(),
            ty(*signed, *bits),
            off.to_string(),
            by.to_string(),
        ],
        FieldOp::Overflow(o) => vec!["OVERFLOW".into(), o.to_string()],
    }
}

fn random_field(rng: &mut Rng) -> FieldOp {
    let signed = rng.below(2) == 0;
    let bits = if signed {
        rng.range(1, 64)
    } else {
        rng.range(1, 63)
    } as u32;
    let off = rng.range(0, 90) as u64;
    let value = *rng.pick(&[
        0,
        1,
        -1,
        5,
        -7,
        100,
        -129,
        255,
        256,
        70_000,
        -70_000,
        i64::MAX,
        i64::MIN,
        i64::MAX / 3,
        1 << 40,
    ]);
    match rng.below(10) {
        0..=2 => FieldOp::Get { signed, bits, off },
        3..=5 => FieldOp::Set {
            signed,
            bits,
            off,
            value,
        },
        6..=8 => FieldOp::Incr {
            signed,
            bits,
            off,
            by: value,
        },
        _ => FieldOp::Overflow(["WRAP", "SAT", "FAIL"][rng.below(3) as usize]),
    }
}

struct Harness {
    ember: RespConn,
    redis: RespConn,
    model: Model,
    seed: u64,
    step: usize,
}

impl Harness {
    /// Runs `args` on both servers; both must match `expected` (when given) and each other.
    fn run(&mut self, args: &[String], expected: Option<Vec<u8>>) {
        self.step += 1;
        let e = self.ember.command(args).expect("ember reply");
        let r = self.redis.command(args).expect("redis reply");
        let ctx = format!("seed {} step {}: {:?}", self.seed, self.step, args);
        assert_eq!(escape(&e), escape(&r), "ember vs redis, {ctx}");
        if let Some(want) = expected {
            assert_eq!(escape(&e), escape(&want), "ember vs model, {ctx}");
        }
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn random_sequences_match_the_model_and_redis() {
    let ember_server = ServerProcess::start_ember(&[]);
    let redis_server = ServerProcess::start_redis(&[]);
    let keys = ["a", "b", "c", "d"];
    for seed in 1..=6u64 {
        let mut h = Harness {
            ember: ember_server.connect(),
            redis: redis_server.connect(),
            model: Model::default(),
            seed,
            step: 0,
        };
        h.run(&[s("FLUSHALL")], None);
        let mut rng = Rng::new(seed);
        for _ in 0..600 {
            let key = *rng.pick(&keys);
            match rng.below(16) {
                0..=3 => {
                    let off = rng.range(0, 300) as u64;
                    let on = rng.below(2) == 1;
                    let want = h.model.setbit(key, off, on);
                    h.run(
                        &[s("SETBIT"), s(key), off.to_string(), (on as u8).to_string()],
                        Some(want),
                    );
                }
                4 => {
                    let off = rng.range(0, 320) as u64;
                    let want = h.model.getbit(key, off);
                    h.run(&[s("GETBIT"), s(key), off.to_string()], Some(want));
                }
                5 | 6 => {
                    let range = match rng.below(4) {
                        0 => None,
                        _ => Some((rng.range(-50, 50), rng.range(-50, 50), rng.below(2) == 0)),
                    };
                    let mut args = vec![s("BITCOUNT"), s(key)];
                    if let Some((a, b, bits)) = range {
                        let (a, b) = if bits { (a * 7, b * 7) } else { (a, b) };
                        args.push(a.to_string());
                        args.push(b.to_string());
                        if bits || rng.below(2) == 0 {
                            args.push(s(if bits { "BIT" } else { "BYTE" }));
                        }
                        let want = h.model.bitcount(key, Some((a, b, bits)));
                        h.run(&args, Some(want));
                    } else {
                        let want = h.model.bitcount(key, None);
                        h.run(&args, Some(want));
                    }
                }
                7 | 8 => {
                    let bit = rng.below(2) == 1;
                    let mut args = vec![s("BITPOS"), s(key), (bit as u8).to_string()];
                    let (start, end) = match rng.below(4) {
                        0 => (None, None),
                        1 => (Some(rng.range(-40, 40)), None),
                        _ => {
                            let bits = rng.below(2) == 0;
                            let scale = if bits { 7 } else { 1 };
                            (
                                Some(rng.range(-40, 40) * scale),
                                Some((rng.range(-40, 40) * scale, bits)),
                            )
                        }
                    };
                    if let Some(st) = start {
                        args.push(st.to_string());
                    }
                    if let Some((e, bits)) = end {
                        args.push(e.to_string());
                        if bits || rng.below(2) == 0 {
                            args.push(s(if bits { "BIT" } else { "BYTE" }));
                        }
                    }
                    let want = h.model.bitpos(key, bit, start, end);
                    h.run(&args, Some(want));
                }
                9 | 10 => {
                    let op = *rng.pick(&["AND", "OR", "XOR", "NOT"]);
                    let dest = *rng.pick(&keys);
                    let n = if op == "NOT" {
                        1
                    } else {
                        rng.range(1, 3) as usize
                    };
                    let srcs: Vec<&str> = (0..n)
                        .map(|_| *rng.pick(&["a", "b", "c", "d", "missing"]))
                        .collect();
                    let want = h.model.bitop(op, dest, &srcs);
                    let mut args = vec![s("BITOP"), s(op), s(dest)];
                    args.extend(srcs.iter().map(|k| s(k)));
                    h.run(&args, Some(want));
                }
                11..=13 => {
                    let ops: Vec<FieldOp> = (0..rng.range(1, 4))
                        .map(|_| random_field(&mut rng))
                        .collect();
                    let want = h.model.bitfield(key, &ops);
                    let mut args = vec![s("BITFIELD"), s(key)];
                    for op in &ops {
                        args.extend(field_args(op));
                    }
                    h.run(&args, Some(want));
                }
                14 => {
                    let want = match h.model.keys.get(key) {
                        Some(v) => bulk(v),
                        None => b"$-1\r\n".to_vec(),
                    };
                    h.run(&[s("GET"), s(key)], Some(want));
                }
                _ => {
                    h.model.keys.remove(key);
                    h.run(&[s("DEL"), s(key)], None);
                }
            }
        }
    }
}
