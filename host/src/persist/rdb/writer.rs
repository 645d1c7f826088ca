//! Whole RDB files, in the order Redis 7.0 writes them: magic and version,
//! aux fields, function libraries, then per database SELECTDB, RESIZEDB and
//! its keys (each with its expiry and LRU/LFU opcodes), EOF and the CRC-64.
//!
//! Everything is staged in a buffer that goes to the underlying writer in
//! large blocks, the checksum being computed over each block on its way out.

use super::consts::*;
use super::crc::Crc64;
use super::encoding::{put_len, put_ms_time, Enc};
use super::{value, RdbOptions};
use crate::store::Value;
use std::io::{self, Write};

const FLUSH_AT: usize = 256 * 1024;

/// What goes before a key besides its value.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryMeta {
    /// Absolute expiry, unix milliseconds.
    pub expire_at_ms: Option<i64>,
    /// Seconds since last access (written under an LRU maxmemory policy).
    pub idle_s: Option<u64>,
    /// The LFU counter (written under an LFU maxmemory policy).
    pub freq: Option<u8>,
}

/// The aux fields Redis 7.0 writes at the head of a file: redis-ver,
/// redis-bits, ctime, used-mem, aof-base.
pub fn default_aux(used_mem: u64, aof_base: bool) -> Vec<(String, Vec<u8>)> {
    let ctime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    vec![
        (
            "redis-ver".into(),
            crate::config::REDIS_COMPAT_VERSION.as_bytes().to_vec(),
        ),
        ("redis-bits".into(), b"64".to_vec()),
        ("ctime".into(), ctime.to_string().into_bytes()),
        ("used-mem".into(), used_mem.to_string().into_bytes()),
        (
            "aof-base".into(),
            if aof_base {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
    ]
}

/// Writes one RDB file to `W`.
pub struct RdbWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: Crc64,
    enc: Enc,
    opts: RdbOptions,
    written: u64,
}

impl<W: Write> RdbWriter<W> {
    pub fn new(out: W, opts: RdbOptions) -> Self {
        RdbWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            crc: Crc64::default(),
            enc: Enc::new(opts.compression),
            opts,
            written: 0,
        }
    }

    /// Bytes produced so far (flushed or staged).
    pub fn bytes_written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.opts.checksum {
            self.crc.update(&self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_block()?;
        }
        Ok(())
    }

    /// `REDIS0010` and the given aux fields (see [`default_aux`]).
    pub fn header(&mut self, aux: &[(String, Vec<u8>)]) -> io::Result<()> {
        self.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        for (k, v) in aux {
            self.aux(k.as_bytes(), v)?;
        }
        Ok(())
    }

    /// One aux field.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.push(OPCODE_AUX);
        self.enc.put_string(&mut self.buf, key);
        self.enc.put_string(&mut self.buf, value);
        self.maybe_flush()
    }

    /// One function library (FUNCTION2: its code, as FUNCTION DUMP carries it).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(OPCODE_FUNCTION2);
        self.enc.put_string(&mut self.buf, code);
        self.maybe_flush()
    }

    /// Starts database `db`, announcing its key and expiry counts.
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64) -> io::Result<()> {
        self.buf.push(OPCODE_SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(OPCODE_RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
        Ok(())
    }

    /// One key of the current database.
    pub fn entry(&mut self, key: &[u8], v: &Value, meta: EntryMeta) -> io::Result<()> {
        if let Some(at) = meta.expire_at_ms {
            self.buf.push(OPCODE_EXPIRETIME_MS);
            put_ms_time(&mut self.buf, at);
        }
        if let Some(idle) = meta.idle_s {
            self.buf.push(OPCODE_IDLE);
            put_len(&mut self.buf, idle);
        }
        if let Some(freq) = meta.freq {
            self.buf.push(OPCODE_FREQ);
            self.buf.push(freq);
        }
        // The type byte comes first but is known only once the value is
        // encoded: reserve it and fill it in.
        let type_at = self.buf.len();
        self.buf.push(0);
        self.enc.put_string(&mut self.buf, key);
        let t = value::encode(&mut self.enc, &self.opts, &mut self.buf, v);
        self.buf[type_at] = t;
        self.maybe_flush()
    }

    /// EOF and the checksum (0 when `checksum` is off); returns the writer,
    /// flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OPCODE_EOF);
        self.flush_block()?;
        let sum = if self.opts.checksum {
            self.crc.value()
        } else {
            0
        };
        self.out.write_all(&sum.to_le_bytes())?;
        self.written += 8;
        self.out.flush()?;
        Ok(self.out)
    }
}
