//! Sorted sets: a listpack of member, score, ... (`ZSET_LISTPACK`, scores as
//! Redis's d2string text) while Ember keeps the set packed, otherwise member
//! and binary double pairs from the highest score down (`ZSET_2`, the order
//! Redis writes so its loader inserts at the head); read also string-double
//! `ZSET` (RDB < 8) and ziplists.

use super::super::consts::*;
use super::super::encoding::{put_binary_double, put_len, Enc, Input};
use super::super::packed::{listpack_elems, ziplist_elems, Elem, Listpack};
use super::super::RdbError;
use super::blob_err;
use crate::store::zset::ZSetValue;
use crate::store::{SmallBytes, Value};
use crate::util::float::fmt_double;
use std::io::Read;

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, z: &ZSetValue) -> u8 {
    match z {
        ZSetValue::Listpack(_) => {
            let mut lp = Listpack::new();
            for (m, s) in z.iter() {
                lp.push(m);
                lp.push(fmt_double(s).as_bytes());
            }
            enc.put_string(out, &lp.finish());
            TYPE_ZSET_LISTPACK
        }
        ZSetValue::Skiplist(_) => {
            put_len(out, z.len() as u64);
            for (m, s) in z.range(0, z.len(), true) {
                enc.put_string(out, m);
                put_binary_double(out, s);
            }
            TYPE_ZSET_2
        }
    }
}

/// Sorts, checks and builds: Redis refuses duplicates and NaN scores.
fn build(at: u64, mut items: Vec<(f64, SmallBytes)>) -> Result<Option<Value>, RdbError> {
    if items.iter().any(|(s, _)| s.is_nan()) {
        return Err(blob_err(at, "Zset with NAN score detected"));
    }
    items.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.as_slice().cmp(b.1.as_slice()))
    });
    let mut seen = hashbrown::HashSet::with_capacity(items.len());
    for (_, m) in &items {
        if !seen.insert(m.as_slice()) {
            return Err(blob_err(at, "Duplicate zset fields detected"));
        }
    }
    drop(seen);
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::ZSet(Box::new(ZSetValue::from_sorted(items)))))
}

fn from_elems(at: u64, elems: &[Elem<'_>]) -> Result<Option<Value>, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return Err(blob_err(at, "Zset listpack with an odd number of elements"));
    }
    let mut items = Vec::with_capacity(elems.len() / 2);
    let mut buf = itoa::Buffer::new();
    for pair in elems.chunks_exact(2) {
        let score = match pair[1] {
            Elem::Int(v) => v as f64,
            Elem::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(parse_score)
                .ok_or_else(|| blob_err(at, "Zset listpack with an invalid score"))?,
        };
        items.push((score, SmallBytes::new(pair[0].bytes(&mut buf))));
    }
    build(at, items)
}

/// Scores as Redis writes them in packed sets (strtod, with inf spelled out).
fn parse_score(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok().filter(|v| !v.is_nan()),
    }
}

pub fn decode<R: Read>(input: &mut Input<R>, t: u8) -> Result<Option<Value>, RdbError> {
    let at = input.offset();
    match t {
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = input.length()?;
            let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let m = input.string()?;
                let s = if t == TYPE_ZSET_2 {
                    input.binary_double()?
                } else {
                    input.string_double()?
                };
                items.push((s, SmallBytes::from_vec(m)));
            }
            build(at, items)
        }
        TYPE_ZSET_ZIPLIST => {
            let blob = input.string()?;
            from_elems(at, &ziplist_elems(&blob).map_err(|m| blob_err(at, m))?)
        }
        _ => {
            let blob = input.string()?;
            from_elems(at, &listpack_elems(&blob).map_err(|m| blob_err(at, m))?)
        }
    }
}
