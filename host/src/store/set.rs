//! The set type's value: sets of integers as a sorted vector (Redis's
//! "intset"), others as an insertion-ordered hash set whose dense storage
//! gives SSCAN a cursor that never misses a member.

use indexmap::IndexSet;

/// Redis's set-max-intset-entries default.
pub const INTSET_MAX_ENTRIES: usize = 512;

#[derive(Clone, Debug)]
pub enum SetValue {
    Intset(Vec<i64>),
    Table(IndexSet<Box<[u8]>, foldhash::fast::RandomState>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(Vec::new())
    }
}

impl SetValue {
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_size(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.capacity() * 8,
            SetValue::Table(s) => s.iter().map(|m| m.len() + 32).sum(),
        }
    }
}
