//! Persistence in Redis's own file formats (DESIGN.md, "Persistence").
//!
//! - [`rdb`]: the RDB codec — the byte format of snapshots, of DUMP/RESTORE
//!   payloads and of the AOF's RDB preamble. It turns values into bytes and
//!   bytes back into values (or into a stream of records); it never takes a
//!   lock, opens a file or decides *when* to save. The snapshot machinery
//!   (SAVE/BGSAVE, load at start) and the AOF drive it.
//! - [`aof`]: the multi-part append-only file, the first listener of the
//!   write-effects stream (effects/): manifest, appending, loading, rewrite.
//! - [`snapshot`]: snapshots on disk and their lifecycle (SAVE, BGSAVE, save
//!   points, shutdown saves, MISCONF, INFO persistence's state).
//! - [`load`]: loading `dbfilename` at start.
//! - [`autosync`]: incremental fsync of the files saves and rewrites write.
//!
//! This layer knows the store's value types (it encodes them) but the store
//! knows nothing of file formats; commands use this layer, never the reverse.

pub mod aof;
pub mod autosync;
pub mod load;
pub mod rdb;
pub mod snapshot;
