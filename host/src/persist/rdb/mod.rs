//! The RDB codec: Redis 7.0's snapshot format (RDB version 10), written and
//! read, and the DUMP/RESTORE payload built on it.
//!
//! # Public API
//!
//! Writing (snapshots, the AOF's RDB preamble, replication's full sync):
//!
//! ```text
//! let mut w = RdbWriter::new(file, RdbOptions { compression, checksum, ..Default::default() });
//! w.header(&default_aux(used_mem, aof_base))?;      // "REDIS0010" + aux fields
//! w.function(code)?;                                  // one FUNCTION2 record per library
//! w.select_db(db, keys, expires)?;                    // SELECTDB + RESIZEDB
//! w.entry(key, &value, EntryMeta { expire_at_ms, idle_s, freq })?;
//! let file = w.finish()?;                             // EOF + CRC-64 (0 with checksum off)
//! ```
//!
//! [`encode_value`] gives the type byte and bytes of one value (DUMP, module
//! values); [`dump::dump_payload`] / [`dump::parse_dump_payload`] are DUMP's
//! and RESTORE's payloads (value, RDB version, CRC-64).
//!
//! Reading: [`load`] streams a file's records ([`Record`]: aux field, SELECT
//! DB, RESIZEDB, key entry with expiry/idle/freq, function library, module aux)
//! into a callback; [`load_into_store`](store_load::load_into_store) fills a
//! [`Store`](crate::store::Store) from a file, skipping keys already expired
//! as a Redis primary does. Errors ([`RdbError`]) name the byte offset and
//! what was wrong; versions above 10 are refused with Redis's text.
//!
//! # Layout
//!
//! - `consts.rs`: opcodes, type bytes, encodings.
//! - `crc.rs`, `lzf.rs`: the checksum and the string compression.
//! - `encoding.rs`: lengths, strings, integers, doubles, times, both ways.
//! - `packed.rs`: listpacks, ziplists, zipmaps, intsets.
//! - `value/`: one file per type family.
//! - `writer.rs`, `reader.rs`: whole files; `store_load.rs`: into a Store.
//! - `dump.rs`: DUMP/RESTORE payloads.

pub mod consts;
mod crc;
pub mod dump;
pub mod encoding;
mod lzf;
pub mod packed;
pub mod reader;
pub mod store_load;
pub mod value;
pub mod writer;

pub use crc::crc64;
pub use reader::{load, FileInfo, Record};
pub use store_load::{load_into_store, LoadOptions, LoadStats};
pub use writer::{default_aux, EntryMeta, RdbWriter};

use crate::store::stream::NodeLimits;
use crate::store::Value;

/// How values are written and rebuilt; the directives of the same names.
#[derive(Clone, Debug)]
pub struct RdbOptions {
    /// `rdbcompression`: LZF for strings longer than 20 bytes.
    pub compression: bool,
    /// `rdbchecksum`: write the CRC-64 trailer (0 otherwise) and verify it on load.
    pub checksum: bool,
    /// `list-max-listpack-size`: where quicklist nodes are cut.
    pub list_max_listpack_size: i64,
    /// `stream-node-max-bytes` / `stream-node-max-entries`: stream node cuts.
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
}

impl Default for RdbOptions {
    fn default() -> Self {
        RdbOptions {
            compression: true,
            checksum: true,
            list_max_listpack_size: -2,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

impl RdbOptions {
    pub fn stream_limits(&self) -> NodeLimits {
        NodeLimits {
            max_bytes: self.stream_node_max_bytes,
            max_entries: self.stream_node_max_entries,
        }
    }
}

/// A file or payload that could not be read.
#[derive(Debug)]
pub enum RdbError {
    /// Damaged or truncated data: what was wrong and the byte offset where.
    Corrupt {
        offset: u64,
        msg: String,
        truncated: bool,
    },
    /// The reader failed (offset reached so far).
    Io(u64, std::io::Error),
}

impl RdbError {
    pub fn corrupt(offset: u64, msg: impl Into<String>) -> Self {
        RdbError::Corrupt {
            offset,
            msg: msg.into(),
            truncated: false,
        }
    }

    pub fn truncated(offset: u64) -> Self {
        RdbError::Corrupt {
            offset,
            msg: "Unexpected EOF reading RDB file".into(),
            truncated: true,
        }
    }

    /// The byte offset of the problem.
    pub fn offset(&self) -> u64 {
        match self {
            RdbError::Corrupt { offset, .. } | RdbError::Io(offset, _) => *offset,
        }
    }
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdbError::Corrupt { offset, msg, .. } => write!(f, "{msg} (at byte offset {offset})"),
            RdbError::Io(offset, e) => write!(f, "read error at byte offset {offset}: {e}"),
        }
    }
}

impl std::error::Error for RdbError {}

/// The RDB type byte and serialization of one value (as DUMP writes it).
pub fn encode_value(v: &Value, opts: &RdbOptions) -> (u8, Vec<u8>) {
    let mut enc = encoding::Enc::new(opts.compression);
    let mut out = Vec::new();
    let t = value::encode(&mut enc, opts, &mut out, v);
    (t, out)
}

impl RdbOptions {
    /// The options from the server's directives (`rdbcompression`,
    /// `rdbchecksum`, `list-max-listpack-size`, `stream-node-max-*`).
    pub fn from_config(c: &crate::config::Config) -> Self {
        let mut o = RdbOptions {
            compression: c.rdbcompression,
            checksum: c.rdbchecksum,
            ..Default::default()
        };
        let names: [&[u8]; 3] = [
            b"list-max-listpack-size",
            b"stream-node-max-bytes",
            b"stream-node-max-entries",
        ];
        for (name, value) in c.get(&names) {
            let int = crate::util::num::parse_i64(value.as_bytes());
            match name.as_str() {
                "list-max-listpack-size" => o.list_max_listpack_size = int.unwrap_or(-2),
                "stream-node-max-bytes" => {
                    o.stream_node_max_bytes = int.unwrap_or(4096).max(0) as u64
                }
                "stream-node-max-entries" => {
                    o.stream_node_max_entries = int.unwrap_or(100).max(0) as u64
                }
                _ => {}
            }
        }
        o
    }
}
