//! The sorted-set type's value: members with scores, ordered by (score,
//! member). Small sets are a sorted vector (Redis's "listpack"); large ones
//! pair a member → score map with an order-statistic index so ranks and
//! ranges are O(log N) (Redis's "skiplist").

use super::value::SmallBytes;

/// Redis's zset-max-listpack-entries / zset-max-listpack-value defaults.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;

#[derive(Clone, Debug)]
pub enum ZSetValue {
    /// Sorted by (score, member).
    Listpack(Vec<(f64, SmallBytes)>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(Vec::new())
    }
}

impl ZSetValue {
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_size(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => {
                v.capacity() * 32 + v.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
            }
        }
    }
}
