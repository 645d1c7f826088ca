//! Streams (`STREAM_LISTPACKS_2`, Redis 7.0): the entries as Redis's radix
//! tree of listpacks (16-byte big-endian master ID, then the node listpack in
//! t_stream.c's layout: master entry, then per entry flags, ID deltas, fields
//! and values, lp-count), then length, last/first/max-deleted IDs,
//! entries-added, and the consumer groups with their PELs and consumers.
//!
//! Nodes are re-packed from the live entries on save, cut by the
//! `stream-node-max-bytes` / `-entries` rules Redis applies when appending, so
//! tombstones are not written (Redis would keep them until the node empties;
//! nothing visible depends on them except node counts in XINFO). On load,
//! Redis's tombstones are skipped and the entries re-appended, so nodes again
//! follow Ember's own packing. `STREAM_LISTPACKS` (Redis 5/6) lacks the
//! first/max-deleted IDs and entries-added; they are derived as Redis does.

use super::super::consts::*;
use super::super::encoding::{put_len, put_ms_time, Enc, Input};
use super::super::packed::{listpack_elems, Elem, Listpack};
use super::super::{RdbError, RdbOptions};
use super::blob_err;
use crate::store::stream::{ConsumerGroup, Nack, NodeLimits, StreamId, StreamValue};
use crate::store::Value;
use std::io::Read;

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn id_of_raw(k: &[u8; 16]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&k[..8]);
    seq.copy_from_slice(&k[8..]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

/// A node being built: its master ID and fields, and its entries.
struct NodeBuilder {
    master: StreamId,
    fields: Vec<Vec<u8>>,
    body: Listpack,
    entries: u64,
}

impl NodeBuilder {
    fn bytes(&self) -> usize {
        // Master entry: count, deleted, field count, fields, terminator.
        let mut b = 7 + 3 * 2 + 1;
        for f in &self.fields {
            b += Listpack::elem_size(f);
        }
        b + self.body.bytes() - 7
    }

    fn finish(self) -> (StreamId, Vec<u8>) {
        let mut lp = Listpack::new();
        lp.push_int(self.entries as i64);
        lp.push_int(0);
        lp.push_int(self.fields.len() as i64);
        for f in &self.fields {
            lp.push(f);
        }
        lp.push_int(0);
        lp.extend(&self.body);
        (self.master, lp.finish())
    }
}

fn pack_nodes(s: &StreamValue, limits: NodeLimits) -> Vec<(StreamId, Vec<u8>)> {
    let mut nodes = Vec::new();
    let mut cur: Option<NodeBuilder> = None;
    s.range(StreamId::MIN, StreamId::MAX, false, |id, entry| {
        let pairs: Vec<(&[u8], &[u8])> = entry.pairs().collect();
        let total: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        if let Some(n) = &cur {
            let full_bytes =
                limits.max_bytes != 0 && (n.bytes() + total) as u64 >= limits.max_bytes;
            let full_entries = limits.max_entries != 0 && n.entries >= limits.max_entries;
            if full_bytes || full_entries {
                if let Some(done) = cur.take() {
                    nodes.push(done.finish());
                }
            }
        }
        let node = cur.get_or_insert_with(|| NodeBuilder {
            master: id,
            fields: pairs.iter().map(|(f, _)| f.to_vec()).collect(),
            body: Listpack::new(),
            entries: 0,
        });
        let same = node.fields.len() == pairs.len()
            && node
                .fields
                .iter()
                .zip(&pairs)
                .all(|(a, (b, _))| a.as_slice() == *b);
        let b = &mut node.body;
        b.push_int(if same { STREAM_ITEM_FLAG_SAMEFIELDS } else { 0 });
        b.push_int(id.ms.wrapping_sub(node.master.ms) as i64);
        b.push_int(id.seq.wrapping_sub(node.master.seq) as i64);
        if !same {
            b.push_int(pairs.len() as i64);
        }
        for (f, v) in &pairs {
            if !same {
                b.push(f);
            }
            b.push(v);
        }
        let n = pairs.len() as i64;
        b.push_int(if same { n + 3 } else { 2 * n + 4 });
        node.entries += 1;
        true
    });
    if let Some(done) = cur {
        nodes.push(done.finish());
    }
    nodes
}

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, s: &StreamValue, limits: NodeLimits) -> u8 {
    let nodes = pack_nodes(s, limits);
    put_len(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        enc.put_string(out, &raw_id(*master));
        enc.put_string(out, lp);
    }
    put_len(out, s.len() as u64);
    for id in [s.last_id, s.first_id, s.max_deleted_id] {
        put_len(out, id.ms);
        put_len(out, id.seq);
    }
    put_len(out, s.entries_added);
    put_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        enc.put_string(out, name);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            out.extend_from_slice(&raw_id(*id));
            put_ms_time(out, nack.delivery_time);
            put_len(out, nack.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            enc.put_string(out, cname);
            put_ms_time(out, c.seen_time);
            put_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
    TYPE_STREAM_LISTPACKS_2
}

/// Appends the live entries of one node listpack to `s`.
fn load_node(
    at: u64,
    master: StreamId,
    elems: &[Elem<'_>],
    s: &mut StreamValue,
    limits: NodeLimits,
) -> Result<(), RdbError> {
    const BAD: &str = "Stream listpack integrity check failed";
    let bad = || blob_err(at, BAD);
    let int = |i: usize| elems.get(i).and_then(|e| e.as_int()).ok_or_else(bad);
    if elems.is_empty() {
        return Err(blob_err(at, "Empty listpack inside stream"));
    }
    let nf = usize::try_from(int(2)?).map_err(|_| bad())?;
    let mut i = 3usize;
    let mut master_fields: Vec<Vec<u8>> = Vec::with_capacity(nf.min(1024));
    for _ in 0..nf {
        master_fields.push(elems.get(i).ok_or_else(bad)?.to_vec());
        i += 1;
    }
    if int(i)? != 0 {
        return Err(bad());
    }
    i += 1;
    let mut last: Option<StreamId> = None;
    while i < elems.len() {
        let flags = int(i)?;
        let ms = master.ms.wrapping_add(int(i + 1)? as u64);
        let seq = master.seq.wrapping_add(int(i + 2)? as u64);
        let id = StreamId::new(ms, seq);
        i += 3;
        let mut pairs: Vec<Vec<u8>> = Vec::new();
        let n = if flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                pairs.push(f.clone());
                pairs.push(elems.get(i).ok_or_else(bad)?.to_vec());
                i += 1;
            }
            master_fields.len()
        } else {
            let n = usize::try_from(int(i)?).map_err(|_| bad())?;
            i += 1;
            if n > elems.len() {
                return Err(bad());
            }
            for _ in 0..n {
                pairs.push(elems.get(i).ok_or_else(bad)?.to_vec());
                pairs.push(elems.get(i + 1).ok_or_else(bad)?.to_vec());
                i += 2;
            }
            n
        };
        let lp_count = int(i)?;
        i += 1;
        let expect = if flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
            n + 3
        } else {
            2 * n + 4
        };
        if lp_count != expect as i64 || last.is_some_and(|l| l >= id) {
            return Err(bad());
        }
        last = Some(id);
        if flags & STREAM_ITEM_FLAG_DELETED == 0 {
            if id <= s.last_id && !(s.is_empty() && s.last_id == StreamId::MIN) {
                return Err(bad());
            }
            let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
            s.append(id, &refs, limits);
        }
    }
    Ok(())
}

fn read_id<R: Read>(input: &mut Input<R>) -> Result<StreamId, RdbError> {
    let ms = input.length()?;
    let seq = input.length()?;
    Ok(StreamId::new(ms, seq))
}

pub fn decode<R: Read>(
    input: &mut Input<R>,
    t: u8,
    _ver: u16,
    opts: &RdbOptions,
) -> Result<Option<Value>, RdbError> {
    let limits = opts.stream_limits();
    let mut s = StreamValue::new();
    let nodes = input.length()?;
    for _ in 0..nodes {
        let at = input.offset();
        let key = input.string()?;
        let key: [u8; 16] = key.as_slice().try_into().map_err(|_| {
            input.err_at(at, "Stream node key entry is not the size of a stream ID")
        })?;
        let at = input.offset();
        let lp = input.string()?;
        let elems = listpack_elems(&lp).map_err(|m| blob_err(at, m))?;
        load_node(at, id_of_raw(&key), &elems, &mut s, limits)?;
    }
    let at = input.offset();
    let length = input.length()?;
    if length != s.len() as u64 {
        return Err(input.err_at(at, "Stream length inconsistent with its entries"));
    }
    s.last_id = read_id(input)?;
    if t == TYPE_STREAM_LISTPACKS_2 {
        s.first_id = read_id(input)?;
        s.max_deleted_id = read_id(input)?;
        s.entries_added = input.length()?;
    } else {
        s.first_id = s.first_valid_id().unwrap_or(StreamId::MIN);
        s.max_deleted_id = StreamId::MIN;
        s.entries_added = s.len() as u64;
    }
    let groups = input.length()?;
    for _ in 0..groups {
        let at = input.offset();
        let name = input.string()?;
        let last_id = read_id(input)?;
        let entries_read = if t == TYPE_STREAM_LISTPACKS_2 {
            input.length()? as i64
        } else {
            s.estimate_distance(last_id)
        };
        let mut g = ConsumerGroup::new(last_id, entries_read);
        let pel = input.length()?;
        for _ in 0..pel {
            let at = input.offset();
            let id = id_of_raw(&input.array::<16>()?);
            let delivery_time = input.ms_time()?;
            let delivery_count = input.length()?;
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: std::sync::Arc::from(&b""[..]),
            };
            if g.pel.insert(id, nack).is_some() {
                return Err(input.err_at(
                    at,
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let consumers = input.length()?;
        for _ in 0..consumers {
            let at = input.offset();
            let cname = input.string()?;
            let seen_time = input.ms_time()?;
            let (key, created) = g.consumer(&cname, seen_time);
            if !created {
                return Err(input.err_at(at, "Duplicate stream consumer detected"));
            }
            let n = input.length()?;
            for _ in 0..n {
                let at = input.offset();
                let id = id_of_raw(&input.array::<16>()?);
                match g.pel.get_mut(&id) {
                    Some(nack) if nack.consumer.is_empty() => nack.consumer = key.clone(),
                    Some(_) => {
                        return Err(input.err_at(
                            at,
                            "Duplicated consumer PEL entry loading a stream consumer group",
                        ))
                    }
                    None => {
                        return Err(input.err_at(at, "Consumer entry not found in group global PEL"))
                    }
                }
                if let Some(c) = g.consumers.get_mut(&*key) {
                    c.pel.insert(id);
                }
            }
        }
        // Every pending entry must belong to a consumer (Redis's deep check).
        if g.pel.values().any(|n| n.consumer.is_empty()) {
            return Err(input.err_at(at, "Stream CG PEL entry without consumer"));
        }
        if s.groups.insert(name.into_boxed_slice(), g).is_some() {
            return Err(input.err_at(at, "Duplicated consumer group name"));
        }
    }
    Ok(Some(Value::Stream(Box::new(s))))
}
