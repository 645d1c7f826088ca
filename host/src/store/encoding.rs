//! The encoding thresholds of small collections (`hash-max-listpack-entries`
//! / `-value`, `zset-max-listpack-entries` / `-value`,
//! `set-max-intset-entries`): when a hash, sorted set or set leaves its
//! compact representation, which is also what OBJECT ENCODING reports, so
//! tools and tests that read it see Redis's conversions at Redis's sizes.
//!
//! Process-wide atomics, not fields of each value: the thresholds are
//! server settings read on every insert, and values stay small. The server
//! pushes the directives here on start and on CONFIG SET. The physical
//! limits of the packed hash (4095 pairs, 255-byte strings, 1 MiB) still
//! apply above them: past those a hash converts regardless.

use std::sync::atomic::{AtomicUsize, Ordering};

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
static INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);

/// The thresholds, as the directives give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    pub intset_entries: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            hash_entries: 512,
            hash_value: 64,
            zset_entries: 128,
            zset_value: 64,
            intset_entries: 512,
        }
    }
}

pub fn configure(t: Thresholds) {
    HASH_ENTRIES.store(t.hash_entries, Ordering::Relaxed);
    HASH_VALUE.store(t.hash_value, Ordering::Relaxed);
    ZSET_ENTRIES.store(t.zset_entries, Ordering::Relaxed);
    ZSET_VALUE.store(t.zset_value, Ordering::Relaxed);
    INTSET_ENTRIES.store(t.intset_entries, Ordering::Relaxed);
}

/// `hash-max-listpack-entries`.
#[inline]
pub fn hash_max_entries() -> usize {
    HASH_ENTRIES.load(Ordering::Relaxed)
}

/// `hash-max-listpack-value`.
#[inline]
pub fn hash_max_value() -> usize {
    HASH_VALUE.load(Ordering::Relaxed)
}

/// `zset-max-listpack-entries`.
#[inline]
pub fn zset_max_entries() -> usize {
    ZSET_ENTRIES.load(Ordering::Relaxed)
}

/// `zset-max-listpack-value`.
#[inline]
pub fn zset_max_value() -> usize {
    ZSET_VALUE.load(Ordering::Relaxed)
}

/// `set-max-intset-entries`.
#[inline]
pub fn intset_max_entries() -> usize {
    INTSET_ENTRIES.load(Ordering::Relaxed)
}
