//! The replication backlog: the tail of the replication stream, in the wire
//! form replicas receive, addressed by Redis's offsets.
//!
//! One buffer serves both purposes Redis 7.0 shares its replication buffer
//! for: partial resyncs (`PSYNC replid offset` answered from what is still
//! held) and the live feed of every attached replica. A replica is a
//! [`Reader`] with its own position; its connection task copies from that
//! position to its socket. The buffer keeps at least `repl-backlog-size`
//! bytes, and more while a reader still needs them, up to the replica class
//! of `client-output-buffer-limit` (hard limit): a reader further behind is
//! cut off (its task sees [`Read::Overrun`] and closes the link), as Redis
//! closes a replica that overcomes its output buffer limit.
//!
//! Offsets: byte `n` of the stream (1-based) has offset `n`; `end` is the
//! offset of the last byte (master_repl_offset), the held bytes are
//! `first ..= end`.

use crate::effects::{Unit, Wire};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A consumer of the stream (an attached replica): the offset of the next
/// byte it needs, and whether it fell too far behind.
#[derive(Debug)]
pub struct Reader {
    next: AtomicU64,
    overrun: AtomicBool,
}

impl Reader {
    /// Offset of the next byte this reader will copy.
    pub fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// Cut off: it fell behind the output buffer limit, or its bytes are gone.
    pub fn overrun(&self) -> bool {
        self.overrun.load(Ordering::Acquire)
    }
}

/// What [`Backlog::read`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// This many bytes were appended to the caller's buffer (0: up to date).
    Bytes(usize),
    /// The reader fell behind more than the output buffer limit allows, or
    /// its bytes are gone (the backlog was freed or restarted).
    Overrun,
}

struct Inner {
    active: bool,
    /// repl-backlog-size.
    size: usize,
    /// The replica class's hard output limit (0: none).
    hard_limit: u64,
    data: VecDeque<u8>,
    /// Offset of data[0]; `end + 1` when nothing is held.
    first: u64,
    wire: Wire,
    readers: Vec<Arc<Reader>>,
    scratch: Vec<u8>,
}

pub struct Backlog {
    inner: Mutex<Inner>,
    /// master_repl_offset, readable without the lock.
    end: AtomicU64,
    /// The end offset after each append: replica tasks wait on it.
    tx: tokio::sync::watch::Sender<u64>,
}

impl Default for Backlog {
    fn default() -> Self {
        Backlog {
            inner: Mutex::new(Inner {
                active: false,
                size: 1 << 20,
                hard_limit: 256 << 20,
                data: VecDeque::new(),
                first: 1,
                wire: Wire::default(),
                readers: Vec::new(),
                scratch: Vec::new(),
            }),
            end: AtomicU64::new(0),
            tx: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Backlog {
    /// Offset of the last byte of the stream.
    #[inline]
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Whether a backlog exists (Redis's server.repl_backlog != NULL).
    pub fn active(&self) -> bool {
        self.inner.lock().active
    }

    /// (repl_backlog_active, repl_backlog_first_byte_offset, repl_backlog_histlen).
    pub fn info(&self) -> (bool, u64, u64) {
        let g = self.inner.lock();
        if !g.active {
            return (false, 0, 0);
        }
        (true, g.first, g.data.len() as u64)
    }

    /// Wakes when the stream grows (the value is the end offset).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// Creates the backlog, starting after the current offset. Returns false
    /// if it already existed.
    pub fn create(&self) -> bool {
        let mut g = self.inner.lock();
        if g.active {
            return false;
        }
        g.active = true;
        g.data.clear();
        g.first = self.end() + 1;
        g.wire.reset();
        true
    }

    /// Frees the backlog (repl-backlog-ttl with no replica): its readers are
    /// cut off, the offset stays.
    pub fn free(&self) {
        let mut g = self.inner.lock();
        g.active = false;
        g.data = VecDeque::new();
        g.first = self.end() + 1;
        for r in g.readers.drain(..) {
            r.overrun.store(true, Ordering::Release);
        }
        drop(g);
        self.tx.send_replace(self.end());
    }

    /// Restarts an (active) backlog at `offset`: a replica adopting its
    /// primary's history after a full sync. Readers are cut off.
    pub fn restart(&self, offset: u64) {
        let mut g = self.inner.lock();
        g.active = true;
        g.data.clear();
        g.first = offset + 1;
        g.wire.reset();
        for r in g.readers.drain(..) {
            r.overrun.store(true, Ordering::Release);
        }
        self.end.store(offset, Ordering::Release);
        drop(g);
        self.tx.send_replace(offset);
    }

    /// Applies `repl-backlog-size`.
    pub fn resize(&self, size: usize) {
        let mut g = self.inner.lock();
        g.size = size.max(1);
        self.trim(&mut g);
    }

    /// Applies the replica class's hard output buffer limit (0: none).
    pub fn set_hard_limit(&self, bytes: u64) {
        self.inner.lock().hard_limit = bytes;
    }

    /// Bytes the replication buffer holds allocated (Redis's
    /// repl_buffer_mem: the backlog and what lagging replicas still need).
    pub fn memory(&self) -> u64 {
        let g = self.inner.lock();
        if g.active {
            g.data.capacity() as u64
        } else {
            0
        }
    }

    /// The database the stream is in (Redis's slaveseldb; None: the next
    /// unit starts with SELECT).
    pub fn stream_db(&self) -> Option<usize> {
        self.inner.lock().wire.db()
    }

    /// Forces the next unit to start with SELECT (a full sync begins here:
    /// the replica's database after loading is not known).
    pub fn reset_db(&self) {
        self.inner.lock().wire.reset();
    }

    /// Appends a unit of write effects in wire form (SELECT, MULTI/EXEC):
    /// only the commands meant for replicas (a Lua script's redis.set_repl
    /// may keep some for the AOF alone).
    pub fn feed_unit(&self, unit: &Unit<'_>) {
        let mut g = self.inner.lock();
        if !g.active {
            return;
        }
        let Inner { wire, scratch, .. } = &mut *g;
        scratch.clear();
        wire.render_to(unit, crate::effects::TO_REPLICAS, scratch);
        let bytes = std::mem::take(&mut g.scratch);
        self.append(&mut g, &bytes);
        g.scratch = bytes;
    }

    /// Appends a command that is not a write effect (PING, REPLCONF GETACK),
    /// in the database the stream is in.
    pub fn feed_command(&self, argv: &[&[u8]]) {
        let mut g = self.inner.lock();
        if !g.active {
            return;
        }
        let mut bytes = std::mem::take(&mut g.scratch);
        bytes.clear();
        crate::effects::encode_command(&mut bytes, argv);
        self.append(&mut g, &bytes);
        g.scratch = bytes;
    }

    /// Appends stream bytes verbatim (a replica proxying its primary's stream).
    pub fn feed_raw(&self, bytes: &[u8]) {
        let mut g = self.inner.lock();
        if !g.active {
            return;
        }
        self.append(&mut g, bytes);
    }

    fn append(&self, g: &mut Inner, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // Extend<&u8> from a slice iterator is a memcpy (copied() is not).
        g.data.extend(bytes);
        let end = self.end.fetch_add(bytes.len() as u64, Ordering::AcqRel) + bytes.len() as u64;
        self.trim(g);
        self.tx.send_replace(end);
    }

    /// Drops what neither the backlog size nor a reader needs. A reader
    /// needing more than the hard limit behind the end is cut off instead.
    fn trim(&self, g: &mut Inner) {
        if g.data.len() <= g.size {
            return;
        }
        let end = self.end();
        let hard = g.hard_limit;
        let mut keep_from = end + 1 - g.size as u64;
        g.readers.retain(|r| {
            let next = r.next();
            if hard > 0 && end + 1 - next.min(end + 1) > hard {
                r.overrun.store(true, Ordering::Release);
                return false;
            }
            keep_from = keep_from.min(next);
            true
        });
        if keep_from > g.first {
            let n = ((keep_from - g.first) as usize).min(g.data.len());
            g.data.drain(..n);
            g.first += n as u64;
            // A long-lagging reader may have grown the buffer far beyond
            // the backlog size: give that memory back once it is gone.
            if g.data.capacity() > 4 * g.size.max(1 << 20) && g.data.len() <= g.size {
                g.data.shrink_to(g.size);
            }
        }
    }

    /// Whether a partial resync from `offset` (the next byte the replica
    /// wants) can be served: the backlog holds `offset ..= end` (an empty
    /// range when the replica is up to date).
    pub fn can_serve(&self, offset: u64) -> bool {
        let g = self.inner.lock();
        g.active && offset >= g.first && offset <= g.first + g.data.len() as u64
    }

    /// Registers a reader whose next byte is `next` (which must still be
    /// held, or be `end + 1`).
    pub fn attach(&self, next: u64) -> Arc<Reader> {
        let r = Arc::new(Reader {
            next: AtomicU64::new(next),
            overrun: AtomicBool::new(false),
        });
        let mut g = self.inner.lock();
        if !g.active || next < g.first {
            r.overrun.store(true, Ordering::Release);
        } else {
            g.readers.push(r.clone());
        }
        r
    }

    /// Registers a reader at the end of the stream; returns the offset of
    /// the last byte before its first one (appends hold the lock, so the
    /// two agree). A full sync starts there: the next unit starts with
    /// SELECT.
    pub fn attach_at_end(&self) -> (u64, Arc<Reader>) {
        let mut g = self.inner.lock();
        g.wire.reset();
        let end = self.end();
        let r = Arc::new(Reader {
            next: AtomicU64::new(end + 1),
            overrun: AtomicBool::new(!g.active),
        });
        if g.active {
            g.readers.push(r.clone());
        }
        (end, r)
    }

    pub fn detach(&self, r: &Arc<Reader>) {
        self.inner.lock().readers.retain(|x| !Arc::ptr_eq(x, r));
        r.overrun.store(true, Ordering::Release);
    }

    /// Copies up to `max` bytes from the reader's position into `out` and
    /// advances it.
    pub fn read(&self, r: &Reader, max: usize, out: &mut Vec<u8>) -> Read {
        let g = self.inner.lock();
        if r.overrun.load(Ordering::Acquire) {
            return Read::Overrun;
        }
        let next = r.next();
        if next < g.first {
            return Read::Overrun;
        }
        let from = (next - g.first) as usize;
        let n = g.data.len().saturating_sub(from).min(max);
        if n == 0 {
            return Read::Bytes(0);
        }
        let (a, b) = g.data.as_slices();
        let to = from + n;
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
        }
        if to > a.len() {
            out.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
        }
        r.next.store(next + n as u64, Ordering::Release);
        Read::Bytes(n)
    }

    /// Bytes the reader has not copied yet (its share of the buffer).
    pub fn lag_bytes(&self, r: &Reader) -> u64 {
        (self.end() + 1).saturating_sub(r.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &Backlog, r: &Reader) -> Vec<u8> {
        let mut out = Vec::new();
        while let Read::Bytes(n) = b.read(r, 3, &mut out) {
            if n == 0 {
                break;
            }
        }
        out
    }

    #[test]
    fn offsets_trimming_and_readers() {
        let b = Backlog::default();
        b.feed_raw(b"ignored: no backlog yet");
        assert_eq!(b.end(), 0);
        assert!(b.create());
        b.resize(10);
        b.feed_raw(b"0123456789");
        assert_eq!(b.end(), 10);
        assert_eq!(b.info(), (true, 1, 10));
        let r = b.attach(11);
        b.feed_raw(b"abcdef");
        // Held: the last 10 bytes (the reader needs only 11..).
        assert_eq!(b.info(), (true, 7, 10));
        assert!(b.can_serve(7) && b.can_serve(17) && !b.can_serve(6) && !b.can_serve(18));
        assert_eq!(read_all(&b, &r), b"abcdef");
        // A lagging reader keeps bytes beyond the backlog size ...
        let lag = b.attach(b.end() + 1);
        b.feed_raw(b"ABCDEFGHIJKLMNOP");
        assert_eq!(b.info().2, 16);
        assert_eq!(read_all(&b, &lag), b"ABCDEFGHIJKLMNOP");
        // ... up to the hard limit.
        b.set_hard_limit(20);
        b.feed_raw(&[b'x'; 25]);
        assert_eq!(b.read(&lag, 5, &mut Vec::new()), Read::Overrun);
        assert_eq!(b.read(&r, 5, &mut Vec::new()), Read::Overrun);
        b.free();
        assert_eq!(b.info(), (false, 0, 0));
    }

    #[test]
    fn units_render_in_wire_form() {
        let b = Backlog::default();
        b.create();
        let r = b.attach(1);
        let mut p = crate::effects::Pending::default();
        p.push(3, &[b"SET", b"k", b"v"]);
        b.feed_unit(&p.unit());
        b.feed_command(&[b"PING"]);
        let got = read_all(&b, &r);
        assert_eq!(
            got,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n"
        );
        assert_eq!(b.end() as usize, got.len());
    }
}
