//! Hash slots: the CRC16 (XMODEM) of a key, or of its `{hash tag}`, modulo
//! 16384 (Redis Cluster's keyHashSlot), and the 2 KiB slot bitmaps the bus
//! carries and the node table keeps per node.

/// Number of hash slots in a Redis cluster.
pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), table-driven;
/// the table is built at compile time from the polynomial.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The slot of a key: only the part between the first `{` and the next `}`
/// is hashed when that part is not empty, so `{user1}.a` and `{user1}.b`
/// share a slot.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) & (SLOTS as u16 - 1)
}

/// A set of slots, bit `s` of byte `s / 8` counted from the low bit (the
/// bus's `myslots` layout).
#[derive(Clone, PartialEq, Eq)]
pub struct Bitmap(pub Box<[u8; SLOTS / 8]>);

impl Default for Bitmap {
    fn default() -> Self {
        Bitmap(Box::new([0; SLOTS / 8]))
    }
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap({} slots)", self.count())
    }
}

impl Bitmap {
    pub fn get(&self, slot: usize) -> bool {
        self.0[slot / 8] & (1 << (slot % 8)) != 0
    }

    pub fn set(&mut self, slot: usize, on: bool) {
        if on {
            self.0[slot / 8] |= 1 << (slot % 8);
        } else {
            self.0[slot / 8] &= !(1 << (slot % 8));
        }
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    pub fn from_bytes(bytes: &[u8]) -> Bitmap {
        let mut b = Bitmap::default();
        let n = bytes.len().min(SLOTS / 8);
        b.0[..n].copy_from_slice(&bytes[..n]);
        b
    }

    /// The set slots as inclusive ranges, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        ranges((0..SLOTS).filter(|&s| self.get(s)).map(|s| s as u16))
    }
}

/// Groups ascending slots into inclusive ranges.
pub fn ranges(slots: impl Iterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in slots {
        match out.last_mut() {
            Some(last) if last.1 + 1 == s => last.1 = s,
            _ => out.push((s, s)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis() {
        // The check value of CRC16/XMODEM and slots redis-cli reports.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn bitmap_ranges() {
        let mut b = Bitmap::default();
        for s in [0, 1, 2, 5, 16383] {
            b.set(s, true);
        }
        assert_eq!(b.ranges(), vec![(0, 2), (5, 5), (16383, 16383)]);
        assert_eq!(b.count(), 5);
    }
}
