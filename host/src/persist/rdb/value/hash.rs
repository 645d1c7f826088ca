//! Hashes: a listpack of field, value, ... (`HASH_LISTPACK`) while Ember keeps
//! the hash packed, otherwise counted pairs (`HASH`); read also Redis 2.x
//! zipmaps and Redis 3–6 ziplists.

use super::super::consts::*;
use super::super::encoding::{put_len, Enc, Input};
use super::super::packed::{listpack_elems, ziplist_elems, zipmap_pairs, Elem, Listpack};
use super::super::RdbError;
use super::blob_err;
use crate::store::hash::HashValue;
use crate::store::Value;
use std::io::Read;

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, h: &HashValue) -> u8 {
    match h {
        HashValue::Listpack(_) => {
            let mut lp = Listpack::new();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            enc.put_string(out, &lp.finish());
            TYPE_HASH_LISTPACK
        }
        HashValue::Table(_) => {
            put_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                enc.put_string(out, f);
                enc.put_string(out, v);
            }
            TYPE_HASH
        }
    }
}

fn from_elems(at: u64, elems: &[Elem<'_>]) -> Result<HashValue, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return Err(blob_err(at, "Hash listpack with an odd number of elements"));
    }
    let mut h = HashValue::new();
    let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
    for pair in elems.chunks_exact(2) {
        if !h.insert(pair[0].bytes(&mut fb), pair[1].bytes(&mut vb)) {
            return Err(blob_err(at, "Hash with dup elements"));
        }
    }
    Ok(h)
}

pub fn decode<R: Read>(input: &mut Input<R>, t: u8) -> Result<Option<Value>, RdbError> {
    let h = match t {
        TYPE_HASH => {
            let n = input.length()?;
            let mut h = HashValue::new();
            for _ in 0..n {
                let at = input.offset();
                let f = input.string()?;
                let v = input.string()?;
                if !h.insert(&f, &v) {
                    return Err(input.err_at(at, "Duplicate hash fields detected"));
                }
            }
            h
        }
        TYPE_HASH_ZIPMAP => {
            let at = input.offset();
            let blob = input.string()?;
            let mut h = HashValue::new();
            for (f, v) in zipmap_pairs(&blob).map_err(|m| blob_err(at, m))? {
                if !h.insert(f, v) {
                    return Err(blob_err(at, "Hash zipmap with dup elements"));
                }
            }
            h
        }
        TYPE_HASH_ZIPLIST => {
            let at = input.offset();
            let blob = input.string()?;
            from_elems(at, &ziplist_elems(&blob).map_err(|m| blob_err(at, m))?)?
        }
        _ => {
            let at = input.offset();
            let blob = input.string()?;
            from_elems(at, &listpack_elems(&blob).map_err(|m| blob_err(at, m))?)?
        }
    };
    Ok((!h.is_empty()).then_some(Value::Hash(h)))
}
