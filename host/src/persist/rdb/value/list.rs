//! Lists: written as Redis 7.0's quicklist (`LIST_QUICKLIST_2`) of listpack
//! nodes cut where Redis would cut them (`list-max-listpack-size`); read also
//! from plain lists, a single ziplist and quicklists of ziplists.

use super::super::consts::*;
use super::super::encoding::{put_len, Enc, Input};
use super::super::packed::{listpack_each, ziplist_elems, Listpack};
use super::super::{RdbError, RdbOptions};
use super::blob_err;
use crate::store::list::ListValue;
use crate::store::Value;
use std::io::Read;

/// quicklist.c's optimization_level: node byte limits for fill -1 .. -5.
const SIZE_LIMITS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// quicklist.c's SIZE_SAFETY_LIMIT, for positive fills.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// quicklist.c's _quicklistNodeAllowInsert: whether a node of `bytes` bytes
/// and `count` elements takes one more element of `len` bytes (its estimate
/// adds the raw length and 8 bytes of overhead).
fn allow_insert(fill: i64, bytes: usize, count: usize, len: usize) -> bool {
    let new_sz = bytes + len + 8;
    if fill < 0 {
        let offset = (-(fill as i128) - 1) as usize;
        if SIZE_LIMITS
            .get(offset)
            .is_some_and(|&limit| new_sz <= limit)
        {
            return true;
        }
    }
    new_sz <= SIZE_SAFETY_LIMIT && (count as i64) < fill
}

/// The listpacks a list is stored as: quicklist nodes cut where Redis would
/// cut them. RDB writes them; DEBUG OBJECT reports their count and size.
pub fn pack_nodes(opts: &RdbOptions, l: &ListValue) -> Vec<Vec<u8>> {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut cur = Listpack::new();
    for item in l.iter() {
        if cur.count() > 0
            && !allow_insert(
                opts.list_max_listpack_size,
                cur.bytes(),
                cur.count(),
                item.len(),
            )
        {
            nodes.push(std::mem::take(&mut cur).finish());
        }
        cur.push(item);
    }
    if cur.count() > 0 {
        nodes.push(cur.finish());
    }
    nodes
}

pub fn encode(enc: &mut Enc, opts: &RdbOptions, out: &mut Vec<u8>, l: &ListValue) -> u8 {
    let nodes = pack_nodes(opts, l);
    put_len(out, nodes.len() as u64);
    for n in &nodes {
        put_len(out, QUICKLIST_NODE_PACKED);
        enc.put_string(out, n);
    }
    TYPE_LIST_QUICKLIST_2
}

pub fn decode<R: Read>(input: &mut Input<R>, t: u8) -> Result<Option<Value>, RdbError> {
    let mut list = ListValue::new();
    let mut buf = itoa::Buffer::new();
    match t {
        TYPE_LIST => {
            let n = input.length()?;
            for _ in 0..n {
                list.push_back(&input.string()?);
            }
        }
        TYPE_LIST_ZIPLIST => {
            let at = input.offset();
            let blob = input.string()?;
            for e in ziplist_elems(&blob).map_err(|m| blob_err(at, m))? {
                list.push_back(e.bytes(&mut buf));
            }
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = input.length()?;
            for _ in 0..nodes {
                let container = if t == TYPE_LIST_QUICKLIST_2 {
                    let at = input.offset();
                    let c = input.length()?;
                    if c != QUICKLIST_NODE_PACKED && c != QUICKLIST_NODE_PLAIN {
                        return Err(input.err_at(
                            at,
                            format!("Quicklist integrity check failed: unknown container {c}"),
                        ));
                    }
                    c
                } else {
                    QUICKLIST_NODE_PACKED
                };
                let at = input.offset();
                let blob = input.string()?;
                if container == QUICKLIST_NODE_PLAIN {
                    list.push_back(&blob);
                    continue;
                }
                if t == TYPE_LIST_QUICKLIST {
                    // Empty nodes are skipped silently, as Redis does.
                    for e in ziplist_elems(&blob).map_err(|m| blob_err(at, m))? {
                        list.push_back(e.bytes(&mut buf));
                    }
                } else {
                    listpack_each(&blob, |e| {
                        list.push_back(e.bytes(&mut buf));
                        Ok(())
                    })
                    .map_err(|m| blob_err(at, m))?;
                }
            }
        }
        _ => return Err(input.err(format!("Unknown RDB encoding type {t}"))),
    }
    Ok((!list.is_empty()).then(|| Value::List(Box::new(list))))
}
