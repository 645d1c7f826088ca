//! What consumer-group reads and claims propagate (AOF, replicas), as Redis
//! 7.0 does it: never the XREADGROUP, XCLAIM or XAUTOCLAIM received, but one
//! idempotent `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE
//! JUSTID LASTID last-id` per pending entry created or changed
//! (streamPropagateXCLAIM) and `XGROUP SETID key group id ENTRIESREAD n`
//! when only the group's last ID moved (streamPropagateGroupID). The
//! stream code collects them while it holds the stream; they are recorded
//! once it is done with it.

use super::Ctx;
use crate::store::stream::{ConsumerGroup, IdBuf, Nack, StreamId};
use crate::store::Locked;

/// The effects collected for one command (nothing when nobody listens).
pub struct GroupEffects {
    on: bool,
    cmds: Vec<Vec<Vec<u8>>>,
}

fn id_bytes(id: StreamId) -> Vec<u8> {
    let mut b = IdBuf::new();
    id.format(&mut b).to_vec()
}

impl GroupEffects {
    pub fn new(on: bool) -> Self {
        GroupEffects {
            on,
            cmds: Vec::new(),
        }
    }

    /// streamPropagateXCLAIM: `id` as the client wrote it (XCLAIM) or
    /// formatted (reads, XAUTOCLAIM); `last_id` is the group's.
    pub fn xclaim(&mut self, key: &[u8], group: &[u8], id: &[u8], nack: &Nack, last_id: StreamId) {
        if !self.on {
            return;
        }
        self.cmds.push(vec![
            b"XCLAIM".to_vec(),
            key.to_vec(),
            group.to_vec(),
            nack.consumer.to_vec(),
            b"0".to_vec(),
            id.to_vec(),
            b"TIME".to_vec(),
            nack.delivery_time.to_string().into_bytes(),
            b"RETRYCOUNT".to_vec(),
            nack.delivery_count.to_string().into_bytes(),
            b"FORCE".to_vec(),
            b"JUSTID".to_vec(),
            b"LASTID".to_vec(),
            id_bytes(last_id),
        ]);
    }

    /// [`GroupEffects::xclaim`] of a stream ID.
    pub fn xclaim_id(
        &mut self,
        key: &[u8],
        group: &[u8],
        id: StreamId,
        nack: &Nack,
        last_id: StreamId,
    ) {
        if self.on {
            self.xclaim(key, group, &id_bytes(id), nack, last_id);
        }
    }

    /// streamPropagateGroupID.
    pub fn setid(&mut self, key: &[u8], group: &[u8], g: &ConsumerGroup) {
        if !self.on {
            return;
        }
        self.cmds.push(vec![
            b"XGROUP".to_vec(),
            b"SETID".to_vec(),
            key.to_vec(),
            group.to_vec(),
            id_bytes(g.last_id),
            b"ENTRIESREAD".to_vec(),
            g.entries_read.to_string().into_bytes(),
        ]);
    }

    /// Records the effects as the command's, instead of the command itself
    /// (Redis's preventCommandPropagation).
    pub fn commit(self, ctx: &mut Ctx) {
        for c in &self.cmds {
            let argv: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            ctx.propagate(&argv);
        }
        ctx.propagate_nothing();
    }

    /// Records the effects of a blocked read served by another client's write.
    pub fn commit_served(self, ks: &mut Locked<'_>, db: usize) {
        for c in &self.cmds {
            let argv: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            ks.propagate(db, &argv);
        }
    }
}
