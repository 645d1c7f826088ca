//! Failure detection and failover (Redis's clusterCron and the election
//! code): the 100 ms cron that keeps links up, pings, flags PFAIL when a
//! node stays silent past cluster-node-timeout and FAIL when a majority of
//! masters agree; replicas of a FAILed master hold an election (ranked by
//! replication offset), masters vote once per epoch, and the winner takes
//! its master's slots with the new epoch. CLUSTER FAILOVER's manual,
//! FORCE and TAKEOVER variants start here too.

use super::bus;
use super::nodes::{flag, NodeId, State};
use super::wire;
use super::{Cluster, Settings};
use crate::server::Server;
use std::sync::Arc;

/// Milliseconds a manual failover may take (CLUSTER_MF_TIMEOUT).
pub const MF_TIMEOUT: i64 = 5000;

/// A replica's election and a manual failover in progress.
#[derive(Debug, Clone)]
pub struct Election {
    /// When the election starts (or started); 0 none yet.
    pub auth_time: i64,
    pub auth_count: usize,
    pub auth_sent: bool,
    pub auth_rank: usize,
    pub auth_epoch: u64,
    /// Manual failover: deadline (0 none), the replica doing it (on the
    /// master), the master's offset once paused (-1 unknown), and whether
    /// the replica may start its election.
    pub mf_end: i64,
    pub mf_slave: Option<NodeId>,
    pub mf_master_offset: i64,
    pub mf_can_start: bool,
}

impl Default for Election {
    fn default() -> Self {
        Election {
            auth_time: 0,
            auth_count: 0,
            auth_sent: false,
            auth_rank: 0,
            auth_epoch: 0,
            mf_end: 0,
            mf_slave: None,
            mf_master_offset: -1,
            mf_can_start: false,
        }
    }
}

impl Election {
    pub fn reset_manual(&mut self) {
        self.mf_end = 0;
        self.mf_slave = None;
        self.mf_master_offset = -1;
        self.mf_can_start = false;
    }
}

pub fn spawn_cron(srv: Arc<Server>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        let mut iteration: u64 = 0;
        loop {
            tick.tick().await;
            iteration += 1;
            if let Some(c) = &srv.cluster {
                cron(&srv, c, iteration);
                c.after_change(&srv);
            }
        }
    });
}

/// One cron pass (clusterCron).
fn cron(srv: &Arc<Server>, cluster: &Cluster, iteration: u64) {
    let s = cluster.settings();
    let now = crate::commands::unix_ms();
    let offset = bus::repl_offset(srv);
    let handshake_timeout = s.node_timeout.max(1000);
    let mut st = cluster.state.lock();
    // Handshakes that never completed are dropped; nodes without a link
    // get one, with a PING (or the MEET a CLUSTER MEET asked for).
    let names: Vec<NodeId> = st.nodes.keys().copied().collect();
    for name in &names {
        let Some(n) = st.nodes.get(name) else {
            continue;
        };
        if n.has(flag::MYSELF | flag::NOADDR) {
            continue;
        }
        if n.has(flag::HANDSHAKE) && now - n.ctime > handshake_timeout {
            st.del_node(name);
            continue;
        }
        if n.link.is_none() {
            let link = bus::connect(srv, cluster, n.ip.clone(), n.cport, now);
            let meet = n.has(flag::MEET);
            let old_ping_sent = n.ping_sent;
            let n = st.nodes.get_mut(name).expect("present");
            n.link = Some(link);
            n.ping_sent = 0;
            bus::send_ping(
                &mut st,
                &s,
                offset,
                name,
                if meet { wire::MEET } else { wire::PING },
                now,
            );
            let n = st.nodes.get_mut(name).expect("present");
            if meet {
                n.ping_sent = now;
            }
            if old_ping_sent != 0 {
                n.ping_sent = old_ping_sent;
            }
            n.flags &= !flag::MEET;
        }
    }
    // Every second, ping the node (of five random ones) heard from longest ago.
    if iteration.is_multiple_of(10) {
        use rand::seq::IndexedRandom;
        let candidates: Vec<NodeId> = names
            .choose_multiple(&mut rand::rng(), 5)
            .copied()
            .collect();
        let oldest = candidates
            .iter()
            .filter_map(|n| st.nodes.get(n))
            .filter(|n| {
                n.link.is_some() && n.ping_sent == 0 && !n.has(flag::MYSELF | flag::HANDSHAKE)
            })
            .min_by_key(|n| n.pong_received)
            .map(|n| n.name);
        if let Some(o) = oldest {
            bus::send_ping(&mut st, &s, offset, &o, wire::PING, now);
        }
    }
    let mut update = false;
    for name in &names {
        let Some(n) = st.nodes.get(name) else {
            continue;
        };
        if n.has(flag::MYSELF | flag::NOADDR | flag::HANDSHAKE) {
            continue;
        }
        let ping_delay = now - n.ping_sent;
        let data_delay = now - n.data_received;
        // A link whose ping waits past half the timeout is reopened: the
        // node may be fine and the connection stuck.
        if let Some(l) = &n.link {
            if now - l.ctime > s.node_timeout
                && n.ping_sent != 0
                && ping_delay > s.node_timeout / 2
                && data_delay > s.node_timeout / 2
            {
                st.nodes.get_mut(name).expect("present").link = None;
                continue;
            }
        }
        let n = &st.nodes[name];
        if n.link.is_some() && n.ping_sent == 0 && now - n.pong_received > s.node_timeout / 2 {
            bus::send_ping(&mut st, &s, offset, name, wire::PING, now);
            continue;
        }
        if st.election.mf_end != 0 && st.me().is_master() && st.election.mf_slave == Some(*name) {
            bus::send_ping(&mut st, &s, offset, name, wire::PING, now);
            continue;
        }
        let n = &st.nodes[name];
        if n.ping_sent == 0 {
            continue;
        }
        let delay = ping_delay.min(data_delay);
        if delay > s.node_timeout && !n.has(flag::PFAIL | flag::FAIL) {
            crate::log::verbose(&format!(
                "*** NODE {} possibly failing",
                super::nodes::name_str(name)
            ));
            st.nodes.get_mut(name).expect("present").flags |= flag::PFAIL;
            update = true;
        }
    }
    // PFAIL nodes may reach a FAIL quorum from reports already held.
    for name in &names {
        if st.nodes.get(name).is_some_and(|n| n.has(flag::PFAIL)) {
            mark_failing_if_needed(&mut st, &s, name, now, offset);
        }
    }
    // A replica whose replication was stopped follows its master again.
    let me = st.me();
    if me.is_slave() && !srv.repl.is_replica() {
        if let Some(m) = me.slaveof.and_then(|m| st.nodes.get(&m)) {
            if !m.has(flag::NOADDR) && !m.ip.is_empty() {
                st.role_change = Some(Some((m.ip.clone(), m.port)));
            }
        }
    }
    if st.election.mf_end != 0 && st.election.mf_end < now {
        crate::log::warning("Manual failover timed out.");
        st.election.reset_manual();
    }
    if st.me().is_slave() {
        handle_manual_failover(&mut st, offset);
        handle_replica_failover(&mut st, &s, now, offset, data_age(srv, now));
    }
    if update || !st.ok {
        st.update_state(s.require_full_coverage);
    }
    st.blacklist.retain(|(_, until)| *until > now);
}

/// PFAIL becomes FAIL when a majority of masters (this one counting if a
/// master) reported the node within twice the node timeout; the FAIL is
/// then broadcast (markNodeAsFailingIfNeeded).
pub fn mark_failing_if_needed(st: &mut State, s: &Settings, name: &NodeId, now: i64, offset: i64) {
    let quorum = st.size / 2 + 1;
    let validity = s.node_timeout * 2;
    let i_am_master = st.me().is_master();
    let Some(n) = st.nodes.get_mut(name) else {
        return;
    };
    n.fail_reports.retain(|(_, t)| now - t <= validity);
    if !n.has(flag::PFAIL) || n.has(flag::FAIL) {
        return;
    }
    let failures = n.fail_reports.len() + usize::from(i_am_master);
    if failures < quorum {
        return;
    }
    crate::log::notice(&format!(
        "Marking node {} as failing (quorum reached).",
        super::nodes::name_str(name)
    ));
    n.flags &= !flag::PFAIL;
    n.flags |= flag::FAIL;
    n.fail_time = now;
    let about = *name;
    let msg = bus::message(st, s, offset, 0, |snd| wire::build_fail(snd, &about));
    bus::broadcast(st, &msg, wire::FAIL);
    st.update_state(s.require_full_coverage);
    st.save_later(true);
}

/// A FAILed node that answers again is cleared: at once if it is a replica
/// or holds no slots, else once nobody took its slots for a while
/// (clearNodeFailureIfNeeded).
pub fn clear_failure_if_needed(st: &mut State, s: &Settings, name: &NodeId, now: i64) {
    let Some(n) = st.nodes.get_mut(name) else {
        return;
    };
    let clear = n.is_slave()
        || n.numslots() == 0
        || (n.is_master() && n.numslots() > 0 && now - n.fail_time > s.node_timeout * 2);
    if clear {
        crate::log::notice(&format!(
            "Clear FAIL state for node {}: is reachable again.",
            super::nodes::name_str(name)
        ));
        n.flags &= !flag::FAIL;
        st.save_later(false);
        st.update_state(s.require_full_coverage);
    }
}

/// A master's vote for a replica asking to replace its failed master
/// (clusterSendFailoverAuthIfNeeded): once per epoch, once per master per
/// two node timeouts, and only if no slot it claims has a newer owner.
pub fn vote_if_needed(
    st: &mut State,
    s: &Settings,
    sender: &NodeId,
    h: &wire::Header,
    now: i64,
    offset: i64,
) {
    if st.me().is_slave() || st.me().numslots() == 0 {
        return;
    }
    if h.current_epoch < st.current_epoch || st.last_vote_epoch == st.current_epoch {
        return;
    }
    let Some(node) = st.nodes.get(sender) else {
        return;
    };
    let Some(master) = node.slaveof.filter(|_| node.is_slave()) else {
        return;
    };
    let Some(m) = st.nodes.get(&master) else {
        return;
    };
    let force = h.mflags & wire::MFLAG_FORCEACK != 0;
    if !m.failed() && !force {
        return;
    }
    if now - m.voted_time < s.node_timeout * 2 {
        return;
    }
    for j in 0..super::slots::SLOTS {
        if h.myslots[j / 8] & (1 << (j % 8)) == 0 {
            continue;
        }
        if let Some(owner) = st.slots[j].and_then(|o| st.nodes.get(&o)) {
            if owner.config_epoch > h.config_epoch {
                return;
            }
        }
    }
    st.last_vote_epoch = st.current_epoch;
    if let Some(m) = st.nodes.get_mut(&master) {
        m.voted_time = now;
    }
    st.save_later(true);
    let msg = bus::message(st, s, offset, 0, |snd| wire::build(snd, wire::AUTH_ACK, 0));
    if let Some(l) = st.nodes.get(sender).and_then(|n| n.link.clone()) {
        l.send(msg);
        st.sent[wire::AUTH_ACK as usize] += 1;
    }
    crate::log::notice(&format!(
        "Failover auth granted to {} for epoch {}",
        super::nodes::name_str(sender),
        st.current_epoch
    ));
}

/// This replica's rank among its master's replicas: how many have a
/// greater replication offset (clusterGetSlaveRank).
fn rank(st: &State, offset: i64) -> usize {
    let Some(master) = st.me().slaveof else {
        return 0;
    };
    st.replicas_of(&master)
        .iter()
        .filter(|n| !n.has(flag::MYSELF | flag::NOFAILOVER) && n.repl_offset > offset)
        .count()
}

/// A manual failover may start once this replica has the master's final
/// offset (clusterHandleManualFailover).
fn handle_manual_failover(st: &mut State, offset: i64) {
    let e = &mut st.election;
    if e.mf_end == 0 || e.mf_can_start || e.mf_master_offset == -1 {
        return;
    }
    if e.mf_master_offset == offset {
        e.mf_can_start = true;
        crate::log::warning("All master replication stream processed, manual failover can start.");
    }
}

/// Milliseconds since this replica last heard from its master: since the
/// last byte while the link is up, else since it went down (never up:
/// unbounded, as Redis's repl_down_since of 0).
fn data_age(srv: &Server, now: i64) -> i64 {
    match srv.repl.master_link() {
        Some(l) if l.state == "connected" => now - l.last_io_ms,
        Some(l) if l.down_since_ms > 0 => now - l.down_since_ms,
        _ => now,
    }
}

/// The replica's side of an election (clusterHandleSlaveFailover).
fn handle_replica_failover(st: &mut State, s: &Settings, now: i64, offset: i64, data_age: i64) {
    let quorum = st.size / 2 + 1;
    let manual = st.election.mf_end != 0 && st.election.mf_can_start;
    let auth_timeout = (s.node_timeout * 2).max(2000);
    let auth_retry = auth_timeout * 2;
    let me = st.me();
    let Some(master) = me.slaveof.filter(|_| me.is_slave()) else {
        return;
    };
    let Some(m) = st.nodes.get(&master) else {
        return;
    };
    if (!manual && (!m.failed() || s.replica_no_failover)) || m.numslots() == 0 {
        return;
    }
    // Too stale a replica does not run (cluster-replica-validity-factor):
    // the node timeout is not counted, it is the master's silence itself.
    let age = if data_age > s.node_timeout {
        data_age - s.node_timeout
    } else {
        data_age
    };
    if s.replica_validity_factor != 0
        && age > s.repl_ping_period * 1000 + s.node_timeout * s.replica_validity_factor
        && !manual
    {
        return;
    }
    if now - st.election.auth_time > auth_retry {
        let r = rank(st, offset);
        let e = &mut st.election;
        e.auth_time = now + 500 + rand::random_range(0..500) + r as i64 * 1000;
        e.auth_count = 0;
        e.auth_sent = false;
        e.auth_rank = r;
        if manual {
            e.auth_time = now;
            e.auth_rank = 0;
        }
        crate::log::warning(&format!(
            "Start of election delayed for {} milliseconds (rank #{}, offset {offset}).",
            e.auth_time - now,
            e.auth_rank
        ));
        bus::broadcast_pong(st, s, offset, true);
        return;
    }
    if !st.election.auth_sent && !manual {
        let r = rank(st, offset);
        if r > st.election.auth_rank {
            st.election.auth_time += (r - st.election.auth_rank) as i64 * 1000;
            st.election.auth_rank = r;
        }
    }
    if now < st.election.auth_time || now - st.election.auth_time > auth_timeout {
        return;
    }
    if !st.election.auth_sent {
        st.current_epoch += 1;
        st.election.auth_epoch = st.current_epoch;
        crate::log::warning(&format!(
            "Starting a failover election for epoch {}.",
            st.current_epoch
        ));
        let mflags = if manual { wire::MFLAG_FORCEACK } else { 0 };
        let msg = bus::message(st, s, offset, mflags, |snd| {
            wire::build(snd, wire::AUTH_REQUEST, 0)
        });
        bus::broadcast(st, &msg, wire::AUTH_REQUEST);
        st.election.auth_sent = true;
        st.save_later(true);
        return;
    }
    if st.election.auth_count >= quorum {
        crate::log::warning("Failover election won: I'm the new master.");
        if st.me().config_epoch < st.election.auth_epoch {
            let e = st.election.auth_epoch;
            st.me_mut().config_epoch = e;
        }
        replace_my_master(st, s, offset);
    }
}

/// Takes over the master's slots (clusterFailoverReplaceYourMaster).
pub fn replace_my_master(st: &mut State, s: &Settings, offset: i64) {
    let me = st.myself;
    let Some(old) = st.me().slaveof else { return };
    {
        let n = st.me_mut();
        n.flags &= !flag::SLAVE;
        n.flags |= flag::MASTER;
        n.slaveof = None;
    }
    for j in 0..super::slots::SLOTS {
        if st.slots[j] == Some(old) {
            st.add_slot(me, j);
        }
    }
    st.role_change = Some(None);
    st.election = Election::default();
    st.update_state(s.require_full_coverage);
    st.save_later(true);
    bus::broadcast_pong(st, s, offset, false);
}
