//! Values of wasm module types (`MODULE_2`).
//!
//! Redis identifies a module type by a 64-bit id: its 9-character name, each
//! character 6 bits of the charset `A-Z a-z 0-9 - _`, then a 10-bit encoding
//! version. The value follows as typed module opcodes ending in EOF, which is
//! what lets redis-check-rdb walk a value whose module it does not have.
//!
//! Ember's mapping: the id is built from the type name as registered (names
//! are usually Redis-style 9-character names such as `MBbloom--`; a name of
//! another length or with other characters is mapped character by character,
//! `_` for characters outside the charset, cut or padded with `-` to 9) and
//! encoding version [`ENCVER`]. The payload is two STRING opcodes: the full
//! type name (so names that do not fit the id still load back exactly) and
//! the value's bytes, as the module laid them out. A real Redis can load such
//! a file only with a module registering the same type id; a module value
//! Ember did not write (other opcode shapes) is refused on load with Redis's
//! error for a module type it does not know.

use super::super::consts::*;
use super::super::encoding::{put_len, Enc, Input};
use super::super::RdbError;
use crate::store::value::{intern_type_name, ModuleValue};
use crate::store::Value;
use std::io::Read;

/// The encoding version of Ember's module value payload (name, bytes).
pub const ENCVER: u64 = 0;

const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Redis's moduleTypeEncodeId over Ember's name mapping (see module doc).
pub fn module_type_id(name: &str, encver: u64) -> u64 {
    let bytes = name.as_bytes();
    let mut id = 0u64;
    for j in 0..9 {
        let c = bytes.get(j).copied().unwrap_or(b'-');
        let pos = CHARSET.iter().position(|&x| x == c).unwrap_or(63) as u64;
        id = (id << 6) | pos;
    }
    (id << 10) | (encver & 1023)
}

/// The 9-character name and encoding version an id stands for.
pub fn module_type_name_of_id(id: u64) -> (String, u64) {
    let mut name = [0u8; 9];
    let mut v = id >> 10;
    for j in (0..9).rev() {
        name[j] = CHARSET[(v & 63) as usize];
        v >>= 6;
    }
    (String::from_utf8_lossy(&name).into_owned(), id & 1023)
}

pub fn encode(enc: &mut Enc, out: &mut Vec<u8>, m: &ModuleValue) -> u8 {
    put_len(out, module_type_id(m.type_name, ENCVER));
    put_len(out, MODULE_OPCODE_STRING);
    enc.put_string(out, m.type_name.as_bytes());
    put_len(out, MODULE_OPCODE_STRING);
    enc.put_string(out, &m.data);
    put_len(out, MODULE_OPCODE_EOF);
    TYPE_MODULE_2
}

/// One module opcode's operand, as redis-check-rdb walks them.
enum Operand {
    Str(Vec<u8>),
    Other,
}

pub fn decode<R: Read>(input: &mut Input<R>) -> Result<Option<Value>, RdbError> {
    let at = input.offset();
    let id = input.length()?;
    let (short_name, _) = module_type_name_of_id(id);
    let mut ops = Vec::new();
    loop {
        let op_at = input.offset();
        let op = input.length()?;
        let operand = match op {
            MODULE_OPCODE_EOF => break,
            MODULE_OPCODE_SINT | MODULE_OPCODE_UINT => {
                input.length()?;
                Operand::Other
            }
            MODULE_OPCODE_FLOAT => {
                input.binary_float()?;
                Operand::Other
            }
            MODULE_OPCODE_DOUBLE => {
                input.binary_double()?;
                Operand::Other
            }
            MODULE_OPCODE_STRING => Operand::Str(input.string()?),
            _ => {
                return Err(input.err_at(
                    op_at,
                    format!("Unknown module opcode {op} in a value of module type '{short_name}'"),
                ))
            }
        };
        // Bounded: Ember's values have two operands; anything longer is
        // walked (to report the right error) but not kept.
        if ops.len() < 3 {
            ops.push(operand);
        }
    }
    match ops.as_mut_slice() {
        [Operand::Str(name), Operand::Str(data)] if module_type_id(&String::from_utf8_lossy(name), ENCVER) == id => {
            let name = String::from_utf8_lossy(name).into_owned();
            Ok(Some(Value::Module(Box::new(ModuleValue {
                type_name: intern_type_name(&name),
                data: std::mem::take(data),
            }))))
        }
        _ => Err(input.err_at(
            at,
            format!("The RDB file contains module data I can't load: no matching module type '{short_name}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_redis_style_names() {
        let id = module_type_id("MBbloom--", 0);
        assert_eq!(module_type_name_of_id(id), ("MBbloom--".to_string(), 0));
        let id = module_type_id("ratelimit", 3);
        assert_eq!(module_type_name_of_id(id), ("ratelimit".to_string(), 3));
        // Longer or foreign names are cut and mapped.
        let (n, _) = module_type_name_of_id(module_type_id("inv.items-long", 0));
        assert_eq!(n, "inv_items");
        let (n, _) = module_type_name_of_id(module_type_id("abc", 0));
        assert_eq!(n, "abc------");
    }
}
