//! Redis 7.0's cluster bus message (clusterMsg, protocol version 1): a
//! 2256-byte header in network byte order followed by the type's data.
//! Offsets below are those cluster.h asserts; this file only builds and
//! parses bytes, and knows nothing of the node table.

use super::nodes::{NodeId, NAMELEN};
use super::slots::SLOTS;

pub const PING: u16 = 0;
pub const PONG: u16 = 1;
pub const MEET: u16 = 2;
pub const FAIL: u16 = 3;
pub const PUBLISH: u16 = 4;
pub const AUTH_REQUEST: u16 = 5;
pub const AUTH_ACK: u16 = 6;
pub const UPDATE: u16 = 7;
pub const MFSTART: u16 = 8;
pub const MODULE: u16 = 9;
pub const PUBLISHSHARD: u16 = 10;
pub const TYPE_COUNT: usize = 11;

pub const TYPE_NAMES: [&str; TYPE_COUNT] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// Header length (CLUSTERMSG_MIN_LEN) and the data sections' sizes.
pub const HEADER_LEN: usize = 2256;
pub const GOSSIP_LEN: usize = 104;
pub const FAIL_LEN: usize = NAMELEN;
pub const UPDATE_LEN: usize = 8 + NAMELEN + SLOTS / 8;
pub const IP_LEN: usize = 46;
/// A guard on what a peer may make us buffer (Redis allocates what the
/// header asks): room for big PUBLISH payloads, not for a hostile 4 GiB.
pub const MAX_LEN: usize = 64 << 20;

pub const MFLAG_PAUSED: u8 = 1;
pub const MFLAG_FORCEACK: u8 = 2;
pub const MFLAG_EXT_DATA: u8 = 4;
const EXT_HOSTNAME: u16 = 0;

const O_TOTLEN: usize = 4;
const O_VER: usize = 8;
const O_PORT: usize = 10;
const O_TYPE: usize = 12;
const O_COUNT: usize = 14;
const O_CURRENT_EPOCH: usize = 16;
const O_CONFIG_EPOCH: usize = 24;
const O_OFFSET: usize = 32;
const O_SENDER: usize = 40;
const O_MYSLOTS: usize = 80;
const O_SLAVEOF: usize = 2128;
const O_MYIP: usize = 2168;
const O_EXTENSIONS: usize = 2214;
const O_PPORT: usize = 2246;
const O_CPORT: usize = 2248;
const O_FLAGS: usize = 2250;
const O_STATE: usize = 2252;
const O_MFLAGS: usize = 2253;

/// What a header says about its sender.
#[derive(Clone, Debug)]
pub struct Header {
    pub totlen: usize,
    pub ty: u16,
    pub count: u16,
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: i64,
    pub sender: NodeId,
    pub myslots: Vec<u8>,
    pub slaveof: Option<NodeId>,
    pub myip: String,
    pub extensions: u16,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    pub state_ok: bool,
    pub mflags: u8,
}

/// One gossip entry (clusterMsgDataGossip).
#[derive(Clone, Debug)]
pub struct Gossip {
    pub name: NodeId,
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}
fn name_at(b: &[u8], o: usize) -> NodeId {
    let mut n = [0u8; NAMELEN];
    n.copy_from_slice(&b[o..o + NAMELEN]);
    n
}
/// A NUL-terminated string in a fixed field.
fn cstr_at(b: &[u8], o: usize, len: usize) -> String {
    let f = &b[o..o + len];
    let end = f.iter().position(|&c| c == 0).unwrap_or(len);
    String::from_utf8_lossy(&f[..end]).into_owned()
}
fn put_cstr(b: &mut [u8], o: usize, len: usize, s: &str) {
    let n = s.len().min(len - 1);
    b[o..o + n].copy_from_slice(&s.as_bytes()[..n]);
}

/// The total length a message's first 8 bytes announce, once the
/// signature checks out.
pub fn frame_len(first8: &[u8; 8]) -> Option<usize> {
    if &first8[..4] != b"RCmb" {
        return None;
    }
    Some(u32_at(first8, O_TOTLEN) as usize)
}

/// Parses a whole message's header; None when too short or not version 1.
pub fn parse_header(b: &[u8]) -> Option<Header> {
    if b.len() < HEADER_LEN || &b[..4] != b"RCmb" || u16_at(b, O_VER) != 1 {
        return None;
    }
    let slaveof = name_at(b, O_SLAVEOF);
    Some(Header {
        totlen: u32_at(b, O_TOTLEN) as usize,
        ty: u16_at(b, O_TYPE),
        count: u16_at(b, O_COUNT),
        port: u16_at(b, O_PORT),
        current_epoch: u64_at(b, O_CURRENT_EPOCH),
        config_epoch: u64_at(b, O_CONFIG_EPOCH),
        offset: u64_at(b, O_OFFSET) as i64,
        sender: name_at(b, O_SENDER),
        myslots: b[O_MYSLOTS..O_MYSLOTS + SLOTS / 8].to_vec(),
        slaveof: (slaveof != [0u8; NAMELEN]).then_some(slaveof),
        myip: cstr_at(b, O_MYIP, IP_LEN),
        extensions: u16_at(b, O_EXTENSIONS),
        pport: u16_at(b, O_PPORT),
        cport: u16_at(b, O_CPORT),
        flags: u16_at(b, O_FLAGS),
        state_ok: b[O_STATE] == 0,
        mflags: b[O_MFLAGS],
    })
}

/// The length a message of this type must have (Redis drops any other),
/// or None when malformed; ping extensions are walked and bounded.
pub fn expected_len(h: &Header, b: &[u8]) -> Option<usize> {
    match h.ty {
        PING | PONG | MEET => {
            let mut len = HEADER_LEN + GOSSIP_LEN * h.count as usize;
            if h.mflags & MFLAG_EXT_DATA != 0 {
                for _ in 0..h.extensions {
                    if len + 8 > b.len() {
                        return None;
                    }
                    let ext = u32_at(b, len) as usize;
                    if !ext.is_multiple_of(8) || ext < 8 || h.totlen.saturating_sub(len) < ext {
                        return None;
                    }
                    len += ext;
                }
            }
            Some(len)
        }
        FAIL => Some(HEADER_LEN + FAIL_LEN),
        AUTH_REQUEST | AUTH_ACK | MFSTART => Some(HEADER_LEN),
        UPDATE => Some(HEADER_LEN + UPDATE_LEN),
        PUBLISH | PUBLISHSHARD => {
            if b.len() < HEADER_LEN + 8 {
                return None;
            }
            let c = u32_at(b, HEADER_LEN) as usize;
            let m = u32_at(b, HEADER_LEN + 4) as usize;
            Some(HEADER_LEN + 8 + c + m)
        }
        MODULE => {
            if b.len() < HEADER_LEN + 16 {
                return None;
            }
            Some(HEADER_LEN + 13 + u32_at(b, HEADER_LEN + 8) as usize)
        }
        _ => Some(h.totlen),
    }
}

pub fn gossip(b: &[u8], count: u16) -> Vec<Gossip> {
    (0..count as usize)
        .filter_map(|i| {
            let o = HEADER_LEN + i * GOSSIP_LEN;
            (o + GOSSIP_LEN <= b.len()).then(|| Gossip {
                name: name_at(b, o),
                ping_sent: u32_at(b, o + 40),
                pong_received: u32_at(b, o + 44),
                ip: cstr_at(b, o + 48, IP_LEN),
                port: u16_at(b, o + 94),
                cport: u16_at(b, o + 96),
                flags: u16_at(b, o + 98),
                pport: u16_at(b, o + 100),
            })
        })
        .collect()
}

/// The hostname ping extension, if the message carries one.
pub fn hostname_ext(h: &Header, b: &[u8]) -> Option<String> {
    if h.mflags & MFLAG_EXT_DATA == 0 {
        return None;
    }
    let mut o = HEADER_LEN + GOSSIP_LEN * h.count as usize;
    for _ in 0..h.extensions {
        let len = u32_at(b, o) as usize;
        if u16_at(b, o + 4) == EXT_HOSTNAME && len > 8 {
            return Some(cstr_at(b, o + 8, len - 8));
        }
        o += len;
    }
    None
}

/// The FAIL message's subject.
pub fn fail_about(b: &[u8]) -> NodeId {
    name_at(b, HEADER_LEN)
}

/// PUBLISH: (channel, message), lengths checked by [`expected_len`].
pub fn publish_data(b: &[u8]) -> (&[u8], &[u8]) {
    let c = u32_at(b, HEADER_LEN) as usize;
    let m = u32_at(b, HEADER_LEN + 4) as usize;
    let start = HEADER_LEN + 8;
    (&b[start..start + c], &b[start + c..start + c + m])
}

pub fn build_publish(s: &Sender, ty: u16, channel: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut b = build(s, ty, 8 + channel.len() + msg.len());
    b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&(channel.len() as u32).to_be_bytes());
    b[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&(msg.len() as u32).to_be_bytes());
    let start = HEADER_LEN + 8;
    b[start..start + channel.len()].copy_from_slice(channel);
    b[start + channel.len()..].copy_from_slice(msg);
    b
}

/// UPDATE: (config epoch, node, slots).
pub fn update_data(b: &[u8]) -> (u64, NodeId, &[u8]) {
    (
        u64_at(b, HEADER_LEN),
        name_at(b, HEADER_LEN + 8),
        &b[HEADER_LEN + 8 + NAMELEN..HEADER_LEN + UPDATE_LEN],
    )
}

/// The sender fields every message carries (clusterBuildMessageHdr).
pub struct Sender<'a> {
    pub name: NodeId,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: i64,
    pub slots: &'a [u8],
    pub slaveof: Option<NodeId>,
    pub announce_ip: &'a str,
    pub flags: u16,
    pub state_ok: bool,
    pub mflags: u8,
}

/// A message of `ty` with `data_len` bytes of data after the header.
pub fn build(s: &Sender, ty: u16, data_len: usize) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN + data_len];
    b[..4].copy_from_slice(b"RCmb");
    b[O_TOTLEN..O_TOTLEN + 4].copy_from_slice(&((HEADER_LEN + data_len) as u32).to_be_bytes());
    b[O_VER..O_VER + 2].copy_from_slice(&1u16.to_be_bytes());
    b[O_PORT..O_PORT + 2].copy_from_slice(&s.port.to_be_bytes());
    b[O_TYPE..O_TYPE + 2].copy_from_slice(&ty.to_be_bytes());
    b[O_CURRENT_EPOCH..O_CURRENT_EPOCH + 8].copy_from_slice(&s.current_epoch.to_be_bytes());
    b[O_CONFIG_EPOCH..O_CONFIG_EPOCH + 8].copy_from_slice(&s.config_epoch.to_be_bytes());
    b[O_OFFSET..O_OFFSET + 8].copy_from_slice(&(s.offset as u64).to_be_bytes());
    b[O_SENDER..O_SENDER + NAMELEN].copy_from_slice(&s.name);
    b[O_MYSLOTS..O_MYSLOTS + SLOTS / 8].copy_from_slice(&s.slots[..SLOTS / 8]);
    if let Some(m) = s.slaveof {
        b[O_SLAVEOF..O_SLAVEOF + NAMELEN].copy_from_slice(&m);
    }
    put_cstr(&mut b, O_MYIP, IP_LEN, s.announce_ip);
    b[O_PPORT..O_PPORT + 2].copy_from_slice(&s.pport.to_be_bytes());
    b[O_CPORT..O_CPORT + 2].copy_from_slice(&s.cport.to_be_bytes());
    b[O_FLAGS..O_FLAGS + 2].copy_from_slice(&s.flags.to_be_bytes());
    b[O_STATE] = if s.state_ok { 0 } else { 1 };
    b[O_MFLAGS] = s.mflags;
    b
}

/// PING, PONG or MEET with gossip entries and the hostname extension.
pub fn build_ping(s: &Sender, ty: u16, gossip: &[Gossip], hostname: &str) -> Vec<u8> {
    let ext_len = if hostname.is_empty() {
        0
    } else {
        8 + (hostname.len() + 1).div_ceil(8) * 8
    };
    let mut b = build(s, ty, gossip.len() * GOSSIP_LEN + ext_len);
    b[O_COUNT..O_COUNT + 2].copy_from_slice(&(gossip.len() as u16).to_be_bytes());
    for (i, g) in gossip.iter().enumerate() {
        let o = HEADER_LEN + i * GOSSIP_LEN;
        b[o..o + NAMELEN].copy_from_slice(&g.name);
        b[o + 40..o + 44].copy_from_slice(&g.ping_sent.to_be_bytes());
        b[o + 44..o + 48].copy_from_slice(&g.pong_received.to_be_bytes());
        put_cstr(&mut b, o + 48, IP_LEN, &g.ip);
        b[o + 94..o + 96].copy_from_slice(&g.port.to_be_bytes());
        b[o + 96..o + 98].copy_from_slice(&g.cport.to_be_bytes());
        b[o + 98..o + 100].copy_from_slice(&g.flags.to_be_bytes());
        b[o + 100..o + 102].copy_from_slice(&g.pport.to_be_bytes());
    }
    if ext_len > 0 {
        let o = HEADER_LEN + gossip.len() * GOSSIP_LEN;
        b[o..o + 4].copy_from_slice(&(ext_len as u32).to_be_bytes());
        b[o + 4..o + 6].copy_from_slice(&EXT_HOSTNAME.to_be_bytes());
        b[o + 8..o + 8 + hostname.len()].copy_from_slice(hostname.as_bytes());
        b[O_EXTENSIONS..O_EXTENSIONS + 2].copy_from_slice(&1u16.to_be_bytes());
        b[O_MFLAGS] |= MFLAG_EXT_DATA;
    }
    b
}

pub fn build_fail(s: &Sender, about: &NodeId) -> Vec<u8> {
    let mut b = build(s, FAIL, FAIL_LEN);
    b[HEADER_LEN..HEADER_LEN + NAMELEN].copy_from_slice(about);
    b
}

pub fn build_update(s: &Sender, epoch: u64, node: &NodeId, slots: &[u8]) -> Vec<u8> {
    let mut b = build(s, UPDATE, UPDATE_LEN);
    b[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&epoch.to_be_bytes());
    b[HEADER_LEN + 8..HEADER_LEN + 8 + NAMELEN].copy_from_slice(node);
    b[HEADER_LEN + 8 + NAMELEN..HEADER_LEN + UPDATE_LEN].copy_from_slice(&slots[..SLOTS / 8]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_round_trip() {
        let slots = vec![0xffu8; SLOTS / 8];
        let s = Sender {
            name: [b'a'; NAMELEN],
            port: 7000,
            pport: 0,
            cport: 17000,
            current_epoch: 5,
            config_epoch: 3,
            offset: 99,
            slots: &slots,
            slaveof: None,
            announce_ip: "",
            flags: 1,
            state_ok: true,
            mflags: 0,
        };
        let g = Gossip {
            name: [b'b'; NAMELEN],
            ping_sent: 1,
            pong_received: 2,
            ip: "127.0.0.1".into(),
            port: 7001,
            cport: 17001,
            flags: 2,
            pport: 0,
        };
        let b = build_ping(&s, PING, &[g], "host-a");
        let h = parse_header(&b).unwrap();
        assert_eq!(h.totlen, b.len());
        assert_eq!(expected_len(&h, &b), Some(b.len()));
        assert_eq!(
            (h.port, h.cport, h.current_epoch, h.config_epoch),
            (7000, 17000, 5, 3)
        );
        assert_eq!(gossip(&b, h.count)[0].ip, "127.0.0.1");
        assert_eq!(hostname_ext(&h, &b).as_deref(), Some("host-a"));
        assert_eq!(b.len(), HEADER_LEN + GOSSIP_LEN + 16);
    }
}
