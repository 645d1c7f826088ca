//! `notify-keyspace-events`: the event class bits (same as Redis's) and their
//! text form in both directions.

// Keyspace notification classes (`notify-keyspace-events`), same bits as Redis.
pub const NOTIFY_KEYSPACE: u32 = 1 << 0; // K
pub const NOTIFY_KEYEVENT: u32 = 1 << 1; // E
pub const NOTIFY_GENERIC: u32 = 1 << 2; // g
pub const NOTIFY_STRING: u32 = 1 << 3; // $
pub const NOTIFY_LIST: u32 = 1 << 4; // l
pub const NOTIFY_SET: u32 = 1 << 5; // s
pub const NOTIFY_HASH: u32 = 1 << 6; // h
pub const NOTIFY_ZSET: u32 = 1 << 7; // z
pub const NOTIFY_EXPIRED: u32 = 1 << 8; // x
pub const NOTIFY_EVICTED: u32 = 1 << 9; // e
pub const NOTIFY_STREAM: u32 = 1 << 10; // t
pub const NOTIFY_KEY_MISS: u32 = 1 << 11; // m (deliberately not part of A)
pub const NOTIFY_MODULE: u32 = 1 << 13; // d
pub const NOTIFY_NEW: u32 = 1 << 14; // n (deliberately not part of A)
/// What `A` stands for: every class except key-miss and new-key events.
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

pub(super) const KEYSPACE_EVENT_CHARS: &[(u8, u32)] = &[
    (b'g', NOTIFY_GENERIC),
    (b'$', NOTIFY_STRING),
    (b'l', NOTIFY_LIST),
    (b's', NOTIFY_SET),
    (b'h', NOTIFY_HASH),
    (b'z', NOTIFY_ZSET),
    (b'x', NOTIFY_EXPIRED),
    (b'e', NOTIFY_EVICTED),
    (b't', NOTIFY_STREAM),
    (b'd', NOTIFY_MODULE),
    (b'n', NOTIFY_NEW),
    (b'A', NOTIFY_ALL),
    (b'K', NOTIFY_KEYSPACE),
    (b'E', NOTIFY_KEYEVENT),
    (b'm', NOTIFY_KEY_MISS),
];

/// Parses `notify-keyspace-events` classes (e.g. "KEA", "Ex") into bits.
pub fn keyspace_events_from_bytes(v: &[u8]) -> Result<u32, String> {
    let mut flags = 0;
    for &ch in v.iter().take_while(|&&b| b != 0) {
        match KEYSPACE_EVENT_CHARS.iter().find(|(c, _)| *c == ch) {
            Some((_, bit)) => flags |= bit,
            None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        }
    }
    Ok(flags)
}

/// Formats keyspace event bits the way CONFIG GET shows them. Like Redis,
/// `A` replaces the classes it covers, and then `n` is not shown even if set.
pub fn keyspace_events_to_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for &(ch, bit) in &KEYSPACE_EVENT_CHARS[..11] {
            if flags & bit != 0 {
                out.push(ch as char);
            }
        }
    }
    for &(ch, bit) in &KEYSPACE_EVENT_CHARS[12..] {
        if flags & bit != 0 {
            out.push(ch as char);
        }
    }
    out
}
