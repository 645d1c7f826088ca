//! The scalable Bloom filter: sizing math, the byte layout of a filter inside its module value,
//! and every operation the commands need, written against a small [`Store`] trait so the same
//! code runs on `ember_guest_sdk::value::*` in the server and on a byte vector in unit tests.
//!
//! # Semantics
//!
//! A filter is RedisBloom's "scalable Bloom filter": a chain of sub-filters ("links"). Items go
//! into the newest link; when it holds `entries` items a new link is added with `entries *
//! expansion` capacity and half the error rate, so the chain's overall false-positive rate stays
//! below the rate asked for. A scaling chain's first link already uses half the rate. Sizing,
//! hashing (MurmurHash64A, double hashing over the link's bits) and the bit order inside each
//! byte are RedisBloom's, so `BF.SCANDUMP` output is interchangeable with RedisBloom's.
//!
//! # Value layout (all integers little-endian)
//!
//! ```text
//! offset 0   prefix, 24 bytes
//!            0  magic "EBF1"
//!            4  u32 number of links
//!            8  u32 options (RedisBloom's bits: 1 NOROUND, 2 ENTS_IS_BITS, 4 FORCE64, 8 NO_SCALING)
//!           12  u32 expansion (growth factor)
//!           16  u32 descriptor slots reserved (the table's capacity)
//!           20  u32 zero
//! offset 24  descriptor table: one 56-byte descriptor per slot, links in creation order
//!            0  u64 items added to the link        <- the only field BF.ADD rewrites
//!            8  u64 capacity (entries)
//!           16  u64 length of the bit array in bytes (a multiple of 8)
//!           24  u64 offset of the bit array in the value
//!           32  f64 error rate
//!           40  f64 bits per entry
//!           48  u32 number of hashes
//!           52  u8  log2 of the bit count when it is a power of two (legacy filters), else 0
//!           53  3 zero bytes
//! then       the links' bit arrays, contiguous, in link order, starting right after the table
//!            (bit `x` of a link is bit `x % 8` of its byte `x / 8`, as in RedisBloom)
//! ```
//!
//! The chain's item count is the sum of the links' counts, so adding an item rewrites one
//! 8-byte counter and the bytes holding the bits it sets. Spare descriptor slots let the chain
//! grow without moving bits; when they run out the table doubles and the bit arrays move up
//! once (rare: the slot count is picked from the first link's size).
//!
//! # Cost model
//!
//! Every [`Store`] call is a host call (~50-100 ns), so a command reads the first
//! [`HEAD_READ`] bytes once (the prefix, the table and, for small filters, all the bits), then
//! reads only the bytes that hold the bits it tests: a link is read whole on first touch when
//! it is small ([`WHOLE_LINK`]) or when the command's items will touch it densely (a
//! `BF.MADD` of 1000 items into a 1 MB link: one read instead of thousands, see
//! [`Filter::expect_items`]); otherwise byte by byte. Changed bytes are written back at the end
//! ([`Filter::flush`]): one write per whole link, adjacent single bytes in one write.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::hash::HashPair;

/// RedisBloom option: size links by `entries * bpe` bits instead of rounding to a power of two.
pub const OPT_NOROUND: u32 = 1;
/// RedisBloom option: `entries` is log2 of the bit count (never set by the commands).
pub const OPT_ENTS_IS_BITS: u32 = 2;
/// RedisBloom option: 64-bit hashes (every filter created since RedisBloom 2.0).
pub const OPT_FORCE64: u32 = 4;
/// RedisBloom option: the chain never grows; adding to a full filter is an error.
pub const OPT_NO_SCALING: u32 = 8;
const KNOWN_OPTIONS: u32 = OPT_NOROUND | OPT_ENTS_IS_BITS | OPT_FORCE64 | OPT_NO_SCALING;

/// Default error rate of a filter that `BF.ADD`/`BF.INSERT` create.
pub const DEFAULT_ERROR: f64 = 0.01;
/// Default capacity of a filter that `BF.ADD`/`BF.INSERT` create.
pub const DEFAULT_CAPACITY: u64 = 100;
/// Default expansion of a scaling filter.
pub const DEFAULT_EXPANSION: u32 = 2;

/// Each new link's error rate is the previous one's times this.
const TIGHTENING: f64 = 0.5;
/// RedisBloom's constants, to the digit, so link sizes and hash counts agree with it (and a
/// dumped link's hash count validates as RedisBloom validates it).
#[allow(clippy::approx_constant)]
const LN2: f64 = 0.693147180559945;
const LN2_SQUARED: f64 = 0.480453013918201;

/// The largest value the host stores (docs/abi.md, `value_write` result -5).
pub const MAX_VALUE_LEN: u64 = 512 * 1024 * 1024;
/// The most hashes a link may use. A chain's error halves per link, and even at the smallest
/// positive double a link needs ~1075 hashes, so anything above this is a damaged value.
const MAX_HASHES: u32 = 2048;
/// The most descriptor slots a table may have. Each link halves the error rate, which
/// underflows to zero after ~1075 links, so a real chain never needs more.
const MAX_SLOTS: u32 = 4096;

const MAGIC: [u8; 4] = *b"EBF1";
/// Size of the fixed prefix.
pub const PREFIX: u64 = 24;
/// Size of one link descriptor.
pub const DESC: u64 = 56;
/// How many bytes a command reads from the start of the value in its first host call.
pub const HEAD_READ: usize = 512;
/// Links up to this many bytes are always read whole on first touch.
pub const WHOLE_LINK: u64 = 1024;
/// A bigger link is read whole when the command's items are expected to touch at least one
/// byte in this many: a host call costs about as much as copying a few hundred bytes.
const BYTES_PER_TOUCH: u64 = 256;
/// ... but never a link bigger than this (guest memory is limited, 64 MiB by default),
const WHOLE_LINK_MAX: u64 = 4 * 1024 * 1024;
/// ... nor more than this many bytes of links in all. Past it, links go byte by byte.
const WHOLE_LINKS_BUDGET: u64 = 16 * 1024 * 1024;
/// A new filter whose value is at most this long is written in one call.
const SMALL_CREATE: u64 = 4096;
/// Single cached bytes kept before a long `BF.MADD`/`BF.INSERT` flushes and forgets them.
const MAX_CACHED_BYTES: usize = 8192;
/// Chunk size for moving the bit arrays when the descriptor table grows.
const MOVE_CHUNK: u64 = 64 * 1024;
/// The most bytes one `BF.SCANDUMP` chunk carries (RedisBloom's limit is 16 MiB; a smaller one
/// keeps a dump chunk and its reply well inside a guest's memory limit).
pub const MAX_CHUNK: u64 = 4 * 1024 * 1024;

/// Where a filter's bytes live: a module value, or a vector in tests.
pub trait Store {
    type Error;
    /// Copies the value's bytes from `offset` into `buf` and returns how many were copied:
    /// fewer at the end of the value, 0 when the value is missing or empty.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, Self::Error>;
    /// Writes `data` at `offset`, creating the value or growing it (zero-filled) as needed.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error>;
    /// Extends the value with zero bytes to `len`, which is more than its current length,
    /// creating it when missing. (The filter never shrinks a value.)
    fn grow(&mut self, len: u64) -> Result<(), Self::Error>;
    /// Copies several ranges at once (one host call for the module value): each buffer gets
    /// the bytes from its offset, fewer at the end of the value. Returns the value's length
    /// (0 when missing).
    fn read_many(&mut self, reads: &mut [(u64, &mut [u8])]) -> Result<u64, Self::Error>;
    /// Writes several ranges at once, in order, as [`Store::write`] each would.
    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), Self::Error>;
}

/// Why an operation could not complete.
#[derive(Debug, PartialEq)]
pub enum Fault<E> {
    /// The store refused (wrong type, read-only invocation ...): passed on to the client.
    Store(E),
    /// The stored bytes are not a filter this code wrote.
    Corrupt,
}

impl<E> From<E> for Fault<E> {
    fn from(e: E) -> Self {
        Fault::Store(e)
    }
}

/// One sub-filter's parameters and item count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Items added to this link.
    pub size: u64,
    /// Items the link was sized for.
    pub entries: u64,
    /// Length of the bit array in bytes.
    pub bytes: u64,
    /// Offset of the bit array in the value.
    pub offset: u64,
    pub error: f64,
    /// Bits per entry: `-ln(error) / ln(2)^2`.
    pub bpe: f64,
    pub hashes: u32,
    /// log2 of the bit count for power-of-two links (legacy RedisBloom filters), else 0.
    pub n2: u8,
}

impl Link {
    /// Sizes a link for `entries` items at `error` the way RedisBloom's `bloom_init` does under
    /// `options`. `None` when the parameters are invalid (RedisBloom's "invalid argument").
    pub fn sized(entries: u64, error: f64, options: u32) -> Option<Link> {
        if entries < 1 || error.is_nan() || error <= 0.0 || error >= 1.0 {
            return None;
        }
        let bpe = (error.ln() / LN2_SQUARED).abs();
        let mut entries = entries;
        let mut n2 = 0u8;
        let bits: u64;
        if options & OPT_ENTS_IS_BITS != 0 {
            if entries > 63 {
                return None;
            }
            n2 = entries as u8;
            bits = 1u64 << n2;
            entries = (bits as f64 / bpe) as u64;
        } else if options & OPT_NOROUND != 0 {
            // No rounding: conserve memory. At least one bit.
            bits = ((entries as f64 * bpe) as u64).max(1);
        } else {
            // Round the bit count up to a power of two and let the link hold the items the
            // extra bits pay for.
            let ideal = entries as f64 * bpe;
            if !ideal.is_finite() || ideal < 1.0 {
                return None;
            }
            // C's logb: the binary exponent, exact (ideal >= 1 is a normal number).
            let exponent = ((ideal.to_bits() >> 52) & 0x7ff) as i64 - 1023;
            if exponent > 62 {
                return None;
            }
            n2 = exponent as u8 + 1;
            bits = 1u64 << n2;
            let spare_bits = (bits as f64 - ideal) as u64;
            entries = entries.saturating_add((spare_bits as f64 / bpe) as u64);
        }
        let bytes = bits.div_ceil(64).checked_mul(8)?;
        let hashes = (LN2 * bpe).ceil();
        if !(1.0..=f64::from(MAX_HASHES)).contains(&hashes) {
            return None;
        }
        Some(Link {
            size: 0,
            entries,
            bytes,
            offset: 0,
            error,
            bpe,
            hashes: hashes as u32,
            n2,
        })
    }

    /// Number of bits (always the whole bytes, as in RedisBloom).
    pub fn bits(&self) -> u64 {
        self.bytes * 8
    }

    /// What positions are reduced modulo.
    fn modulus(&self) -> u64 {
        if self.n2 > 0 {
            1u64 << self.n2
        } else {
            self.bits()
        }
    }

    /// RedisBloom's integrity rules for a link, plus this layout's sanity bounds.
    fn valid(&self) -> bool {
        self.error > 0.0
            && self.error < 1.0
            && self.bpe.is_finite()
            && self.n2 <= 63
            && self.bytes > 0
            && self.bytes.checked_mul(8).is_some()
            && (self.n2 == 0 || self.bits() >= 1u64 << self.n2)
            && (1..=MAX_HASHES).contains(&self.hashes)
            && f64::from(self.hashes) == (LN2 * self.bpe).ceil()
    }
}

/// A filter's parameters and links (everything but the bits).
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub options: u32,
    pub growth: u32,
    /// Descriptor slots reserved in the value.
    pub slots: u32,
    pub links: Vec<Link>,
}

/// What `BF.RESERVE`/`BF.INSERT`/`BF.ADD` ask a new filter to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    pub error: f64,
    pub capacity: u64,
    pub expansion: u32,
    pub nonscaling: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            error: DEFAULT_ERROR,
            capacity: DEFAULT_CAPACITY,
            expansion: DEFAULT_EXPANSION,
            nonscaling: false,
        }
    }
}

impl Chain {
    /// Items added (`BF.CARD`, `BF.INFO` "Number of items inserted").
    pub fn size(&self) -> u64 {
        self.links.iter().fold(0u64, |s, l| s.wrapping_add(l.size))
    }

    /// Sum of the links' capacities (`BF.INFO` "Capacity").
    pub fn capacity(&self) -> u64 {
        self.links
            .iter()
            .fold(0u64, |s, l| s.wrapping_add(l.entries))
    }

    /// What RedisBloom reports as the filter's "Size": its in-memory footprint on a 64-bit
    /// build (a 32-byte chain, 64 bytes per link, and the bit arrays).
    pub fn memory_usage(&self) -> u64 {
        self.links
            .iter()
            .fold(32u64, |s, l| s.saturating_add(64).saturating_add(l.bytes))
    }

    pub fn scaling(&self) -> bool {
        self.options & OPT_NO_SCALING == 0
    }

    fn hash(&self, item: &[u8]) -> HashPair {
        if self.options & OPT_FORCE64 != 0 {
            HashPair::new64(item)
        } else {
            HashPair::new32(item)
        }
    }

    /// Where the bit arrays start for a table of `slots` descriptors.
    fn data_start(slots: u32) -> u64 {
        PREFIX + u64::from(slots) * DESC
    }

    /// The end of the last bit array: the value's length.
    fn end(&self) -> u64 {
        self.links
            .last()
            .map_or(Self::data_start(self.slots), |l| l.offset + l.bytes)
    }

    fn encode_prefix(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&(self.links.len() as u32).to_le_bytes());
        out[8..12].copy_from_slice(&self.options.to_le_bytes());
        out[12..16].copy_from_slice(&self.growth.to_le_bytes());
        out[16..20].copy_from_slice(&self.slots.to_le_bytes());
        out[20..24].fill(0);
    }

    fn encode_desc(link: &Link, out: &mut [u8]) {
        out[0..8].copy_from_slice(&link.size.to_le_bytes());
        out[8..16].copy_from_slice(&link.entries.to_le_bytes());
        out[16..24].copy_from_slice(&link.bytes.to_le_bytes());
        out[24..32].copy_from_slice(&link.offset.to_le_bytes());
        out[32..40].copy_from_slice(&link.error.to_le_bytes());
        out[40..48].copy_from_slice(&link.bpe.to_le_bytes());
        out[48..52].copy_from_slice(&link.hashes.to_le_bytes());
        out[52] = link.n2;
        out[53..56].fill(0);
    }

    /// The prefix and the used descriptors (the bytes [`Chain::decode`] reads).
    fn encode_table(&self) -> Vec<u8> {
        let mut out = vec![0u8; (PREFIX + self.links.len() as u64 * DESC) as usize];
        self.encode_prefix(&mut out);
        for (i, link) in self.links.iter().enumerate() {
            let at = (PREFIX + i as u64 * DESC) as usize;
            Self::encode_desc(link, &mut out[at..at + DESC as usize]);
        }
        out
    }

    /// Parses the prefix of a value; returns the number of links and the bytes the used
    /// descriptor table spans.
    fn table_len(head: &[u8]) -> Option<(u32, u64)> {
        if head.len() < PREFIX as usize || head[0..4] != MAGIC {
            return None;
        }
        let n = u32_at(head, 4);
        // Checked before anything is read or allocated for the table.
        (n <= MAX_SLOTS).then_some((n, PREFIX + u64::from(n) * DESC))
    }

    /// Decodes and validates the prefix and table at the start of `buf`. `value_len` is the
    /// value's length when known (the first read came back short).
    fn decode(buf: &[u8], value_len: Option<u64>) -> Option<Chain> {
        let (n, table_len) = Self::table_len(buf)?;
        if buf.len() < table_len as usize {
            return None;
        }
        let chain_slots = u32_at(buf, 16);
        let options = u32_at(buf, 8);
        if n == 0 || n > chain_slots || chain_slots > MAX_SLOTS || options & !KNOWN_OPTIONS != 0 {
            return None;
        }
        let mut links = Vec::with_capacity(n as usize);
        let mut expect = Self::data_start(chain_slots);
        for i in 0..n as usize {
            let d = &buf[PREFIX as usize + i * DESC as usize..][..DESC as usize];
            let link = Link {
                size: u64_at(d, 0),
                entries: u64_at(d, 8),
                bytes: u64_at(d, 16),
                offset: u64_at(d, 24),
                error: f64::from_le_bytes(d[32..40].try_into().ok()?),
                bpe: f64::from_le_bytes(d[40..48].try_into().ok()?),
                hashes: u32_at(d, 48),
                n2: d[52],
            };
            if !link.valid() || link.offset != expect {
                return None;
            }
            expect = expect.checked_add(link.bytes)?;
            links.push(link);
        }
        if expect > MAX_VALUE_LEN || value_len.is_some_and(|len| len != expect) {
            return None;
        }
        Some(Chain {
            options,
            growth: u32_at(buf, 12),
            slots: chain_slots,
            links,
        })
    }

    /// Descriptor slots for a new chain: one when it can never grow; otherwise enough that the
    /// table rarely has to grow, but never more than an eighth of the first link's size.
    fn initial_slots(scaling: bool, first_link_bytes: u64) -> u32 {
        if scaling {
            (first_link_bytes / (8 * DESC)).clamp(2, 32) as u32
        } else {
            1
        }
    }

    /// RedisBloom's `BF.SCANDUMP` header: a packed little-endian struct of the chain (item
    /// count u64, links u32, options u32, growth u32) followed by one 53-byte record per link
    /// (bytes u64, bits u64, items u64, error f64, bpe f64, hashes u32, entries u64, n2 u8).
    pub fn dump_header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 53 * self.links.len());
        out.extend_from_slice(&self.size().to_le_bytes());
        out.extend_from_slice(&(self.links.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.options.to_le_bytes());
        out.extend_from_slice(&self.growth.to_le_bytes());
        for l in &self.links {
            out.extend_from_slice(&l.bytes.to_le_bytes());
            out.extend_from_slice(&l.bits().to_le_bytes());
            out.extend_from_slice(&l.size.to_le_bytes());
            out.extend_from_slice(&l.error.to_le_bytes());
            out.extend_from_slice(&l.bpe.to_le_bytes());
            out.extend_from_slice(&l.hashes.to_le_bytes());
            out.extend_from_slice(&l.entries.to_le_bytes());
            out.push(l.n2);
        }
        out
    }

    /// Parses and validates a RedisBloom `BF.SCANDUMP` header (as RedisBloom's `BF.LOADCHUNK`
    /// does) and lays the chain out for this value format. `None` is "ERR received bad data".
    pub fn from_dump_header(buf: &[u8]) -> Option<Chain> {
        const HEAD: usize = 20;
        const REC: usize = 53;
        if buf.len() < HEAD {
            return None;
        }
        let n = u32_at(buf, 8);
        if n == 0 || n > MAX_SLOTS || buf.len() != HEAD + REC * n as usize {
            return None;
        }
        let options = u32_at(buf, 12);
        if options & !KNOWN_OPTIONS != 0 {
            return None;
        }
        let mut links = Vec::with_capacity(n as usize);
        let mut total = 0u64;
        for i in 0..n as usize {
            let r = &buf[HEAD + i * REC..][..REC];
            let bits = u64_at(r, 8);
            let link = Link {
                bytes: u64_at(r, 0),
                size: u64_at(r, 16),
                error: f64::from_le_bytes(r[24..32].try_into().ok()?),
                bpe: f64::from_le_bytes(r[32..40].try_into().ok()?),
                hashes: u32_at(r, 40),
                entries: u64_at(r, 44),
                n2: r[52],
                offset: 0,
            };
            if !link.valid() || link.bytes.checked_mul(8) != Some(bits) {
                return None;
            }
            total = total.checked_add(link.size)?;
            links.push(link);
        }
        if total != u64_at(buf, 0) {
            return None;
        }
        let scaling = options & OPT_NO_SCALING == 0;
        let slots = Self::initial_slots(scaling, links[0].bytes).max(n);
        let mut chain = Chain {
            options,
            growth: u32_at(buf, 16),
            slots,
            links,
        };
        let mut at = Self::data_start(slots);
        for l in &mut chain.links {
            l.offset = at;
            at = at.checked_add(l.bytes)?;
        }
        (at <= MAX_VALUE_LEN).then_some(chain)
    }

    /// The link holding dump position `pos` (0-based over the concatenated bit arrays) and the
    /// position's offset inside it.
    fn link_at(&self, pos: u64) -> Option<(usize, u64)> {
        let mut seek = 0u64;
        for (i, l) in self.links.iter().enumerate() {
            if seek + l.bytes > pos {
                return Some((i, pos - seek));
            }
            seek += l.bytes;
        }
        None
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The outcome of adding one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The item was new: `1`.
    New,
    /// The item (or one colliding with it) was already there: `0`.
    Exists,
    /// A non-scaling filter is at capacity: "ERR non scaling filter is full".
    Full,
    /// A new link could not be made (too big, or the error rate underflowed):
    /// "ERR problem inserting into filter".
    Failed,
}

/// What `BF.LOADCHUNK` of a bit chunk answers when it fails.
pub const BAD_DATA: &str = "ERR received bad data";
const NO_LINK: &str = "ERR invalid offset - no link found";
const TOO_BIG: &str = "ERR invalid chunk - Too big for current filter";

/// A run of cached value bytes; `lo..hi` is the part changed since it was read.
struct Block {
    off: u64,
    data: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl Block {
    fn end(&self) -> u64 {
        self.off + self.data.len() as u64
    }

    fn contains(&self, at: u64) -> bool {
        at >= self.off && at < self.end()
    }

    fn touch(&mut self, from: usize, to: usize) {
        if self.lo >= self.hi {
            self.lo = from;
            self.hi = to;
        } else {
            self.lo = self.lo.min(from);
            self.hi = self.hi.max(to);
        }
    }
}

/// Hashes the byte offsets the cache is keyed by (one multiply-fold; `std`'s SipHash would be
/// most of the lookup's cost).
#[derive(Default)]
struct OffsetHasher(u64);

impl Hasher for OffsetHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let m = u128::from(n ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type ByteCache = HashMap<u64, (u8, bool), BuildHasherDefault<OffsetHasher>>;

/// An open filter: its chain, read once, and a cache of the value bytes this command touched.
pub struct Filter<'s, S: Store> {
    store: &'s mut S,
    chain: Chain,
    /// `blocks[0]` starts at offset 0 and covers at least the prefix and the used table; the
    /// others are links cached whole (see [`Filter::whole`]). Blocks never overlap.
    blocks: Vec<Block>,
    /// Single bytes of big links: value and whether it changed.
    bytes: ByteCache,
    /// Ranges (start, end) known to be zero without reading: links created by this command.
    zero: Vec<(u64, u64)>,
    /// Items this command will check or add ([`Filter::expect_items`]).
    items: u64,
    /// Bytes of links cached whole so far (against [`WHOLE_LINKS_BUDGET`]).
    whole_bytes: u64,
}

/// What [`Filter::open_or_missing`] found.
pub enum Opened<'s, S: Store> {
    Filter(Filter<'s, S>),
    /// No value: the store is handed back, e.g. to create one.
    Missing(&'s mut S),
}

impl<'s, S: Store> Filter<'s, S> {
    /// Opens the filter stored in `store`: one read in the common case. `None` when there is
    /// no value.
    pub fn open(store: &'s mut S) -> Result<Option<Self>, Fault<S::Error>> {
        Ok(match Self::open_or_missing(store)? {
            Opened::Filter(f) => Some(f),
            Opened::Missing(_) => None,
        })
    }

    /// Like [`Filter::open`], but gives the store back when there is no value.
    pub fn open_or_missing(store: &'s mut S) -> Result<Opened<'s, S>, Fault<S::Error>> {
        let mut head = vec![0u8; HEAD_READ];
        let n = store.read(0, &mut head)?;
        if n == 0 {
            return Ok(Opened::Missing(store));
        }
        head.truncate(n);
        let value_len = (n < HEAD_READ).then_some(n as u64);
        let (_, table_len) = Chain::table_len(&head).ok_or(Fault::Corrupt)?;
        if table_len > n as u64 {
            if value_len.is_some() || table_len > MAX_VALUE_LEN {
                return Err(Fault::Corrupt);
            }
            let mut rest = vec![0u8; (table_len - n as u64) as usize];
            if store.read(n as u64, &mut rest)? != rest.len() {
                return Err(Fault::Corrupt);
            }
            head.extend_from_slice(&rest);
        }
        let chain = Chain::decode(&head, value_len).ok_or(Fault::Corrupt)?;
        Ok(Opened::Filter(Filter {
            store,
            chain,
            blocks: vec![Block {
                off: 0,
                data: head,
                lo: 0,
                hi: 0,
            }],
            bytes: ByteCache::default(),
            zero: Vec::new(),
            items: 1,
            whole_bytes: 0,
        }))
    }

    /// Creates a new, empty filter in `store` (which must hold no value). `None` when the
    /// filter would exceed the largest value the host stores ("ERR Insufficient memory to
    /// create filter" in RedisBloom's words). Call [`Filter::flush`] to finish writing it.
    pub fn create(store: &'s mut S, spec: &Spec) -> Result<Option<Self>, Fault<S::Error>> {
        let options = OPT_NOROUND | OPT_FORCE64 | if spec.nonscaling { OPT_NO_SCALING } else { 0 };
        let first_error = if spec.nonscaling {
            spec.error
        } else {
            spec.error * TIGHTENING
        };
        let Some(mut link) = Link::sized(spec.capacity, first_error, options) else {
            return Ok(None);
        };
        let slots = Chain::initial_slots(!spec.nonscaling, link.bytes);
        link.offset = Chain::data_start(slots);
        if link.offset.saturating_add(link.bytes) > MAX_VALUE_LEN {
            return Ok(None);
        }
        let chain = Chain {
            options,
            growth: spec.expansion,
            slots,
            links: vec![link],
        };
        Self::lay_out(store, chain).map(Some)
    }

    /// Creates a value for a chain decoded from a RedisBloom dump header (bits all zero, to be
    /// filled by later chunks) and writes it.
    pub fn create_from_dump(store: &'s mut S, chain: Chain) -> Result<(), Fault<S::Error>> {
        Self::lay_out(store, chain)?.flush()
    }

    fn lay_out(store: &'s mut S, chain: Chain) -> Result<Self, Fault<S::Error>> {
        let end = chain.end();
        if end > MAX_VALUE_LEN {
            return Err(Fault::Corrupt);
        }
        let table = chain.encode_table();
        let mut filter = Filter {
            store,
            chain,
            blocks: Vec::new(),
            bytes: ByteCache::default(),
            zero: Vec::new(),
            items: 1,
            whole_bytes: 0,
        };
        if end <= SMALL_CREATE {
            // One block over the whole value: the first flush writes it in one call.
            let mut data = vec![0u8; end as usize];
            data[..table.len()].copy_from_slice(&table);
            filter.blocks.push(Block {
                off: 0,
                lo: 0,
                hi: data.len(),
                data,
            });
        } else {
            filter.store.grow(end)?;
            let hi = table.len();
            filter.blocks.push(Block {
                off: 0,
                data: table,
                lo: 0,
                hi,
            });
            let data_start = Chain::data_start(filter.chain.slots);
            filter.zero.push((data_start, end));
        }
        Ok(filter)
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Tells the filter how many items the command will check or add, so it can read a link
    /// whole rather than byte by byte when that takes fewer host calls. Call it before the
    /// first check or add.
    pub fn expect_items(&mut self, n: usize) {
        self.items = (n as u64).max(1);
    }

    /// Whether the bytes of `link` not cached yet are to be cached whole rather than byte by
    /// byte. Stable within a command: the budget only ever runs out, and a link cached whole is
    /// found in the cache before this is asked again.
    fn whole(&self, link: &Link) -> bool {
        self.whole_after(link, self.whole_bytes)
    }

    /// [`Filter::whole`] once `used` bytes of links are cached whole.
    fn whole_after(&self, link: &Link, used: u64) -> bool {
        let touches = self.items.saturating_mul(u64::from(link.hashes));
        let worth_it = link.bytes <= WHOLE_LINK
            || (link.bytes <= WHOLE_LINK_MAX
                && link.bytes <= touches.saturating_mul(BYTES_PER_TOUCH));
        worth_it && used + link.bytes <= WHOLE_LINKS_BUDGET
    }

    /// Brings the bytes at `wanted` (link index, value offset) into the cache with one
    /// [`Store::read_many`]: the links cached whole ([`Filter::whole`]) as one range each, the
    /// other bytes one by one. Bytes already cached or known to be zero are not read.
    fn prefetch(&mut self, wanted: &[(usize, u64)]) -> Result<(), Fault<S::Error>> {
        let mut singles: Vec<u64> = Vec::new();
        let mut wholes: Vec<usize> = Vec::new();
        let mut used = self.whole_bytes;
        for &(idx, at) in wanted {
            if wholes.contains(&idx)
                || singles.contains(&at)
                || self.cached(at).is_some()
                || self.known_zero(at)
            {
                continue;
            }
            let link = self.chain.links[idx];
            if self.whole_after(&link, used) {
                used += link.bytes;
                wholes.push(idx);
            } else {
                singles.push(at);
            }
        }
        if singles.is_empty() && wholes.is_empty() {
            return Ok(());
        }
        let head_end = self.blocks[0].end();
        let mut blocks: Vec<Block> = wholes
            .iter()
            .map(|&idx| {
                let link = self.chain.links[idx];
                // A link starts after the table; only its part past the head block is read.
                let start = link.offset.max(head_end);
                Block {
                    off: start,
                    data: vec![0u8; (link.offset + link.bytes).saturating_sub(start) as usize],
                    lo: 0,
                    hi: 0,
                }
            })
            .collect();
        let mut single_bytes = vec![[0u8; 1]; singles.len()];
        let len = {
            let mut reads: Vec<(u64, &mut [u8])> = blocks
                .iter_mut()
                .map(|b| (b.off, &mut b.data[..]))
                .chain(
                    singles
                        .iter()
                        .zip(single_bytes.iter_mut())
                        .map(|(&at, b)| (at, &mut b[..])),
                )
                .collect();
            self.store.read_many(&mut reads)?
        };
        if blocks.iter().any(|b| b.end() > len) || singles.iter().any(|&at| at >= len) {
            return Err(Fault::Corrupt);
        }
        self.whole_bytes = used;
        self.blocks.extend(blocks);
        for (at, b) in singles.into_iter().zip(single_bytes) {
            self.bytes.insert(at, (b[0], false));
        }
        Ok(())
    }

    /// Whether the byte at `at` lies in a link this command created (all zero, not read).
    fn known_zero(&self, at: u64) -> bool {
        self.zero.iter().any(|&(s, e)| at >= s && at < e)
    }

    /// Whether `item` may have been added (`BF.EXISTS`).
    pub fn contains(&mut self, item: &[u8]) -> Result<bool, Fault<S::Error>> {
        let h = self.chain.hash(item);
        self.contains_hashed(&h)
    }

    fn contains_hashed(&mut self, h: &HashPair) -> Result<bool, Fault<S::Error>> {
        if let [link] = self.chain.links[..] {
            // One link (a reserved filter): every byte the item tests in one host call.
            let modulus = link.modulus();
            let wanted: Vec<(usize, u64)> = (0..u64::from(link.hashes))
                .map(|i| (0, link.offset + h.position(i, modulus) / 8))
                .collect();
            self.prefetch(&wanted)?;
            return self.link_contains(0, h);
        }
        // A scaled filter: link by link, newest first (the likeliest to hold the item), each
        // stopping at its first clear bit. Reading every bit of every link in one call, or
        // in rounds of a few bits per link, measured slower (hundreds of single bytes to
        // cache), so this stays as it was.
        for i in (0..self.chain.links.len()).rev() {
            if self.link_contains(i, h)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn link_contains(&mut self, idx: usize, h: &HashPair) -> Result<bool, Fault<S::Error>> {
        let link = self.chain.links[idx];
        let modulus = link.modulus();
        for i in 0..u64::from(link.hashes) {
            let x = h.position(i, modulus);
            let byte = self.byte(idx, link.offset + x / 8)?;
            if byte & (1 << (x % 8)) == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Adds `item` (`BF.ADD`). Changes stay in the cache until [`Filter::flush`].
    pub fn add(&mut self, item: &[u8]) -> Result<Added, Fault<S::Error>> {
        let h = self.chain.hash(item);
        if self.contains_hashed(&h)? {
            return Ok(Added::Exists);
        }
        let last = self.chain.links.len() - 1;
        let cur = self.chain.links[last];
        if cur.size >= cur.entries {
            if !self.chain.scaling() {
                return Ok(Added::Full);
            }
            if !self.add_link()? {
                return Ok(Added::Failed);
            }
        }
        let idx = self.chain.links.len() - 1;
        let link = self.chain.links[idx];
        let modulus = link.modulus();
        for i in 0..u64::from(link.hashes) {
            let x = h.position(i, modulus);
            self.set_bit(idx, link.offset + x / 8, 1 << (x % 8))?;
        }
        self.chain.links[idx].size = link.size.wrapping_add(1);
        self.store_desc(idx);
        if self.bytes.len() > MAX_CACHED_BYTES {
            // Once flushed the store is the truth: forget the single bytes, and the zero
            // ranges too since some of their bytes are now set.
            self.flush()?;
            self.bytes.clear();
            self.zero.clear();
        }
        Ok(Added::New)
    }

    /// Appends a link with `expansion` times the capacity and half the error of the newest.
    /// `false` when RedisBloom would fail to make it (invalid size, or too big).
    fn add_link(&mut self) -> Result<bool, Fault<S::Error>> {
        let cur = self.chain.links[self.chain.links.len() - 1];
        let entries = cur.entries.wrapping_mul(u64::from(self.chain.growth));
        let Some(mut link) = Link::sized(entries, cur.error * TIGHTENING, self.chain.options)
        else {
            return Ok(false);
        };
        let n = self.chain.links.len() as u32;
        let mut shift = 0;
        if n >= self.chain.slots {
            let new_slots = self.chain.slots.saturating_mul(2).max(n + 1).min(MAX_SLOTS);
            if new_slots <= n {
                return Ok(false);
            }
            shift = u64::from(new_slots - self.chain.slots) * DESC;
        }
        let end = self.chain.end();
        match end
            .checked_add(shift)
            .and_then(|e| e.checked_add(link.bytes))
        {
            Some(new_end) if new_end <= MAX_VALUE_LEN => {}
            _ => return Ok(false),
        }
        if shift > 0 {
            self.grow_table(shift)?;
        }
        let end = self.chain.end();
        link.offset = end;
        self.store.grow(end + link.bytes)?;
        self.zero.push((end, end + link.bytes));
        self.chain.links.push(link);
        // The prefix (link count) and the new descriptor.
        let table_end = PREFIX + self.chain.links.len() as u64 * DESC;
        let head = &mut self.blocks[0];
        if head.end() < table_end {
            head.data.resize(table_end as usize, 0);
        }
        self.chain
            .encode_prefix(&mut self.blocks[0].data[..PREFIX as usize]);
        self.blocks[0].touch(0, PREFIX as usize);
        self.store_desc(self.chain.links.len() - 1);
        Ok(true)
    }

    /// Makes room for more descriptors: moves every bit array up by `shift` bytes.
    fn grow_table(&mut self, shift: u64) -> Result<(), Fault<S::Error>> {
        // Settle the cache: after the move only the table is where it was.
        self.flush()?;
        self.bytes.clear();
        self.zero.clear();
        self.blocks.truncate(1);
        self.whole_bytes = 0;
        let table_end = PREFIX + self.chain.links.len() as u64 * DESC;
        self.blocks[0].data.truncate(table_end as usize);

        let start = Chain::data_start(self.chain.slots);
        let end = self.chain.end();
        self.store.grow(end + shift)?;
        // Back to front, so no chunk is overwritten before it is read.
        let mut hi = end;
        let mut buf = vec![0u8; MOVE_CHUNK.min(end - start) as usize];
        while hi > start {
            let lo = hi.saturating_sub(MOVE_CHUNK).max(start);
            let chunk = &mut buf[..(hi - lo) as usize];
            if self.store.read(lo, chunk)? != chunk.len() {
                return Err(Fault::Corrupt);
            }
            self.store.write(lo + shift, chunk)?;
            hi = lo;
        }
        // The new slots start out zero.
        self.store.write(start, &vec![0u8; shift as usize])?;
        self.chain.slots += (shift / DESC) as u32;
        for link in &mut self.chain.links {
            link.offset += shift;
        }
        self.blocks[0].data = self.chain.encode_table();
        let len = self.blocks[0].data.len();
        self.blocks[0].touch(0, len);
        Ok(())
    }

    /// Re-encodes link `idx`'s descriptor into the cached table.
    fn store_desc(&mut self, idx: usize) {
        let at = (PREFIX + idx as u64 * DESC) as usize;
        let head = &mut self.blocks[0];
        Chain::encode_desc(
            &self.chain.links[idx],
            &mut head.data[at..at + DESC as usize],
        );
        head.touch(at, at + DESC as usize);
    }

    /// The value byte at `at`, which lies in link `idx`.
    fn byte(&mut self, idx: usize, at: u64) -> Result<u8, Fault<S::Error>> {
        if let Some(b) = self.cached(at) {
            return Ok(b);
        }
        if self.known_zero(at) {
            return Ok(0);
        }
        let link = self.chain.links[idx];
        if self.whole(&link) {
            let start = link.offset.max(self.blocks[0].end());
            let mut data = vec![0u8; (link.offset + link.bytes - start) as usize];
            if self.store.read(start, &mut data)? != data.len() {
                return Err(Fault::Corrupt);
            }
            self.whole_bytes += link.bytes;
            self.blocks.push(Block {
                off: start,
                data,
                lo: 0,
                hi: 0,
            });
        } else {
            let mut b = [0u8; 1];
            if self.store.read(at, &mut b)? != 1 {
                return Err(Fault::Corrupt);
            }
            self.bytes.insert(at, (b[0], false));
        }
        self.cached(at).ok_or(Fault::Corrupt)
    }

    fn cached(&self, at: u64) -> Option<u8> {
        if let Some(block) = self.blocks.iter().find(|b| b.contains(at)) {
            return Some(block.data[(at - block.off) as usize]);
        }
        self.bytes.get(&at).map(|&(b, _)| b)
    }

    /// Sets `mask` in the byte at `at` (in link `idx`).
    fn set_bit(&mut self, idx: usize, at: u64, mask: u8) -> Result<(), Fault<S::Error>> {
        let old = self.byte(idx, at)?;
        if old & mask != 0 {
            return Ok(());
        }
        if let Some(block) = self.blocks.iter_mut().find(|b| b.contains(at)) {
            let i = (at - block.off) as usize;
            block.data[i] |= mask;
            block.touch(i, i + 1);
            return Ok(());
        }
        let link = self.chain.links[idx];
        if !self.bytes.contains_key(&at) && self.whole(&link) {
            // A link known to be zero, to be cached whole: no need to read it.
            let start = link.offset.max(self.blocks[0].end());
            let mut block = Block {
                off: start,
                data: vec![0u8; (link.offset + link.bytes - start) as usize],
                lo: 0,
                hi: 0,
            };
            let i = (at - start) as usize;
            block.data[i] = mask;
            block.touch(i, i + 1);
            self.whole_bytes += link.bytes;
            self.blocks.push(block);
            return Ok(());
        }
        self.bytes.insert(at, (old | mask, true));
        Ok(())
    }

    /// Writes every changed byte back in one [`Store::write_many`]: a segment per changed
    /// block range and per run of adjacent changed single bytes.
    pub fn flush(&mut self) -> Result<(), Fault<S::Error>> {
        let mut dirty: Vec<(u64, u8)> = Vec::new();
        for (&at, entry) in self.bytes.iter_mut() {
            if entry.1 {
                entry.1 = false;
                dirty.push((at, entry.0));
            }
        }
        dirty.sort_unstable_by_key(|&(at, _)| at);
        // Runs of adjacent bytes: (start, range in `run_bytes`).
        let mut run_bytes: Vec<u8> = Vec::with_capacity(dirty.len());
        let mut runs: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
        for (at, byte) in dirty {
            match runs.last_mut() {
                Some((start, r)) if at == *start + r.len() as u64 => r.end += 1,
                _ => runs.push((at, run_bytes.len()..run_bytes.len() + 1)),
            }
            run_bytes.push(byte);
        }
        let writes: Vec<(u64, &[u8])> = self
            .blocks
            .iter()
            .filter(|b| b.lo < b.hi)
            .map(|b| (b.off + b.lo as u64, &b.data[b.lo..b.hi]))
            .chain(runs.iter().map(|(at, r)| (*at, &run_bytes[r.clone()])))
            .collect();
        if !writes.is_empty() {
            self.store.write_many(&writes)?;
        }
        for block in &mut self.blocks {
            block.lo = 0;
            block.hi = 0;
        }
        Ok(())
    }

    /// `BF.SCANDUMP key iter` for `iter >= 1`: the next chunk of bit arrays and the iterator
    /// that follows it, `(0, [])` past the end.
    pub fn dump_chunk(&mut self, iter: i64) -> Result<(i64, Vec<u8>), Fault<S::Error>> {
        if iter < 1 {
            return Ok((0, Vec::new()));
        }
        let Some((idx, off)) = self.chain.link_at(iter as u64 - 1) else {
            return Ok((0, Vec::new()));
        };
        let link = self.chain.links[idx];
        let len = (link.bytes - off).min(MAX_CHUNK);
        let mut data = vec![0u8; len as usize];
        if self.store.read(link.offset + off, &mut data)? != data.len() {
            return Err(Fault::Corrupt);
        }
        Ok((iter + len as i64, data))
    }

    /// `BF.LOADCHUNK key iter data` into an existing filter: `iter` is what `BF.SCANDUMP`
    /// returned with `data`. `Err` texts are RedisBloom's.
    pub fn load_chunk(
        &mut self,
        iter: i64,
        data: &[u8],
    ) -> Result<Result<(), &'static str>, Fault<S::Error>> {
        if iter <= 0 || (iter as u64) < data.len() as u64 {
            return Ok(Err(BAD_DATA));
        }
        let start = iter - data.len() as i64;
        if start < 1 {
            return Ok(Err(NO_LINK));
        }
        let Some((idx, off)) = self.chain.link_at(start as u64 - 1) else {
            return Ok(Err(NO_LINK));
        };
        let link = self.chain.links[idx];
        if data.len() as u64 > link.bytes - off {
            return Ok(Err(TOO_BIG));
        }
        if !data.is_empty() {
            self.store.write(link.offset + off, data)?;
        }
        Ok(Ok(()))
    }
}

/// A [`Store`] over a byte vector that counts calls: the unit tests' backend.
#[cfg(test)]
#[derive(Default)]
pub struct MemStore {
    pub data: Option<Vec<u8>>,
    pub reads: usize,
    pub writes: usize,
}

#[cfg(test)]
impl Store for MemStore {
    type Error = String;

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, String> {
        self.reads += 1;
        let Some(data) = &self.data else {
            return Ok(0);
        };
        if offset >= data.len() as u64 {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - offset as usize);
        buf[..n].copy_from_slice(&data[offset as usize..offset as usize + n]);
        Ok(n)
    }

    fn write(&mut self, offset: u64, src: &[u8]) -> Result<(), String> {
        self.writes += 1;
        let data = self.data.get_or_insert_with(Vec::new);
        let end = offset as usize + src.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(src);
        Ok(())
    }

    fn grow(&mut self, len: u64) -> Result<(), String> {
        self.writes += 1;
        let data = self.data.get_or_insert_with(Vec::new);
        assert!(len as usize > data.len(), "grow must grow");
        data.resize(len as usize, 0);
        Ok(())
    }

    fn read_many(&mut self, reads: &mut [(u64, &mut [u8])]) -> Result<u64, String> {
        let before = self.reads;
        for (offset, buf) in reads.iter_mut() {
            self.read(*offset, buf)?;
        }
        self.reads = before + 1;
        Ok(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }

    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<(), String> {
        let before = self.writes;
        for &(offset, src) in writes {
            self.write(offset, src)?;
        }
        self.writes = before + 1;
        Ok(())
    }
}

// Explicit path so the tests also build when this file is included from elsewhere.
#[cfg(test)]
#[path = "filter/tests.rs"]
mod tests;
