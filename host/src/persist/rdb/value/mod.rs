//! Value encodings: one file per type family, each with the encoder Redis 7.0
//! would use for the value's current encoding and the decoders of every
//! encoding Redis 2.6–7.0 files contain.
//!
//! | Ember value | RDB type written | also read |
//! |---|---|---|
//! | string (int / embstr / raw) | `STRING` (int-encoded, LZF) | |
//! | list | `LIST_QUICKLIST_2` (listpack nodes) | `LIST`, `LIST_ZIPLIST`, `LIST_QUICKLIST` |
//! | set | `SET_INTSET`, `SET` | |
//! | hash | `HASH_LISTPACK`, `HASH` | `HASH_ZIPMAP`, `HASH_ZIPLIST` |
//! | zset | `ZSET_LISTPACK`, `ZSET_2` | `ZSET` (string scores), `ZSET_ZIPLIST` |
//! | stream | `STREAM_LISTPACKS_2` | `STREAM_LISTPACKS` |
//! | module value | `MODULE_2` (see module.rs) | |
//!
//! Decoders rebuild values through the store's own constructors, so a loaded
//! value gets the encoding Ember (like Redis) would give it: a hash read from
//! a `HASH` record with three fields becomes a listpack again.

mod hash;
pub mod list;
mod module;
mod set;
mod stream;
mod string;
mod zset;

pub use module::{module_type_id, module_type_name_of_id};

use super::consts::*;
use super::encoding::{Enc, Input};
use super::{RdbError, RdbOptions};
use crate::store::Value;
use std::io::Read;

/// Appends the serialization of `v` to `out` and returns its RDB type byte.
pub fn encode(enc: &mut Enc, opts: &RdbOptions, out: &mut Vec<u8>, v: &Value) -> u8 {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Raw(_) => string::encode(enc, out, v),
        Value::List(l) => list::encode(enc, opts, out, l),
        Value::Set(s) => set::encode(enc, out, s),
        Value::Hash(h) => hash::encode(enc, out, h),
        Value::ZSet(z) => zset::encode(enc, out, z),
        Value::Stream(s) => stream::encode(enc, out, s, opts.stream_limits()),
        Value::Module(m) => module::encode(enc, out, m),
    }
}

/// Reads a value of RDB type `t` from a file of version `ver`. None for an
/// empty collection (Redis skips those on load).
pub fn decode<R: Read>(
    input: &mut Input<R>,
    t: u8,
    ver: u16,
    opts: &RdbOptions,
) -> Result<Option<Value>, RdbError> {
    let v = match t {
        TYPE_STRING => string::decode(input)?,
        TYPE_LIST | TYPE_LIST_ZIPLIST | TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            list::decode(input, t)?
        }
        TYPE_SET | TYPE_SET_INTSET => set::decode(input, t)?,
        TYPE_HASH | TYPE_HASH_ZIPMAP | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            hash::decode(input, t)?
        }
        TYPE_ZSET | TYPE_ZSET_2 | TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => zset::decode(input, t)?,
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => stream::decode(input, t, ver, opts)?,
        TYPE_MODULE_2 => module::decode(input)?,
        TYPE_MODULE_PRE_GA => {
            return Err(input.err(
                "Trying to load a module value of a pre-GA format (RDB_TYPE_MODULE), which is not supported",
            ))
        }
        _ => return Err(input.err(format!("Unknown RDB encoding type {t}"))),
    };
    Ok(v)
}

/// Maps a packed-blob validation failure to an error at `at`.
fn blob_err(at: u64, msg: &'static str) -> RdbError {
    RdbError::corrupt(at, msg)
}
