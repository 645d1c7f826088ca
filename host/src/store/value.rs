//! The values a key can hold, and the compact byte string used for keys and
//! small string values. Layout matters here: one `Entry` per key lives inline in
//! the shard's dense table, so every byte saved is saved a million times.

use super::hash::HashValue;
use super::list::ListValue;
use super::set::SetValue;
use super::stream::StreamValue;
use super::zset::ZSetValue;
use crate::util::num::parse_i64;

/// Bytes stored inline when short (keys and values up to 22 bytes: most cache
/// keys and counters), on the heap otherwise. 24 bytes either way.
#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, buf: [u8; 22] },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub const INLINE_MAX: usize = 22;

    pub fn new(s: &[u8]) -> Self {
        if s.len() <= Self::INLINE_MAX {
            let mut buf = [0u8; 22];
            buf[..s.len()].copy_from_slice(s);
            SmallBytes::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(s.into())
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= Self::INLINE_MAX {
            Self::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }

    /// Bytes allocated outside the inline 24.
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// A key's value. String values have three representations, mirroring Redis's
/// encodings so OBJECT ENCODING answers the same: `Int` ("int"), `Str`
/// ("embstr" up to 44 bytes, else "raw") and `Raw` (strings grown in place by
/// APPEND or SETRANGE, always "raw", with spare capacity so appends are amortised).
#[derive(Clone, Debug)]
pub enum Value {
    Str(SmallBytes),
    Int(i64),
    Raw(Box<Vec<u8>>),
    /// Not boxed: a `HashValue` is 16 bytes (a tag and a thin pointer), so a
    /// small hash costs one allocation, not two (see store/hash.rs).
    Hash(HashValue),
    List(Box<ListValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<StreamValue>),
    /// A value of a type a wasm module registered (BF.* filters ...): bytes
    /// the module lays out itself (docs/abi.md, module values).
    Module(Box<ModuleValue>),
}

/// The bytes of a module-owned value and the name of its type.
#[derive(Clone, Debug)]
pub struct ModuleValue {
    /// What TYPE answers ("MBbloom--"); interned, see [`intern_type_name`].
    pub type_name: &'static str,
    pub data: Vec<u8>,
}

/// Module type names live as long as the process: TYPE hands out
/// `&'static str`, and a module may be unloaded while its values stay. Each
/// distinct name is leaked once.
pub fn intern_type_name(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Longest string Redis keeps as "embstr".
const EMBSTR_MAX: usize = 44;

impl Value {
    /// A string value as Redis's `tryObjectEncoding` would store it: integers
    /// that print back identically become `Int`.
    pub fn string(s: &[u8]) -> Value {
        if s.len() <= 20 {
            if let Some(v) = parse_i64(s) {
                return Value::Int(v);
            }
        }
        Value::Str(SmallBytes::new(s))
    }

    /// Like [`Value::string`] but takes ownership (no copy for long values).
    pub fn string_from_vec(s: Vec<u8>) -> Value {
        if s.len() <= 20 {
            if let Some(v) = parse_i64(&s) {
                return Value::Int(v);
            }
        }
        Value::Str(SmallBytes::from_vec(s))
    }

    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) | Value::Raw(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
            Value::Module(m) => m.type_name,
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.as_slice().len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
            Value::Module(_) => "raw",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Int(_) | Value::Raw(_))
    }

    /// The bytes of a string value (integers formatted into `buf`), or None for
    /// other types.
    #[inline]
    pub fn as_bytes<'a>(&'a self, buf: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
        match self {
            Value::Str(s) => Some(s.as_slice()),
            Value::Int(i) => Some(buf.format(*i).as_bytes()),
            Value::Raw(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// Length in bytes of a string value.
    pub fn string_len(&self) -> Option<usize> {
        let mut buf = itoa::Buffer::new();
        self.as_bytes(&mut buf).map(|b| b.len())
    }

    /// [`Value::heap_size`] with the elements of big hashes and sets
    /// sampled `samples` times (MEMORY USAGE ... SAMPLES; usize::MAX = all).
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            Value::Hash(h) => h.heap_size_sampled(samples),
            Value::Set(s) => s.heap_size_sampled(samples),
            _ => self.heap_size(),
        }
    }

    /// Approximate heap bytes owned by this value beyond its inline slot, for
    /// memory accounting (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Int(_) => 0,
            Value::Raw(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
            Value::Hash(h) => h.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
            Value::Module(m) => m.data.capacity() + std::mem::size_of::<ModuleValue>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_stays_compact() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::string(b"123").encoding(), "int");
        assert_eq!(Value::string(b"0123").encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(Value::string(b"-9223372036854775808").encoding(), "int");
    }
}
