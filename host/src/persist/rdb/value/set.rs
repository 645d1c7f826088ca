//! Sets: an intset blob (`SET_INTSET`) while Ember keeps the set as an intset,
//! otherwise a counted list of members (`SET`).

use super::super::consts::*;
use super::super::encoding::{put_len, Enc, Input};
use super::super::packed::{intset_blob, intset_members};
use super::super::RdbError;
use super::blob_err;
use crate::store::set::{Member, SetValue};
use crate::store::Value;
use std::io::Read;

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, s: &SetValue) -> u8 {
    match s {
        SetValue::Intset(i) => {
            let members: Vec<i64> = i.iter().collect();
            enc.put_string(out, &intset_blob(&members));
            TYPE_SET_INTSET
        }
        SetValue::Table(_) => {
            put_len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| enc.put_string(out, b));
            }
            TYPE_SET
        }
    }
}

pub fn decode<R: Read>(input: &mut Input<R>, t: u8) -> Result<Option<Value>, RdbError> {
    let mut set: Option<SetValue> = None;
    if t == TYPE_SET_INTSET {
        let at = input.offset();
        let blob = input.string()?;
        let members = intset_members(&blob).map_err(|m| blob_err(at, m))?;
        let s = set.get_or_insert_with(|| SetValue::new_for(b"0"));
        for v in members {
            s.insert_member(Member::Int(v));
        }
    } else {
        let n = input.length()?;
        for _ in 0..n {
            let at = input.offset();
            let m = input.string()?;
            let s = set.get_or_insert_with(|| SetValue::new_for(&m));
            if !s.insert(&m) {
                return Err(input.err_at(at, "Duplicate set members detected"));
            }
        }
    }
    Ok(set
        .filter(|s| !s.is_empty())
        .map(|s| Value::Set(Box::new(s))))
}
