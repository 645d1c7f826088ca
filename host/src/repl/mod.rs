//! Replication: the state both sides share, Redis's replication protocol
//! (PSYNC, the backlog, replication IDs and offsets).
//!
//! This module owns the one [`Repl`] of a server (`Server::repl`): its role
//! (primary, or replica of a given primary), the replication IDs and offsets,
//! the backlog ([`backlog`]), and the replicas attached to us
//! ([`primary`]). INFO's `# Replication` section and ROLE are rendered here
//! from that state, for both roles.
//!
//! - The primary side ([`primary`]) serves SYNC/PSYNC/REPLCONF: full syncs
//!   from a fork-free snapshot (persist/snapshot.rs), partial resyncs from
//!   the backlog, then the live stream. Every unit of the write-effects
//!   stream (effects/) reaches the backlog through [`Repl`]'s listener, in
//!   Redis's wire form (SELECT, MULTI/EXEC); each replica's connection task
//!   copies from the backlog at its own offset, so one byte stream serves
//!   the backlog and all replicas (Redis 7.0's shared replication buffer).
//! - The replica side (handshake, loading the primary's RDB, applying its
//!   stream) sets [`Repl::set_master_link`] and, while a replica, feeds the
//!   bytes it applied to the backlog with [`Repl::feed_from_master`] (its own
//!   effects are then ignored by the listener), so sub-replicas get the
//!   primary's stream unchanged and offsets agree along a chain (psync2).
//!
//! Offsets are Redis's: byte counts of the stream since the replication ID
//! was created, `master_repl_offset` being the last byte's offset.

pub mod backlog;
pub mod failover;
pub mod fullsync;
pub mod primary;
pub mod replica;
pub mod shutdown;

use crate::effects::{Listener, Unit};
use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The replica side's view of its link with its primary, for INFO and ROLE.
/// Set with [`Repl::set_master_link`]; None while we are a primary.
#[derive(Clone, Debug, Default)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    /// ROLE's link state: "connect", "connecting", "handshake", "sync" or
    /// "connected" (master_link_status is "up" only when "connected").
    pub state: &'static str,
    /// Unix ms of the last byte received from the primary (0: no link).
    pub last_io_ms: i64,
    /// RDB transfer in progress (state "sync"): total size (-1 unknown, the
    /// EOF-marker format), bytes read, unix ms of the last read.
    pub transfer_size: i64,
    pub transfer_read: i64,
    pub transfer_last_io_ms: i64,
    /// Unix ms since when the link is down (0: never up).
    pub down_since_ms: i64,
    /// Offsets of the primary's stream read and applied (Redis's
    /// read_reploff / reploff of the master client; 1 without one).
    pub read_reploff: i64,
    pub reploff: i64,
}

/// Replication IDs (Redis's replid / replid2 / second_replid_offset).
#[derive(Clone, Debug)]
pub struct Ids {
    pub replid: String,
    pub replid2: String,
    /// Offset up to which `replid2` is valid for a partial resync (-1: none).
    pub second_repl_offset: i64,
}

/// The replication history an RDB carries in its `repl-stream-db`,
/// `repl-id` and `repl-offset` aux fields (Redis's rdbSaveInfo): the data
/// set is the stream of `replid` up to `offset`, which was in `stream_db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveInfo {
    pub stream_db: usize,
    pub replid: String,
    pub offset: i64,
}

impl SaveInfo {
    /// From an RDB's aux fields (None unless all three are there and valid,
    /// as Redis's rsi checks).
    pub fn from_aux(aux: &[(Vec<u8>, Vec<u8>)]) -> Option<SaveInfo> {
        let get = |k: &str| {
            aux.iter()
                .rev()
                .find(|(key, _)| key == k.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let replid = get("repl-id").filter(|id| id.len() == 40)?;
        let offset = get("repl-offset")?
            .parse::<i64>()
            .ok()
            .filter(|&o| o >= 0)?;
        let stream_db = get("repl-stream-db")?.parse::<usize>().ok()?;
        Some(SaveInfo {
            stream_db,
            replid,
            offset,
        })
    }
}

/// 40 random hex characters, a new replication ID.
pub fn random_id() -> String {
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[(rand::random::<u8>() % 16) as usize]))
        .collect()
}

/// The replication state of a server.
pub struct Repl {
    ids: Mutex<Ids>,
    /// Some while we are a replica (the replica side keeps it current).
    master: Mutex<Option<MasterLink>>,
    /// `master.is_some()`, for the per-command checks (READONLY, WAIT ...).
    is_replica: AtomicBool,
    /// The stream bytes: the backlog shared with the attached replicas.
    pub backlog: backlog::Backlog,
    /// Replicas attached to us (SYNC/PSYNC clients), in attach order.
    pub replicas: primary::Replicas,
    /// FAILOVER's state.
    pub failover: failover::Failover,
    /// A SHUTDOWN waiting for lagging replicas.
    pub shutdown: shutdown::ShutdownWait,
    /// While a replica: held by the replica side across applying a piece of
    /// the primary's stream *and* feeding it with [`Repl::feed_from_master`];
    /// a full sync of one of our own replicas takes it (before any shard
    /// lock) so that its snapshot and its offset agree. Lock order: this
    /// gate, then shard locks.
    pub apply_gate: Mutex<()>,
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
            backlog: backlog::Backlog::default(),
            replicas: primary::Replicas::default(),
            failover: failover::Failover::default(),
            shutdown: shutdown::ShutdownWait::default(),
            apply_gate: Mutex::new(()),
        }
    }
}

impl Repl {
    /// Whether we are a replica (REPLICAOF host port is set).
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Acquire)
    }

    /// The replica side's link state (None: we are a primary).
    pub fn master_link(&self) -> Option<MasterLink> {
        self.master.lock().clone()
    }

    /// Sets (Some: we are, or stay, a replica) or clears (None: we are a
    /// primary) the link state. The replica side calls this on REPLICAOF and
    /// whenever the link changes; becoming a primary does not change IDs
    /// (see [`Repl::shift_replid`] for promotion).
    pub fn set_master_link(&self, link: Option<MasterLink>) {
        let mut m = self.master.lock();
        self.is_replica.store(link.is_some(), Ordering::Release);
        *m = link;
    }

    /// Updates the link state in place (no-op while a primary).
    pub fn update_master_link(&self, f: impl FnOnce(&mut MasterLink)) {
        if let Some(l) = self.master.lock().as_mut() {
            f(l);
        }
    }

    pub fn ids(&self) -> Ids {
        self.ids.lock().clone()
    }

    /// Last byte offset of the stream (INFO master_repl_offset).
    #[inline]
    pub fn offset(&self) -> i64 {
        self.backlog.end() as i64
    }

    /// A replica that loaded a full sync from its primary adopts the
    /// primary's history: its ID, the offset the RDB stands at, no ID2, and
    /// a backlog restarted at that offset (Redis's replicationCreateMasterClient,
    /// clearReplicationId2 and a fresh backlog). Our own replicas must then
    /// resync: the caller disconnects them ([`Repl::disconnect_replicas`]).
    pub fn adopt_master_history(&self, srv: &crate::server::Server, replid: &str, offset: i64) {
        {
            let mut ids = self.ids.lock();
            ids.replid = replid.to_string();
            ids.replid2 = "0".repeat(40);
            ids.second_repl_offset = -1;
        }
        self.backlog.restart(offset.max(0) as u64);
        // Listening from now on, so that a promotion finds the backlog fed.
        primary::attach_listener(srv);
    }

    /// What an RDB saved now carries (Redis's rdbPopulateSaveInfo): a
    /// primary's history while it has a backlog, a replica's once it holds
    /// its primary's (after a sync, or restored at start). The caller holds
    /// every shard lock, and for an exact offset on a replica the
    /// [`Repl::apply_gate`] before them.
    pub fn save_info(&self, srv: &crate::server::Server) -> Option<SaveInfo> {
        let stream_db = if self.is_replica() {
            replica::history_db(srv)?
        } else if self.backlog.active() {
            // No write since the backlog began: the next one SELECTs, so 0
            // is as good as any (Redis's slaveseldb -1 case).
            self.backlog.stream_db().unwrap_or(0)
        } else {
            return None;
        };
        Some(SaveInfo {
            stream_db,
            replid: self.ids().replid,
            offset: self.offset(),
        })
    }

    /// At start, the history saved in the RDB just loaded (Redis's
    /// loadDataFromDisk): a replica (the `replicaof` directive) takes it as
    /// its primary's, so its first PSYNC asks to continue from there; a
    /// primary keeps it as ID2 up to that offset under a new ID, with a
    /// backlog from there, so its replicas continue partially too.
    pub fn restore(&self, srv: &crate::server::Server, info: &SaveInfo, as_replica: bool) {
        if as_replica {
            self.adopt_master_history(srv, &info.replid, info.offset);
            replica::restore_history(srv, info.stream_db);
        } else {
            {
                let mut ids = self.ids.lock();
                ids.replid2 = info.replid.clone();
                ids.second_repl_offset = info.offset + 1;
            }
            self.backlog.restart(info.offset as u64);
            primary::attach_listener(srv);
            self.replicas.no_replicas_now();
        }
        crate::log::notice(&format!(
            "Replication history restored from the RDB: {}:{} (db {})",
            info.replid, info.offset, info.stream_db
        ));
    }

    /// Promotion (REPLICAOF NO ONE, FAILOVER): the current ID becomes ID2,
    /// valid up to the current offset, and a new ID starts, so replicas of
    /// the old primary can still PSYNC with us (Redis's shiftReplicationId).
    pub fn shift_replid(&self) {
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, random_id());
        ids.second_repl_offset = self.offset() + 1;
        crate::log::notice(&format!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            ids.replid2, ids.second_repl_offset, ids.replid
        ));
    }

    /// A replica's primary answered `+CONTINUE <new id>` (it was promoted,
    /// psync2): our ID becomes ID2, valid up to our offset, and the new one
    /// ours, so that our own replicas can follow (the caller disconnects
    /// them so they learn the new ID).
    pub fn continue_with_id(&self, new: &str) {
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, new.to_string());
        ids.second_repl_offset = self.offset() + 1;
    }

    /// A new history: new ID, no ID2 (Redis's changeReplicationId +
    /// clearReplicationId2), used when a backlog is created from scratch.
    pub fn new_history(&self) {
        let mut ids = self.ids.lock();
        ids.replid = random_id();
        ids.replid2 = "0".repeat(40);
        ids.second_repl_offset = -1;
    }

    /// While a replica: bytes of the primary's stream that were applied,
    /// appended verbatim to our backlog (and so to our own replicas), keeping
    /// offsets equal to the primary's (Redis's replicationFeedStreamFromMasterStream).
    pub fn feed_from_master(&self, bytes: &[u8]) {
        self.backlog.feed_raw(bytes);
    }

    /// A command Redis propagates to replicas but not to the AOF (PUBLISH,
    /// Redis's forceCommandPropagation(c, PROPAGATE_REPL)), run in `db`.
    /// It goes straight to the backlog, so inside a transaction or script
    /// it comes before the unit's other effects rather than among them.
    pub fn feed_replicas_only(&self, db: usize, argv: &[&[u8]]) {
        if self.is_replica() {
            return;
        }
        let mut p = crate::effects::Pending::default();
        p.push(db, argv);
        self.backlog.feed_unit(&p.unit());
    }

    /// INFO memory's (mem_replication_backlog, mem_clients_slaves,
    /// mem_total_replication_buffers): one buffer serves both, so as Redis
    /// 7.0 counts it, what exceeds `repl-backlog-size` while replicas are
    /// attached is theirs, the rest the backlog's.
    pub fn memory(&self, backlog_size: u64) -> (u64, u64, u64) {
        let total = self.backlog.memory();
        if !self.replicas.is_empty() && total > backlog_size {
            (backlog_size, total - backlog_size, total)
        } else {
            (total, 0, total)
        }
    }

    /// Closes every attached replica (a replica that did a full sync, a
    /// role change): they reconnect and PSYNC again.
    pub fn disconnect_replicas(&self) {
        self.replicas.kill_all();
    }

    /// INFO's `# Replication` section (Redis 7.0 field order).
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
            if l.state == "sync" {
                let perc = if l.transfer_size > 0 {
                    l.transfer_read as f64 / l.transfer_size as f64 * 100.0
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                    l.transfer_size,
                    l.transfer_read,
                    l.transfer_size - l.transfer_read,
                    perc,
                    secs(l.transfer_last_io_ms),
                );
            }
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
        let replicas = self.replicas.list();
        let _ = write!(out, "connected_slaves:{}\r\n", replicas.len());
        let s = primary::settings(srv);
        if s.min_replicas_to_write > 0 && s.min_replicas_max_lag > 0 {
            let _ = write!(
                out,
                "min_slaves_good_slaves:{}\r\n",
                self.replicas.good_count(s.min_replicas_max_lag)
            );
        }
        for (i, r) in replicas.iter().enumerate() {
            let _ = write!(out, "slave{i}:{}\r\n", r.info_line());
        }
        let ids = self.ids();
        let (active, first, histlen) = self.backlog.info();
        let _ = write!(
            out,
            "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
            self.failover.state_name(),
            ids.replid,
            ids.replid2,
            self.offset(),
            ids.second_repl_offset,
            u8::from(active),
            s.backlog_size,
            first,
            histlen,
        );
    }
}

/// The backlog listens to the write-effects stream while it exists. While
/// we are a replica our own effects are not our stream: the primary's bytes
/// are (see [`Repl::feed_from_master`]).
impl Listener for Repl {
    fn feed(&self, unit: &Unit<'_>) {
        if self.is_replica() {
            return;
        }
        self.backlog.feed_unit(unit);
    }
}

/// Applies the replication directives after a CONFIG SET / at start.
pub fn config_changed(srv: &crate::server::Server) {
    primary::config_changed(srv);
}

/// Starts the replication cron (once a second: PINGs to replicas, the
/// backlog's TTL, timeouts, delayed diskless syncs).
pub fn start(srv: &Arc<crate::server::Server>) {
    primary::spawn_cron(srv.clone());
}
