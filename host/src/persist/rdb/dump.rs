//! DUMP and RESTORE payloads, and FUNCTION DUMP's: the serialized value (or
//! FUNCTION2 records), then the RDB version as 2 little-endian bytes, then
//! the CRC-64 of everything before it, little-endian (cluster.c's
//! createDumpPayload / verifyDumpPayload).

use super::consts::*;
use super::crc::crc64;
use super::encoding::{Enc, Input};
use super::{value, RdbError, RdbOptions};
use crate::store::Value;

/// Why a payload was refused.
#[derive(Debug)]
pub enum DumpError {
    /// Too short, a newer RDB version, or a wrong checksum: Redis's
    /// "DUMP payload version or checksum are wrong".
    VersionOrChecksum,
    /// The body does not decode: Redis's "Bad data format".
    BadData(RdbError),
}

fn seal(mut p: Vec<u8>) -> Vec<u8> {
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// DUMP's payload for `v`.
pub fn dump_payload(v: &Value, opts: &RdbOptions) -> Vec<u8> {
    let mut enc = Enc::new(opts.compression);
    let mut p = vec![0u8];
    p[0] = value::encode(&mut enc, opts, &mut p, v);
    seal(p)
}

/// Checks the footer and returns the body (verifyDumpPayload). `check_crc`
/// off is `skip_checksum_validation`.
fn verify(p: &[u8], check_crc: bool) -> Result<&[u8], DumpError> {
    if p.len() < 10 {
        return Err(DumpError::VersionOrChecksum);
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > RDB_VERSION {
        return Err(DumpError::VersionOrChecksum);
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&footer[2..]);
    if check_crc && crc64(&p[..p.len() - 8]) != u64::from_le_bytes(stored) {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(body)
}

/// RESTORE's payload back into a value.
pub fn parse_dump_payload(p: &[u8], opts: &RdbOptions) -> Result<Value, DumpError> {
    let body = verify(p, true)?;
    let ver = u16::from_le_bytes([p[p.len() - 10], p[p.len() - 9]]);
    let mut input = Input::new(body);
    let t = input.u8().map_err(DumpError::BadData)?;
    if !is_object_type(t) {
        return Err(DumpError::BadData(RdbError::corrupt(
            0,
            format!("Unknown RDB encoding type {t}"),
        )));
    }
    match value::decode(&mut input, t, ver.max(RDB_MIN_VERSION), opts) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(DumpError::BadData(RdbError::corrupt(1, "empty key"))),
        Err(e) => Err(DumpError::BadData(e)),
    }
}

/// FUNCTION DUMP's payload: one FUNCTION2 record per library.
pub fn functions_payload<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut enc = Enc::new(true);
    let mut p = Vec::new();
    for code in codes {
        p.push(OPCODE_FUNCTION2);
        enc.put_string(&mut p, code);
    }
    seal(p)
}

/// FUNCTION RESTORE's payload back into library codes.
pub fn parse_functions_payload(p: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    let body = verify(p, true)?;
    let mut input = Input::new(body);
    let mut codes = Vec::new();
    while !input.at_end().map_err(DumpError::BadData)? {
        let at = input.offset();
        let op = input.u8().map_err(DumpError::BadData)?;
        if op != OPCODE_FUNCTION2 {
            return Err(DumpError::BadData(RdbError::corrupt(
                at,
                format!("given type is not a function: {op}"),
            )));
        }
        codes.push(input.string().map_err(DumpError::BadData)?);
    }
    Ok(codes)
}
