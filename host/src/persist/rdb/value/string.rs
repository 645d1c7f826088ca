//! Strings: integer-encoded when they spell a 32-bit integer, LZF-compressed
//! when long and `rdbcompression` is on, verbatim otherwise. HyperLogLogs are
//! strings too, so they travel unchanged.

use super::super::consts::TYPE_STRING;
use super::super::encoding::{put_int_string, Enc, Input};
use super::super::RdbError;
use crate::store::Value;
use std::io::Read;

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, v: &Value) -> u8 {
    match v {
        Value::Int(i) => put_int_string(out, *i),
        Value::Str(s) => enc.put_string(out, s.as_slice()),
        Value::Raw(r) => enc.put_string(out, r),
        _ => {}
    }
    TYPE_STRING
}

pub fn decode<R: Read>(input: &mut Input<R>) -> Result<Option<Value>, RdbError> {
    Ok(Some(match input.string_or_int()? {
        Err(i) => Value::Int(i),
        Ok(s) => Value::string_from_vec(s),
    }))
}
