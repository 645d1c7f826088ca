//! The stream type's value: entries ordered by ID, consumer groups with their
//! pending entries lists. Entries are stored compactly (see the module's
//! layout notes); IDs are (ms, seq) pairs.

/// A stream entry ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// One entry's field-value pairs.
pub type Fields = Vec<(Box<[u8]>, Box<[u8]>)>;

#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted_id: StreamId,
    /// (id, field-value pairs) in ID order.
    pub entries: std::collections::BTreeMap<StreamId, Fields>,
}

impl StreamValue {
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn heap_size(&self) -> usize {
        self.entries
            .values()
            .map(|f| f.iter().map(|(a, b)| a.len() + b.len() + 32).sum::<usize>() + 48)
            .sum()
    }
}
