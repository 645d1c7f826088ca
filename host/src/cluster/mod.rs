//! Redis Cluster (`cluster-enabled yes`): this node's view of the cluster
//! and the machinery that keeps it current. One file per concept:
//!
//! - [`slots`]: CRC16 key slots, hash tags, slot bitmaps;
//! - [`nodes`]: the node table (Redis's clusterState) and nodes.conf;
//! - [`wire`]: Redis 7.0's binary bus messages (clusterMsg), built and parsed;
//! - [`bus`]: the bus listener and links, and what each message changes;
//! - [`failover`]: the cron (pings, PFAIL/FAIL), replica elections, votes;
//! - [`routing`]: which node serves a command (MOVED, ASK, CROSSSLOT ...).
//!
//! The CLUSTER command lives with the other commands (commands/cluster.rs)
//! and calls in here; the replication a replica needs is repl/'s, driven
//! through its public API (set_master / unset_master).

pub mod bus;
pub mod failover;
pub mod nodes;
pub mod routing;
pub mod slots;
pub mod wire;

use crate::server::Server;
use nodes::State;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bus listens on the client port plus this, unless `cluster-port` says.
pub const PORT_INCR: u16 = 10000;

/// The cluster directives this node acts on, refreshed from the config
/// whenever it changes (CONFIG SET) and read without the config lock.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub node_timeout: i64,
    pub require_full_coverage: bool,
    pub allow_reads_when_down: bool,
    pub allow_pubsubshard_when_down: bool,
    pub allow_replica_migration: bool,
    pub replica_validity_factor: i64,
    /// repl-ping-replica-period, seconds (part of the data-age limit).
    pub repl_ping_period: i64,
    pub migration_barrier: i64,
    pub replica_no_failover: bool,
    pub announce_ip: String,
    pub announce_hostname: String,
    pub announce_port: u16,
    pub announce_bus_port: u16,
    /// 0 ip, 1 hostname, 2 unknown-endpoint.
    pub preferred_endpoint: u8,
}

impl Settings {
    fn from_config(cfg: &crate::config::Config) -> Settings {
        let get = |n: &str| cfg.get_one(n).unwrap_or_default();
        let int = |n: &str| get(n).parse::<i64>().unwrap_or(0);
        let yes = |n: &str| get(n) == "yes";
        Settings {
            node_timeout: int("cluster-node-timeout"),
            require_full_coverage: yes("cluster-require-full-coverage"),
            allow_reads_when_down: yes("cluster-allow-reads-when-down"),
            allow_pubsubshard_when_down: yes("cluster-allow-pubsubshard-when-down"),
            allow_replica_migration: yes("cluster-allow-replica-migration"),
            replica_validity_factor: int("cluster-replica-validity-factor"),
            repl_ping_period: int("repl-ping-replica-period"),
            migration_barrier: int("cluster-migration-barrier"),
            replica_no_failover: yes("cluster-replica-no-failover"),
            announce_ip: get("cluster-announce-ip"),
            announce_hostname: get("cluster-announce-hostname"),
            announce_port: int("cluster-announce-port") as u16,
            announce_bus_port: int("cluster-announce-bus-port") as u16,
            preferred_endpoint: match get("cluster-preferred-endpoint-type").as_str() {
                "hostname" => 1,
                "unknown-endpoint" => 2,
                _ => 0,
            },
        }
    }
}

/// The cluster subsystem of a server started with `cluster-enabled yes`.
pub struct Cluster {
    pub state: Mutex<State>,
    pub settings: parking_lot::RwLock<Settings>,
    /// nodes.conf, absolute (the server may chdir).
    pub config_file: PathBuf,
    /// The bus port (cluster-port, or port + 10000 once the port is known).
    pub bus_port: AtomicU64,
    next_link: AtomicU64,
    /// Serializes nodes.conf writes (the bus tasks and the cron may save at
    /// once; they share the temporary file's name).
    save_lock: Mutex<()>,
}

impl Cluster {
    /// Loads nodes.conf, or starts a fresh node (a new random name) when the
    /// file is missing or empty; a corrupt file is an error.
    pub fn open(cfg: &crate::config::Config) -> Result<Cluster, String> {
        let file = cfg.get_one("cluster-config-file").unwrap_or_default();
        let mut path = PathBuf::from(&cfg.dir).join(&file);
        if std::path::Path::new(&file).is_absolute() {
            path = PathBuf::from(&file);
        }
        let now = crate::commands::unix_ms();
        let state = match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                let st = State::load(&text, now)?;
                crate::log::notice(&format!(
                    "Node configuration loaded, I'm {}",
                    nodes::name_str(&st.myself)
                ));
                st
            }
            Ok(_) => State::new(now),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let st = State::new(now);
                crate::log::notice(&format!(
                    "No cluster configuration found, I'm {}",
                    nodes::name_str(&st.myself)
                ));
                st
            }
            Err(e) => {
                return Err(format!(
                    "Loading the cluster node config from {}: {e}",
                    path.display()
                ))
            }
        };
        let bus_port = cfg
            .get_one("cluster-port")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        Ok(Cluster {
            state: Mutex::new(state),
            settings: parking_lot::RwLock::new(Settings::from_config(cfg)),
            config_file: path,
            bus_port: AtomicU64::new(bus_port),
            next_link: AtomicU64::new(1),
            save_lock: Mutex::new(()),
        })
    }

    pub fn next_link_id(&self) -> u64 {
        self.next_link.fetch_add(1, Ordering::Relaxed)
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().clone()
    }

    /// Writes nodes.conf now (CLUSTER SAVECONFIG and the pending saves).
    pub fn save(&self) -> std::io::Result<()> {
        let _one_writer = self.save_lock.lock();
        let text = {
            let mut st = self.state.lock();
            st.todo_save = false;
            st.todo_fsync = false;
            st.config_text()
        };
        nodes::save_file(&self.config_file, &text)
    }

    /// Applies what a state change left for after the lock: nodes.conf and
    /// a role change for the replication layer.
    pub fn after_change(&self, srv: &Server) {
        let (save, role, dirty) = {
            let mut st = self.state.lock();
            (
                st.todo_save,
                st.role_change.take(),
                std::mem::take(&mut st.dirty_slots),
            )
        };
        if !dirty.is_empty() {
            delete_keys_in_slots(srv, &dirty);
        }
        if save {
            if let Err(e) = self.save() {
                crate::log::warning(&format!("Fatal: can't update cluster config file: {e}"));
            }
        }
        if let Some(role) = role {
            apply_role(srv, role);
        }
    }
}

/// Deletes this node's keys in slots another master took over (Redis's
/// clusterUpdateSlotsConfigWith "dirty slots"), propagated as DELs.
fn delete_keys_in_slots(srv: &Server, slots: &[u16]) {
    let now = crate::commands::unix_ms();
    let mut ks = srv.store.lock(&crate::store::LockPlan::Db(0), now);
    let mut doomed = Vec::new();
    for shard in ks.shards_of(0) {
        for e in shard.table().iter() {
            if slots.contains(&slots::key_slot(e.key.as_slice())) {
                doomed.push(e.key.as_slice().to_vec());
            }
        }
    }
    for k in doomed {
        if ks.remove(0, &k).is_some() {
            ks.propagate(0, &[b"DEL".as_slice(), &k]);
        }
    }
}

/// Makes the replication layer follow `master`, or stop following.
fn apply_role(srv: &Server, master: Option<(String, u16)>) {
    match master {
        Some((ip, port)) => {
            if let Some(arc) = srv.arc() {
                crate::repl::replica::set_master(&arc, ip, port);
            }
        }
        None => {
            if srv.repl.is_replica() {
                crate::repl::replica::unset_master(srv);
            }
        }
    }
}

/// CONFIG SET / start-up: refreshes the cached settings.
pub fn config_changed(srv: &Server) {
    if let Some(c) = &srv.cluster {
        *c.settings.write() = Settings::from_config(&srv.config.read());
    }
}

/// Whether `cluster-enabled yes` asks for cluster mode.
pub fn enabled(cfg: &crate::config::Config) -> bool {
    cfg.get_one("cluster-enabled").as_deref() == Some("yes")
}

/// Starts the bus once the client port is known: fills in this node's
/// ports, saves nodes.conf, opens the bus listener and the cron.
pub async fn start(srv: &Arc<Server>) -> anyhow::Result<()> {
    let Some(cluster) = &srv.cluster else {
        return Ok(());
    };
    let port = srv.port.load(Ordering::Relaxed) as u16;
    if cluster.bus_port.load(Ordering::Relaxed) == 0 {
        if port > 65535 - PORT_INCR {
            anyhow::bail!(
                "Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less."
            );
        }
        cluster
            .bus_port
            .store(port as u64 + PORT_INCR as u64, Ordering::Relaxed);
    }
    let bus_port = cluster.bus_port.load(Ordering::Relaxed) as u16;
    {
        let s = cluster.settings();
        let mut st = cluster.state.lock();
        st.started = crate::commands::unix_ms();
        let me = st.me_mut();
        me.port = if s.announce_port != 0 {
            s.announce_port
        } else {
            port
        };
        me.cport = if s.announce_bus_port != 0 {
            s.announce_bus_port
        } else {
            bus_port
        };
        me.hostname = s.announce_hostname.clone();
        if !s.announce_ip.is_empty() {
            me.ip = s.announce_ip.clone();
        }
        st.update_state(s.require_full_coverage);
        // A replica in nodes.conf follows its master again after a restart.
        let master = st.me().slaveof.filter(|_| st.me().is_slave());
        if let Some(m) = master.and_then(|m| st.nodes.get(&m)) {
            if !m.ip.is_empty() {
                st.role_change = Some(Some((m.ip.clone(), m.port)));
            }
        }
        st.todo_save = true;
    }
    cluster.after_change(srv);
    bus::listen(srv.clone(), bus_port).await?;
    failover::spawn_cron(srv.clone());
    Ok(())
}
