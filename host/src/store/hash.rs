//! The hash type's value: small hashes as a flat vector of pairs (Redis's
//! "listpack"), large ones as an insertion-ordered hash map whose dense
//! storage gives HSCAN a cursor that never misses a field.

use super::value::SmallBytes;
use indexmap::IndexMap;

/// Redis's hash-max-listpack-entries / hash-max-listpack-value defaults.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;

#[derive(Clone, Debug)]
pub enum HashValue {
    Listpack(Vec<(SmallBytes, SmallBytes)>),
    Table(IndexMap<Box<[u8]>, Box<[u8]>, foldhash::fast::RandomState>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Vec::new())
    }
}

impl HashValue {
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Listpack(v) => {
                v.capacity() * 48
                    + v.iter()
                        .map(|(f, x)| f.heap_size() + x.heap_size())
                        .sum::<usize>()
            }
            HashValue::Table(m) => m.iter().map(|(f, x)| f.len() + x.len() + 48).sum(),
        }
    }
}
