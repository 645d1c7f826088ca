//! Replication: the state both sides share. PLACEHOLDER until the primary
//! side (branch `repl`, which owns this file) is merged: only the part of
//! its API the replica side uses, with an offset counter for a backlog.

pub mod replica;

use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: &'static str,
    pub last_io_ms: i64,
    pub transfer_size: i64,
    pub transfer_read: i64,
    pub transfer_last_io_ms: i64,
    pub down_since_ms: i64,
    pub read_reploff: i64,
    pub reploff: i64,
}

#[derive(Clone, Debug)]
pub struct Ids {
    pub replid: String,
    pub replid2: String,
    pub second_repl_offset: i64,
}

pub fn random_id() -> String {
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[(rand::random::<u8>() % 16) as usize]))
        .collect()
}

pub struct Repl {
    ids: Mutex<Ids>,
    master: Mutex<Option<MasterLink>>,
    is_replica: AtomicBool,
    offset: AtomicI64,
}

impl Default for Repl {
    fn default() -> Self {
        Repl {
            ids: Mutex::new(Ids {
                replid: random_id(),
                replid2: "0".repeat(40),
                second_repl_offset: -1,
            }),
            master: Mutex::new(None),
            is_replica: AtomicBool::new(false),
            offset: AtomicI64::new(0),
        }
    }
}

impl Repl {
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Acquire)
    }
    pub fn master_link(&self) -> Option<MasterLink> {
        self.master.lock().clone()
    }
    pub fn set_master_link(&self, link: Option<MasterLink>) {
        let mut m = self.master.lock();
        self.is_replica.store(link.is_some(), Ordering::Release);
        *m = link;
    }
    pub fn update_master_link(&self, f: impl FnOnce(&mut MasterLink)) {
        if let Some(l) = self.master.lock().as_mut() {
            f(l);
        }
    }
    pub fn ids(&self) -> Ids {
        self.ids.lock().clone()
    }
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }
    pub fn adopt_master_history(&self, replid: &str, offset: i64) {
        let mut ids = self.ids.lock();
        ids.replid = replid.to_string();
        ids.replid2 = "0".repeat(40);
        ids.second_repl_offset = -1;
        self.offset.store(offset, Ordering::Release);
    }
    /// +CONTINUE with a new ID (psync2): the old ID stays valid as ID2 up
    /// to our offset.
    pub fn adopt_new_id(&self, replid: &str) {
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, replid.to_string());
        ids.second_repl_offset = self.offset() + 1;
    }
    pub fn shift_replid(&self) {
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, random_id());
        ids.second_repl_offset = self.offset() + 1;
    }
    pub fn feed_from_master(&self, bytes: &[u8]) {
        self.offset.fetch_add(bytes.len() as i64, Ordering::AcqRel);
    }
    pub fn disconnect_replicas(&self) {}

    pub fn info(&self, srv: &crate::server::Server, out: &mut String) {
        let link = self.master_link();
        let now_ms = crate::commands::unix_ms();
        let secs = |ms: i64| ((now_ms - ms) / 1000).max(0);
        let _ = write!(
            out,
            "# Replication\r\nrole:{}\r\n",
            if link.is_some() { "slave" } else { "master" }
        );
        if let Some(l) = &link {
            let connected = l.state == "connected";
            let _ = write!(
                out,
                "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                l.host,
                l.port,
                if connected { "up" } else { "down" },
                if connected && l.last_io_ms > 0 { secs(l.last_io_ms) } else { -1 },
                u8::from(l.state == "sync"),
                l.read_reploff,
                l.reploff,
            );
            if !connected {
                let _ = write!(
                    out,
                    "master_link_down_since_seconds:{}\r\n",
                    if l.down_since_ms > 0 {
                        secs(l.down_since_ms)
                    } else {
                        -1
                    }
                );
            }
            let cfg = srv.config.read();
            let get = |n: &str| cfg.get_one(n).unwrap_or_default();
            let _ = write!(
                out,
                "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
                get("replica-priority"),
                u8::from(get("replica-read-only") == "yes"),
                u8::from(get("replica-announced") == "yes"),
            );
        }
        let ids = self.ids();
        let _ = write!(
            out,
            "connected_slaves:0\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\n",
            ids.replid,
            ids.replid2,
            self.offset(),
            ids.second_repl_offset,
        );
    }
}
