//! The list type's value: a double-ended queue of elements, O(1) at both ends.
//! Elements up to 22 bytes are stored inline (no allocation per element).

use super::value::SmallBytes;
use std::collections::VecDeque;

#[derive(Clone, Debug, Default)]
pub struct ListValue {
    pub items: VecDeque<SmallBytes>,
}

impl ListValue {
    /// Redis reports small lists as "listpack" (list-max-listpack-size -2:
    /// up to 8 KiB) and larger ones as "quicklist".
    pub fn encoding(&self) -> &'static str {
        let bytes: usize = self.items.iter().map(|e| e.as_slice().len() + 2).sum();
        if bytes <= 8192 && self.items.len() <= 128 {
            "listpack"
        } else {
            "quicklist"
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn heap_size(&self) -> usize {
        self.items.capacity() * 24 + self.items.iter().map(|e| e.heap_size()).sum::<usize>()
    }
}
