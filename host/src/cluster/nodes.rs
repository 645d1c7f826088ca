//! The node table (Redis's clusterState): every known node with its flags,
//! address, config epoch and slots, who owns each of the 16384 slots, the
//! slots being migrated or imported, the epochs, and the nodes.conf text
//! that saves it all (the same lines as CLUSTER NODES plus a `vars` line).
//! The bus (bus.rs) and the CLUSTER commands both change it under one lock.

use super::slots::{Bitmap, SLOTS};
use std::collections::BTreeMap;

pub const NAMELEN: usize = 40;
/// A node's name: 40 lowercase hex characters.
pub type NodeId = [u8; NAMELEN];

pub mod flag {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;

    /// The names CLUSTER NODES shows, in Redis's order.
    pub const NAMES: &[(u16, &str)] = &[
        (MYSELF, "myself"),
        (MASTER, "master"),
        (SLAVE, "slave"),
        (PFAIL, "fail?"),
        (FAIL, "fail"),
        (HANDSHAKE, "handshake"),
        (NOADDR, "noaddr"),
        (NOFAILOVER, "nofailover"),
    ];
}

/// The sending half of a bus connection (the writer task drains it).
#[derive(Clone, Debug)]
pub struct Link {
    pub id: u64,
    pub tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    /// Creation time, unix ms.
    pub ctime: i64,
}

impl Link {
    pub fn send(&self, msg: Vec<u8>) {
        let _ = self.tx.send(msg);
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: NodeId,
    pub flags: u16,
    pub config_epoch: u64,
    pub slots: Bitmap,
    pub slaveof: Option<NodeId>,
    pub ctime: i64,
    pub ping_sent: i64,
    pub pong_received: i64,
    pub data_received: i64,
    pub fail_time: i64,
    pub voted_time: i64,
    pub repl_offset: i64,
    pub ip: String,
    pub hostname: String,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    /// Our connection to it, and its connection to us.
    pub link: Option<Link>,
    pub inbound: Option<Link>,
    /// Masters that reported it PFAIL/FAIL, with the report time.
    pub fail_reports: Vec<(NodeId, i64)>,
}

impl Node {
    pub fn new(name: NodeId, flags: u16, now: i64) -> Node {
        Node {
            name,
            flags,
            config_epoch: 0,
            slots: Bitmap::default(),
            slaveof: None,
            ctime: now,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            voted_time: 0,
            repl_offset: 0,
            ip: String::new(),
            hostname: String::new(),
            port: 0,
            pport: 0,
            cport: 0,
            link: None,
            inbound: None,
            fail_reports: Vec::new(),
        }
    }

    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub fn is_master(&self) -> bool {
        self.has(flag::MASTER)
    }

    pub fn is_slave(&self) -> bool {
        self.has(flag::SLAVE)
    }

    pub fn failed(&self) -> bool {
        self.has(flag::FAIL)
    }

    pub fn numslots(&self) -> usize {
        self.slots.count()
    }

    pub fn flags_text(&self) -> String {
        let names: Vec<&str> = flag::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".into()
        } else {
            names.join(",")
        }
    }
}

pub fn random_name() -> NodeId {
    let mut n = [0u8; NAMELEN];
    for b in n.iter_mut() {
        *b = b"0123456789abcdef"[rand::random::<u8>() as usize % 16];
    }
    n
}

pub fn name_str(n: &NodeId) -> &str {
    std::str::from_utf8(n).unwrap_or("?")
}

/// A node name given by a client or a file: exactly 40 hex characters.
pub fn parse_name(s: &[u8]) -> Option<NodeId> {
    if s.len() != NAMELEN || !s.iter().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut n = [0u8; NAMELEN];
    n.copy_from_slice(s);
    Some(n)
}

/// Milliseconds a master waits after start-up before it may turn "ok".
pub const WRITABLE_DELAY: i64 = 2000;

/// The whole cluster view of this node.
pub struct State {
    pub myself: NodeId,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// CLUSTER_OK (true) or CLUSTER_FAIL.
    pub ok: bool,
    /// Masters serving at least one slot.
    pub size: usize,
    pub nodes: BTreeMap<NodeId, Node>,
    /// The owner of each slot.
    pub slots: Vec<Option<NodeId>>,
    pub migrating: BTreeMap<u16, NodeId>,
    pub importing: BTreeMap<u16, NodeId>,
    /// Forgotten nodes gossip must not re-add for a minute (name, until ms).
    pub blacklist: Vec<(NodeId, i64)>,
    /// Messages sent and received by type (CLUSTER INFO).
    pub sent: [u64; 11],
    pub received: [u64; 11],
    /// nodes.conf must be rewritten (and fsynced).
    pub todo_save: bool,
    pub todo_fsync: bool,
    /// Replica election state (failover.rs).
    pub election: super::failover::Election,
    /// A role change for the replication layer to apply once the lock is
    /// released: Some(Some((ip, port))) follow, Some(None) become a primary.
    pub role_change: Option<Option<(String, u16)>>,
    /// Slots this node lost while holding keys in them: their keys are
    /// deleted once the lock is released (the store is never locked under it).
    pub dirty_slots: Vec<u16>,
    /// When the state was first computed: a master stays "fail" for its
    /// first 2 s (Redis's CLUSTER_WRITABLE_DELAY), so a restarted master
    /// does not take writes before the cluster could reconfigure it.
    pub started: i64,
}

impl State {
    pub fn new(now: i64) -> State {
        let me = random_name();
        let mut nodes = BTreeMap::new();
        nodes.insert(me, Node::new(me, flag::MYSELF | flag::MASTER, now));
        State {
            myself: me,
            current_epoch: 0,
            last_vote_epoch: 0,
            ok: false,
            size: 0,
            nodes,
            slots: vec![None; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            blacklist: Vec::new(),
            sent: [0; 11],
            received: [0; 11],
            todo_save: true,
            todo_fsync: false,
            election: Default::default(),
            role_change: None,
            dirty_slots: Vec::new(),
            started: now,
        }
    }

    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    pub fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always in the table")
    }

    pub fn save_later(&mut self, fsync: bool) {
        self.todo_save = true;
        self.todo_fsync |= fsync;
    }

    /// The master whose slots this node serves or replicates.
    pub fn my_master(&self) -> NodeId {
        let me = self.me();
        match me.slaveof {
            Some(m) if me.is_slave() => m,
            _ => self.myself,
        }
    }

    pub fn add_slot(&mut self, node: NodeId, slot: usize) {
        if let Some(old) = self.slots[slot] {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.set(slot, false);
            }
        }
        if let Some(n) = self.nodes.get_mut(&node) {
            n.slots.set(slot, true);
            self.slots[slot] = Some(node);
        }
    }

    pub fn del_slot(&mut self, slot: usize) {
        if let Some(old) = self.slots[slot].take() {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.set(slot, false);
            }
        }
    }

    pub fn del_node_slots(&mut self, node: &NodeId) {
        for s in 0..SLOTS {
            if self.slots[s].as_ref() == Some(node) {
                self.del_slot(s);
            }
        }
    }

    /// Removes a node and everything that points at it (clusterDelNode).
    pub fn del_node(&mut self, name: &NodeId) {
        for s in 0..SLOTS {
            if self.slots[s].as_ref() == Some(name) {
                self.slots[s] = None;
            }
        }
        self.migrating.retain(|_, n| n != name);
        self.importing.retain(|_, n| n != name);
        for n in self.nodes.values_mut() {
            n.fail_reports.retain(|(r, _)| r != name);
            if n.slaveof.as_ref() == Some(name) && !n.has(flag::MYSELF) {
                n.slaveof = None;
            }
        }
        self.nodes.remove(name);
    }

    /// The replicas of a master, in name order.
    pub fn replicas_of(&self, master: &NodeId) -> Vec<&Node> {
        self.nodes
            .values()
            .filter(|n| n.is_slave() && n.slaveof.as_ref() == Some(master))
            .collect()
    }

    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Marks a node as a master (clusterSetNodeAsMaster).
    pub fn set_node_as_master(&mut self, name: &NodeId) {
        if let Some(n) = self.nodes.get_mut(name) {
            if n.is_master() {
                return;
            }
            n.flags &= !flag::SLAVE;
            n.flags |= flag::MASTER;
            n.slaveof = None;
            self.save_later(false);
        }
    }

    /// CLUSTER BUMPEPOCH / takeover: a new config epoch without agreement,
    /// unless ours is already the greatest (replicas carry their master's,
    /// so "greatest" cannot mean "only").
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            self.save_later(true);
            crate::log::warning(&format!("New configEpoch set to {e}"));
            true
        } else {
            false
        }
    }

    /// Recomputes the cluster state and size (clusterUpdateState).
    pub fn update_state(&mut self, require_full_coverage: bool) {
        let now = crate::commands::unix_ms();
        if self.me().is_master() && !self.ok && now - self.started < WRITABLE_DELAY {
            return;
        }
        let mut ok = true;
        if require_full_coverage {
            ok = self.slots.iter().all(|o| {
                o.as_ref()
                    .and_then(|n| self.nodes.get(n))
                    .is_some_and(|n| !n.failed())
            });
        }
        let masters: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.is_master() && n.numslots() > 0)
            .collect();
        self.size = masters.len();
        let reachable = masters
            .iter()
            .filter(|n| !n.has(flag::FAIL | flag::PFAIL))
            .count();
        if reachable < self.size / 2 + 1 {
            ok = false;
        }
        if ok != self.ok {
            crate::log::warning(if ok {
                "Cluster state changed: ok"
            } else {
                "Cluster state changed: fail"
            });
        }
        self.ok = ok;
    }

    /// One CLUSTER NODES / nodes.conf line.
    pub fn describe(&self, n: &Node) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(128);
        let _ = write!(s, "{} {}:{}@{}", name_str(&n.name), n.ip, n.port, n.cport);
        if !n.hostname.is_empty() {
            let _ = write!(s, ",{}", n.hostname);
        }
        let master = match n.slaveof {
            Some(m) => name_str(&m).to_string(),
            None => "-".into(),
        };
        let epoch = match (n.is_slave(), n.slaveof.and_then(|m| self.nodes.get(&m))) {
            (true, Some(m)) => m.config_epoch,
            _ => n.config_epoch,
        };
        let connected = n.link.is_some() || n.has(flag::MYSELF);
        let _ = write!(
            s,
            " {} {} {} {} {} {}",
            n.flags_text(),
            master,
            n.ping_sent,
            n.pong_received,
            epoch,
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        );
        for (a, b) in n.slots.ranges() {
            if a == b {
                let _ = write!(s, " {a}");
            } else {
                let _ = write!(s, " {a}-{b}");
            }
        }
        if n.has(flag::MYSELF) {
            for s2 in 0..SLOTS as u16 {
                if let Some(to) = self.migrating.get(&s2) {
                    let _ = write!(s, " [{s2}->-{}]", name_str(to));
                } else if let Some(from) = self.importing.get(&s2) {
                    let _ = write!(s, " [{s2}-<-{}]", name_str(from));
                }
            }
        }
        s
    }

    /// CLUSTER NODES: every node but those with a flag in `filter`.
    pub fn describe_all(&self, filter: u16) -> String {
        let mut out = String::new();
        for n in self.nodes.values() {
            if n.flags & filter != 0 {
                continue;
            }
            out.push_str(&self.describe(n));
            out.push('\n');
        }
        out
    }

    /// nodes.conf's text (handshake nodes are not saved).
    pub fn config_text(&self) -> String {
        let mut s = self.describe_all(flag::HANDSHAKE);
        s.push_str(&format!(
            "vars currentEpoch {} lastVoteEpoch {}\n",
            self.current_epoch, self.last_vote_epoch
        ));
        s
    }

    /// Loads nodes.conf's text (clusterLoadConfig); an error names what is
    /// wrong, and the caller refuses to start, as Redis does.
    pub fn load(text: &str, now: i64) -> Result<State, String> {
        let mut st = State::new(now);
        st.nodes.clear();
        let mut myself = None;
        let fmterr =
            |line: &str| format!("Unrecoverable error: corrupted cluster config file \"{line}\".");
        for line in text.lines() {
            let argv: Vec<&str> = line.split_ascii_whitespace().collect();
            if argv.is_empty() {
                continue;
            }
            if argv[0].eq_ignore_ascii_case("vars") {
                if argv.len().is_multiple_of(2) {
                    return Err(fmterr(line));
                }
                for kv in argv[1..].chunks(2) {
                    let v = kv[1].parse::<u64>().unwrap_or(0);
                    if kv[0].eq_ignore_ascii_case("currentEpoch") {
                        st.current_epoch = v;
                    } else if kv[0].eq_ignore_ascii_case("lastVoteEpoch") {
                        st.last_vote_epoch = v;
                    }
                }
                continue;
            }
            if argv.len() < 8 {
                return Err(fmterr(line));
            }
            let name = parse_name(argv[0].as_bytes()).ok_or_else(|| fmterr(line))?;
            let n = st
                .nodes
                .entry(name)
                .or_insert_with(|| Node::new(name, 0, now));
            let (addr, hostname) = match argv[1].split_once(',') {
                Some((a, h)) => (a, h),
                None => (argv[1], ""),
            };
            n.hostname = hostname.to_string();
            let (ip, ports) = addr.rsplit_once(':').ok_or_else(|| fmterr(line))?;
            n.ip = ip.to_string();
            let (port, cport) = match ports.split_once('@') {
                Some((p, c)) => (p, Some(c)),
                None => (ports, None),
            };
            n.port = port.parse().map_err(|_| fmterr(line))?;
            n.cport = match cport {
                Some(c) => c.parse().map_err(|_| fmterr(line))?,
                None => n.port.wrapping_add(super::PORT_INCR),
            };
            for f in argv[2].split(',') {
                n.flags |= match f {
                    "myself" => {
                        myself = Some(name);
                        flag::MYSELF
                    }
                    "master" => flag::MASTER,
                    "slave" => flag::SLAVE,
                    "fail?" => flag::PFAIL,
                    "fail" => {
                        n.fail_time = now;
                        flag::FAIL
                    }
                    "handshake" => flag::HANDSHAKE,
                    "noaddr" => flag::NOADDR,
                    "nofailover" => flag::NOFAILOVER,
                    "noflags" => 0,
                    _ => return Err(fmterr(line)),
                };
            }
            if argv[4] != "0" {
                n.ping_sent = now;
            }
            if argv[5] != "0" {
                n.pong_received = now;
            }
            let epoch: u64 = argv[6].parse().map_err(|_| fmterr(line))?;
            let master = if argv[3] != "-" {
                Some(parse_name(argv[3].as_bytes()).ok_or_else(|| fmterr(line))?)
            } else {
                None
            };
            n.slaveof = master;
            n.config_epoch = if n.is_slave() && master.is_some() {
                0
            } else {
                epoch
            };
            if let Some(m) = master {
                st.nodes.entry(m).or_insert_with(|| Node::new(m, 0, now));
            }
            for spec in &argv[8..] {
                if let Some(inner) = spec.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    let (slot, rest) = inner.split_once('-').ok_or_else(|| fmterr(line))?;
                    let slot: u16 = slot
                        .parse()
                        .ok()
                        .filter(|&s: &u16| (s as usize) < SLOTS)
                        .ok_or_else(|| fmterr(line))?;
                    let (migrating, other) = if let Some(o) = rest.strip_prefix(">-") {
                        (true, o)
                    } else if let Some(o) = rest.strip_prefix("<-") {
                        (false, o)
                    } else {
                        return Err(fmterr(line));
                    };
                    let other = parse_name(other.as_bytes()).ok_or_else(|| fmterr(line))?;
                    st.nodes
                        .entry(other)
                        .or_insert_with(|| Node::new(other, 0, now));
                    if migrating {
                        st.migrating.insert(slot, other);
                    } else {
                        st.importing.insert(slot, other);
                    }
                    continue;
                }
                let (a, b) = match spec.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (*spec, *spec),
                };
                let a: usize = a.parse().map_err(|_| fmterr(line))?;
                let b: usize = b.parse().map_err(|_| fmterr(line))?;
                if a >= SLOTS || b >= SLOTS {
                    return Err(fmterr(line));
                }
                for s in a..=b {
                    st.add_slot(name, s);
                }
            }
        }
        let Some(me) = myself else {
            return Err(
                "Unrecoverable error: corrupted cluster config file (no 'myself' node).".into(),
            );
        };
        st.myself = me;
        st.current_epoch = st.current_epoch.max(st.max_epoch());
        st.todo_save = false;
        Ok(st)
    }
}

/// Writes nodes.conf atomically: a temporary file beside it, fsynced, then
/// renamed over it (so a crash leaves the old or the new file, never a mix),
/// then the directory fsynced so the rename itself survives.
pub fn save_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nodes.conf".into());
    let tmp = dir.join(format!("{file_name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trip() {
        let mut st = State::new(1);
        let me = st.myself;
        st.me_mut().ip = "127.0.0.1".into();
        st.me_mut().port = 7000;
        st.me_mut().cport = 17000;
        st.me_mut().config_epoch = 3;
        for s in 0..100 {
            st.add_slot(me, s);
        }
        st.add_slot(me, 200);
        let other = random_name();
        let mut n = Node::new(other, flag::SLAVE, 1);
        n.slaveof = Some(me);
        n.ip = "127.0.0.1".into();
        n.port = 7001;
        n.cport = 17001;
        st.nodes.insert(other, n);
        st.migrating.insert(5, other);
        st.current_epoch = 7;
        let text = st.config_text();
        let back = State::load(&text, 2).unwrap();
        assert_eq!(back.config_text(), text);
        assert_eq!(back.me().numslots(), 101);
        assert!(text.contains(" 0-99 200 [5->-"));
        assert!(State::load("garbage line\n", 1).is_err());
        assert!(State::load("", 1).is_err());
    }
}
