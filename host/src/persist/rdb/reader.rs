//! Reading whole RDB files as a stream of [`Record`]s: the header and
//! version check, every opcode Redis 2.6–7.0 writes, the values (value/), and
//! the CRC-64 trailer. The caller decides what records mean (load into the
//! store, feed a replica, inspect a file); errors name the byte offset.

use super::consts::*;
use super::encoding::Input;
use super::{value, RdbError, RdbOptions};
use crate::store::Value;
use std::io::Read;

/// One record of a file, in file order.
#[derive(Debug)]
pub enum Record {
    /// An aux field (redis-ver, ctime, repl-id, aof-base, lua ...).
    Aux { key: Vec<u8>, value: Vec<u8> },
    /// The following keys belong to this database.
    SelectDb(u64),
    /// Size hints of the current database.
    ResizeDb { keys: u64, expires: u64 },
    /// A function library's code (FUNCTION2, or a 7.0-rc FUNCTION record
    /// turned into the same `#!engine name=...` form Redis builds).
    Function(Vec<u8>),
    /// A module's aux data (walked, not interpreted): the module type id and
    /// its 9-character name.
    ModuleAux { module_id: u64, name: String },
    /// A key of the current database.
    Entry {
        db: u64,
        key: Vec<u8>,
        value: Value,
        expire_at_ms: Option<i64>,
        idle_s: Option<u64>,
        freq: Option<u8>,
    },
}

/// What [`load`] saw besides the records.
#[derive(Debug, Default, Clone)]
pub struct FileInfo {
    pub version: u16,
    /// Empty collections skipped (Redis skips them too).
    pub empty_keys_skipped: u64,
    /// The trailer was 0: saved with `rdbchecksum no`, nothing verified.
    pub checksum_skipped: bool,
    /// Bytes read, trailer included.
    pub bytes: u64,
}

/// Reads the header: `REDIS` and a 4-digit version in 1..=10.
pub fn read_header<R: Read>(input: &mut Input<R>) -> Result<u16, RdbError> {
    let magic: [u8; 9] = input.array().map_err(|_| {
        RdbError::corrupt(
            0,
            "Short read or OOM loading DB. Unrecoverable error, aborting now.",
        )
    })?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::corrupt(
            0,
            "Wrong signature trying to load DB from file",
        ));
    }
    let ver = std::str::from_utf8(&magic[5..])
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(0);
    if !(RDB_MIN_VERSION..=RDB_VERSION).contains(&ver) {
        return Err(RdbError::corrupt(
            5,
            format!("Can't handle RDB format version {ver}"),
        ));
    }
    Ok(ver)
}

/// Walks module opcodes up to their EOF (a module value or aux payload).
fn skip_module_opcodes<R: Read>(input: &mut Input<R>, name: &str) -> Result<(), RdbError> {
    loop {
        let at = input.offset();
        match input.length()? {
            MODULE_OPCODE_EOF => return Ok(()),
            MODULE_OPCODE_SINT | MODULE_OPCODE_UINT => {
                input.length()?;
            }
            MODULE_OPCODE_FLOAT => {
                input.binary_float()?;
            }
            MODULE_OPCODE_DOUBLE => {
                input.binary_double()?;
            }
            MODULE_OPCODE_STRING => {
                input.string()?;
            }
            op => {
                return Err(input.err_at(
                    at,
                    format!("Unknown module opcode {op} in module data of '{name}'"),
                ))
            }
        }
    }
}

/// Reads a whole file from `r`, handing each record to `sink`. A sink error
/// stops the load and is reported at the offset of the record.
pub fn load<R: Read>(
    r: R,
    opts: &RdbOptions,
    mut sink: impl FnMut(Record) -> Result<(), String>,
) -> Result<FileInfo, RdbError> {
    let mut input = Input::new(r);
    let ver = read_header(&mut input)?;
    let mut info = FileInfo {
        version: ver,
        ..Default::default()
    };
    let mut db = 0u64;
    let mut expire_at_ms: Option<i64> = None;
    let mut idle_s: Option<u64> = None;
    let mut freq: Option<u8> = None;
    loop {
        let at = input.offset();
        let t = input.u8()?;
        let emit = |rec: Record, sink: &mut dyn FnMut(Record) -> Result<(), String>| {
            sink(rec).map_err(|m| RdbError::corrupt(at, m))
        };
        match t {
            OPCODE_EXPIRETIME => {
                expire_at_ms = Some(i32::from_le_bytes(input.array()?) as i64 * 1000);
            }
            OPCODE_EXPIRETIME_MS => expire_at_ms = Some(input.ms_time()?),
            OPCODE_FREQ => freq = Some(input.u8()?),
            OPCODE_IDLE => idle_s = Some(input.length()?),
            OPCODE_EOF => break,
            OPCODE_SELECTDB => {
                db = input.length()?;
                emit(Record::SelectDb(db), &mut sink)?;
            }
            OPCODE_RESIZEDB => {
                let keys = input.length()?;
                let expires = input.length()?;
                emit(Record::ResizeDb { keys, expires }, &mut sink)?;
            }
            OPCODE_AUX => {
                let key = input.string()?;
                let value = input.string()?;
                emit(Record::Aux { key, value }, &mut sink)?;
            }
            OPCODE_MODULE_AUX => {
                let module_id = input.length()?;
                let (name, _) = value::module_type_name_of_id(module_id);
                let when_at = input.offset();
                if input.length()? != MODULE_OPCODE_UINT {
                    return Err(input.err_at(when_at, "bad when_opcode"));
                }
                input.length()?;
                skip_module_opcodes(&mut input, &name)?;
                emit(Record::ModuleAux { module_id, name }, &mut sink)?;
            }
            OPCODE_FUNCTION2 => {
                let code = input.string()?;
                emit(Record::Function(code), &mut sink)?;
            }
            OPCODE_FUNCTION => {
                let name = input.string()?;
                let engine = input.string()?;
                if input.length()? != 0 {
                    input.string()?;
                }
                let body = input.string()?;
                let mut code = format!(
                    "#!{} name={}\n",
                    String::from_utf8_lossy(&engine),
                    String::from_utf8_lossy(&name)
                )
                .into_bytes();
                code.extend_from_slice(&body);
                emit(Record::Function(code), &mut sink)?;
            }
            t if is_object_type(t) => {
                let key = input.string()?;
                let value = value::decode(&mut input, t, ver, opts)?;
                let meta = (expire_at_ms.take(), idle_s.take(), freq.take());
                match value {
                    Some(value) => emit(
                        Record::Entry {
                            db,
                            key,
                            value,
                            expire_at_ms: meta.0,
                            idle_s: meta.1,
                            freq: meta.2,
                        },
                        &mut sink,
                    )?,
                    None => info.empty_keys_skipped += 1,
                }
            }
            t => return Err(input.err_at(at, format!("Unknown RDB encoding type {t}"))),
        }
    }
    if ver >= 5 {
        let expected = input.checksum();
        let at = input.offset();
        let stored = u64::from_le_bytes(input.array()?);
        if stored == 0 {
            info.checksum_skipped = true;
        } else if opts.checksum && stored != expected {
            return Err(input.err_at(
                at,
                format!(
                    "Wrong RDB checksum expected: ({expected:x}) got: ({stored:x}). Aborting now."
                ),
            ));
        }
    }
    info.bytes = input.offset();
    Ok(info)
}
