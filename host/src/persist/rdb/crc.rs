//! CRC-64 as Redis computes it (Jones polynomial, reflected, init 0): the
//! trailer of RDB files and DUMP payloads. The table-driven implementation is
//! the `crc` crate's (16 tables, several GB/s), so checksumming never shows in
//! a save or a load.

use crc::{Crc, Digest, Table};

static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&crc::CRC_64_REDIS);

/// A running CRC-64.
#[derive(Clone)]
pub struct Crc64(Digest<'static, u64, Table<16>>);

impl Default for Crc64 {
    fn default() -> Self {
        Crc64(CRC64.digest())
    }
}

impl Crc64 {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything so far (the digest keeps running).
    pub fn value(&self) -> u64 {
        self.0.clone().finalize()
    }
}

/// The CRC-64 of one buffer.
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_redis_check_value() {
        // crc64.c's self test: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca.
        assert_eq!(super::crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
        let mut c = super::Crc64::default();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0xe9c6d914c4b8d9ca);
    }
}
