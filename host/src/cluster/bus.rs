//! The cluster bus: the listener on the bus port, one tokio task per link
//! (outbound links this node opens to every known node, inbound ones the
//! others open to it), and what each received message changes in the node
//! table (Redis's clusterProcessPacket). Messages are written by the link's
//! writer task from a channel, so the table's lock is never held across I/O.

use super::nodes::{flag, Link, Node, NodeId, State};
use super::slots::SLOTS;
use super::wire::{self, Gossip, Header};
use super::{Cluster, Settings};
use crate::server::Server;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The link a message arrived on.
pub struct LinkCtx {
    pub link: Link,
    pub inbound: bool,
    /// Our address on this connection (a MEET teaches a node its own IP).
    pub local_ip: String,
    pub peer_ip: String,
}

/// Binds the bus port on every `bind` address and accepts links.
pub async fn listen(srv: Arc<Server>, port: u16) -> anyhow::Result<()> {
    let binds = srv.config.read().bind.clone();
    for addr in &binds {
        let addr = addr.trim_start_matches('-');
        let listener = TcpListener::bind((addr, port)).await.map_err(|e| {
            anyhow::anyhow!("Could not bind the cluster bus port {addr}:{port}: {e}")
        })?;
        let srv = srv.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let srv = srv.clone();
                        tokio::spawn(async move { run_link(srv, stream, None).await });
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        });
    }
    Ok(())
}

/// Opens an outbound link to a node: the returned handle queues messages
/// at once; they are written once the connection is up. A failed connect
/// drops the link from the node (the cron retries).
pub fn connect(srv: &Arc<Server>, cluster: &Cluster, ip: String, cport: u16, now: i64) -> Link {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let link = Link {
        id: cluster.next_link_id(),
        tx,
        ctime: now,
    };
    let srv = srv.clone();
    let l = link.clone();
    let timeout = cluster.settings().node_timeout.max(1000) as u64;
    tokio::spawn(async move {
        let conn = tokio::time::timeout(
            std::time::Duration::from_millis(timeout),
            TcpStream::connect((ip.as_str(), cport)),
        )
        .await;
        match conn {
            Ok(Ok(stream)) => run_link(srv, stream, Some((l, rx))).await,
            _ => link_closed(&srv, l.id),
        }
    });
    link
}

/// Reads messages off a link until it closes; `outbound` carries the link
/// this node opened (None for an accepted one, which gets a new handle).
async fn run_link(
    srv: Arc<Server>,
    stream: TcpStream,
    outbound: Option<(Link, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>)>,
) {
    let Some(cluster) = srv.cluster.as_ref() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let local_ip = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let peer_ip = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let inbound = outbound.is_none();
    let (link, mut rx) = match outbound {
        Some(o) => o,
        None => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let link = Link {
                id: cluster.next_link_id(),
                tx,
                ctime: crate::commands::unix_ms(),
            };
            (link, rx)
        }
    };
    let id = link.id;
    let ctx = LinkCtx {
        link,
        inbound,
        local_ip,
        peer_ip,
    };
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if wr.write_all(&msg).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; 8];
        if rd.read_exact(&mut head).await.is_err() {
            break;
        }
        let Some(len) = wire::frame_len(&head) else {
            break;
        };
        if !(8..=wire::MAX_LEN).contains(&len) {
            break;
        }
        buf.clear();
        buf.extend_from_slice(&head);
        buf.resize(len, 0);
        if rd.read_exact(&mut buf[8..]).await.is_err() {
            break;
        }
        if !process(&srv, cluster, &ctx, &buf) {
            break;
        }
        cluster.after_change(&srv);
        // The link's node may have been forgotten or replaced meanwhile.
        if ctx.link.tx.is_closed() {
            break;
        }
    }
    writer.abort();
    link_closed(&srv, id);
    cluster.after_change(&srv);
}

/// Forgets a closed link wherever the table holds it.
fn link_closed(srv: &Server, id: u64) {
    if let Some(c) = &srv.cluster {
        let mut st = c.state.lock();
        for n in st.nodes.values_mut() {
            if n.link.as_ref().is_some_and(|l| l.id == id) {
                n.link = None;
            }
            if n.inbound.as_ref().is_some_and(|l| l.id == id) {
                n.inbound = None;
            }
        }
    }
}

/// Builds a message of this node's (any type) with `f` filling the rest.
pub fn message(
    st: &State,
    s: &Settings,
    offset: i64,
    mflags: u8,
    f: impl FnOnce(&wire::Sender) -> Vec<u8>,
) -> Vec<u8> {
    let me = st.me();
    let master = st.nodes.get(&st.my_master()).unwrap_or(me);
    let sender = wire::Sender {
        name: me.name,
        port: me.port,
        pport: 0,
        cport: me.cport,
        current_epoch: st.current_epoch,
        config_epoch: master.config_epoch,
        offset,
        slots: &master.slots.0[..],
        slaveof: me.slaveof.filter(|_| me.is_slave()),
        announce_ip: &s.announce_ip,
        flags: me.flags,
        state_ok: st.ok,
        mflags,
    };
    f(&sender)
}

/// This node's replication offset, as its messages carry it.
pub fn repl_offset(srv: &Server) -> i64 {
    srv.repl.offset()
}

/// The gossip entries a PING/PONG carries: a few random healthy nodes
/// (a tenth of the table, at least 3) and every node in PFAIL.
fn gossip_for(st: &State, target: Option<&NodeId>) -> Vec<Gossip> {
    use rand::seq::SliceRandom;
    let entry = |n: &Node| Gossip {
        name: n.name,
        ping_sent: (n.ping_sent / 1000) as u32,
        pong_received: (n.pong_received / 1000) as u32,
        ip: n.ip.clone(),
        port: n.port,
        cport: n.cport,
        flags: n.flags,
        pport: n.pport,
    };
    let wanted = (st.nodes.len() / 10).max(3);
    let mut fresh: Vec<&Node> = st
        .nodes
        .values()
        .filter(|n| {
            !n.has(flag::MYSELF | flag::PFAIL | flag::HANDSHAKE | flag::NOADDR)
                && Some(&n.name) != target
                && !(n.link.is_none() && n.numslots() == 0)
        })
        .collect();
    fresh.shuffle(&mut rand::rng());
    let mut out: Vec<Gossip> = fresh.into_iter().take(wanted).map(entry).collect();
    out.extend(
        st.nodes
            .values()
            .filter(|n| n.has(flag::PFAIL) && !n.has(flag::HANDSHAKE | flag::NOADDR))
            .map(entry),
    );
    out
}

/// A PING, PONG or MEET for `target` (None on an inbound link).
pub fn ping_message(
    st: &State,
    s: &Settings,
    offset: i64,
    ty: u16,
    target: Option<&NodeId>,
) -> Vec<u8> {
    let gossip = gossip_for(st, target);
    let paused = st.me().is_master() && st.election.mf_end != 0;
    let mflags = if paused { wire::MFLAG_PAUSED } else { 0 };
    let hostname = st.me().hostname.clone();
    message(st, s, offset, mflags, |snd| {
        wire::build_ping(snd, ty, &gossip, &hostname)
    })
}

/// Sends a PING (or MEET) on a node's outbound link, noting the time.
pub fn send_ping(st: &mut State, s: &Settings, offset: i64, name: &NodeId, ty: u16, now: i64) {
    let msg = ping_message(st, s, offset, ty, Some(name));
    let Some(n) = st.nodes.get_mut(name) else {
        return;
    };
    let Some(link) = n.link.clone() else {
        return;
    };
    // The oldest unanswered ping stays: failure detection counts from it.
    if ty == wire::PING && n.ping_sent == 0 {
        n.ping_sent = now;
    }
    link.send(msg);
    st.sent[ty as usize] += 1;
}

/// Sends a message to every connected node not in handshake.
pub fn broadcast(st: &mut State, msg: &[u8], ty: u16) {
    let mut n_sent = 0;
    for n in st.nodes.values() {
        if n.has(flag::MYSELF | flag::HANDSHAKE) {
            continue;
        }
        if let Some(l) = &n.link {
            l.send(msg.to_vec());
            n_sent += 1;
        }
    }
    st.sent[ty as usize] += n_sent;
}

/// A PONG to every connected node (after a configuration change).
pub fn broadcast_pong(st: &mut State, s: &Settings, offset: i64, only_my_replicas: bool) {
    let targets: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| !n.has(flag::MYSELF | flag::HANDSHAKE) && n.link.is_some())
        .filter(|n| !only_my_replicas || (n.is_slave() && n.slaveof == Some(st.my_master())))
        .map(|n| n.name)
        .collect();
    for t in targets {
        let msg = ping_message(st, s, offset, wire::PONG, Some(&t));
        if let Some(l) = st.nodes.get(&t).and_then(|n| n.link.clone()) {
            l.send(msg);
            st.sent[wire::PONG as usize] += 1;
        }
    }
}

/// Handles one whole message; false closes the link.
pub fn process(srv: &Server, cluster: &Cluster, ctx: &LinkCtx, b: &[u8]) -> bool {
    let Some(h) = wire::parse_header(b) else {
        return true;
    };
    let s = cluster.settings();
    let now = crate::commands::unix_ms();
    let offset = repl_offset(srv);
    let mut st = cluster.state.lock();
    if (h.ty as usize) < wire::TYPE_COUNT {
        st.received[h.ty as usize] += 1;
    }
    if h.totlen != b.len() || wire::expected_len(&h, b) != Some(h.totlen) {
        crate::log::warning(&format!(
            "Received invalid cluster bus packet of type {} and length {}",
            h.ty, h.totlen
        ));
        return true;
    }
    // The node this link belongs to, and the sender if it is known.
    let link_node: Option<NodeId> = st
        .nodes
        .values()
        .find(|n| {
            if ctx.inbound {
                n.inbound.as_ref().is_some_and(|l| l.id == ctx.link.id)
            } else {
                n.link.as_ref().is_some_and(|l| l.id == ctx.link.id)
            }
        })
        .map(|n| n.name);
    let sender: Option<NodeId> = match link_node {
        Some(n) if !st.nodes[&n].has(flag::HANDSHAKE) => Some(n),
        _ => st.nodes.contains_key(&h.sender).then_some(h.sender),
    };
    if ctx.inbound && link_node.is_none() {
        if let Some(sn) = sender {
            if let Some(n) = st.nodes.get_mut(&sn) {
                n.inbound = Some(ctx.link.clone());
            }
        }
    }
    if !ctx.inbound && link_node.is_none() {
        // Our node was replaced or forgotten: this link is stale.
        return false;
    }
    if let Some(sn) = sender {
        let handshake = st.nodes[&sn].has(flag::HANDSHAKE);
        if let Some(n) = st.nodes.get_mut(&sn) {
            n.data_received = now;
        }
        if !handshake {
            if h.current_epoch > st.current_epoch {
                st.current_epoch = h.current_epoch;
            }
            let n = st.nodes.get_mut(&sn).expect("sender is known");
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                st.save_later(true);
            }
            let n = st.nodes.get_mut(&sn).expect("sender is known");
            n.repl_offset = h.offset;
            let e = &mut st.election;
            if e.mf_end != 0
                && h.mflags & wire::MFLAG_PAUSED != 0
                && e.mf_master_offset == -1
                && st.me().slaveof == Some(sn)
                && st.me().is_slave()
            {
                st.election.mf_master_offset = h.offset;
                crate::log::warning(&format!(
                    "Received replication offset for paused master manual failover: {}",
                    h.offset
                ));
            }
        }
    }
    let ping_like = matches!(h.ty, wire::PING | wire::PONG | wire::MEET);
    if h.ty == wire::PING || h.ty == wire::MEET {
        if (h.ty == wire::MEET || st.me().ip.is_empty())
            && s.announce_ip.is_empty()
            && !ctx.local_ip.is_empty()
            && st.me().ip != ctx.local_ip
        {
            st.me_mut().ip = ctx.local_ip.clone();
            crate::log::warning(&format!(
                "IP address for this node updated to {}",
                ctx.local_ip
            ));
            st.save_later(false);
        }
        if sender.is_none() && h.ty == wire::MEET {
            let name = super::nodes::random_name();
            let mut n = Node::new(name, flag::HANDSHAKE, now);
            n.ip = if h.myip.is_empty() {
                ctx.peer_ip.clone()
            } else {
                h.myip.clone()
            };
            n.port = h.port;
            n.pport = h.pport;
            n.cport = h.cport;
            st.nodes.insert(name, n);
            st.save_later(false);
        }
        let pong = ping_message(&st, &s, offset, wire::PONG, sender.as_ref());
        ctx.link.send(pong);
        st.sent[wire::PONG as usize] += 1;
    }
    if ping_like {
        if !ctx.inbound {
            let ln = link_node.expect("checked above");
            if st.nodes[&ln].has(flag::HANDSHAKE) {
                if let Some(known) = sender {
                    // We already know this node: keep it, with this address.
                    update_address(&mut st, &known, &ctx.peer_ip, &h);
                    st.del_node(&ln);
                    st.save_later(false);
                    return false;
                }
                // The handshake ends: the node takes its real name.
                let Some(mut n) = st.nodes.remove(&ln) else {
                    return false;
                };
                n.name = h.sender;
                n.flags &= !flag::HANDSHAKE;
                n.flags |= h.flags & (flag::MASTER | flag::SLAVE);
                st.nodes.insert(h.sender, n);
                st.save_later(false);
            } else if ln != h.sender {
                // Another node answers at this address: it is unknown now.
                if let Some(n) = st.nodes.get_mut(&ln) {
                    n.flags |= flag::NOADDR;
                    n.ip.clear();
                    n.port = 0;
                    n.pport = 0;
                    n.cport = 0;
                    n.link = None;
                }
                st.save_later(false);
                return false;
            }
        }
        if let Some(sn) = sender {
            let n = st.nodes.get_mut(&sn).expect("sender is known");
            n.flags = (n.flags & !flag::NOFAILOVER) | (h.flags & flag::NOFAILOVER);
            if h.ty == wire::PING && !n.has(flag::HANDSHAKE) {
                let ip = if h.myip.is_empty() {
                    ctx.peer_ip.clone()
                } else {
                    h.myip.clone()
                };
                update_address(&mut st, &sn, &ip, &h);
            }
        }
        if !ctx.inbound && h.ty == wire::PONG {
            let name = if link_node.is_some_and(|l| st.nodes.contains_key(&l)) {
                link_node
            } else {
                Some(h.sender)
            };
            if let Some(n) = name.and_then(|n| st.nodes.get_mut(&n)) {
                n.pong_received = now;
                n.ping_sent = 0;
                if n.has(flag::PFAIL) {
                    n.flags &= !flag::PFAIL;
                    st.save_later(false);
                } else if n.failed() {
                    let name = n.name;
                    super::failover::clear_failure_if_needed(&mut st, &s, &name, now);
                }
            }
        }
        if let Some(sn) = sender {
            role_switch(&mut st, &s, &sn, &h);
            let sender_master = {
                let n = &st.nodes[&sn];
                if n.is_master() {
                    Some(sn)
                } else {
                    n.slaveof
                }
            };
            let dirty = sender_master
                .and_then(|m| st.nodes.get(&m))
                .is_some_and(|m| m.slots.0[..] != h.myslots[..]);
            if st.nodes[&sn].is_master() && dirty {
                update_slots_config_with(&mut st, &s, &sn, h.config_epoch, &h.myslots);
            }
            if dirty {
                // The sender claims slots we know a newer owner of: tell it.
                for j in 0..SLOTS {
                    if h.myslots[j / 8] & (1 << (j % 8)) == 0 {
                        continue;
                    }
                    let Some(owner) = st.slots[j] else { continue };
                    if owner == sn {
                        continue;
                    }
                    let oe = st.nodes[&owner].config_epoch;
                    if oe > h.config_epoch {
                        let slots = st.nodes[&owner].slots.0.to_vec();
                        let msg = message(&st, &s, offset, 0, |snd| {
                            wire::build_update(snd, oe, &owner, &slots)
                        });
                        if let Some(l) = st.nodes[&sn].link.clone() {
                            l.send(msg);
                            st.sent[wire::UPDATE as usize] += 1;
                        }
                        break;
                    }
                }
            }
            // Two masters with one config epoch: the one with the greater
            // name takes a new epoch (clusterHandleConfigEpochCollision).
            if st.me().is_master()
                && st.nodes[&sn].is_master()
                && h.config_epoch == st.me().config_epoch
                && sn > st.myself
            {
                st.current_epoch += 1;
                let e = st.current_epoch;
                st.me_mut().config_epoch = e;
                st.save_later(true);
                crate::log::verbose(&format!(
                    "WARNING: configEpoch collision with node {}. configEpoch set to {e}",
                    super::nodes::name_str(&sn)
                ));
            }
            process_gossip(&mut st, &s, &sn, &wire::gossip(b, h.count), now, offset);
            let hostname = wire::hostname_ext(&h, b).unwrap_or_default();
            if let Some(n) = st.nodes.get_mut(&sn) {
                if n.hostname != hostname {
                    n.hostname = hostname;
                    st.save_later(false);
                }
            }
        }
    } else if h.ty == wire::FAIL {
        if sender.is_some() {
            let about = wire::fail_about(b);
            if let Some(n) = st.nodes.get_mut(&about) {
                if !n.has(flag::FAIL | flag::MYSELF) {
                    crate::log::notice(&format!(
                        "FAIL message received from {} about {}",
                        super::nodes::name_str(&h.sender),
                        super::nodes::name_str(&about)
                    ));
                    n.flags |= flag::FAIL;
                    n.flags &= !flag::PFAIL;
                    n.fail_time = now;
                    st.save_later(false);
                    st.update_state(s.require_full_coverage);
                }
            }
        }
    } else if h.ty == wire::PUBLISH || h.ty == wire::PUBLISHSHARD {
        if sender.is_some() {
            let (channel, msg) = wire::publish_data(b);
            drop(st);
            let limit = srv.config.read().client_output_buffer_limit.pubsub;
            srv.pubsub
                .publish(channel, msg, h.ty == wire::PUBLISHSHARD, &limit);
            return true;
        }
    } else if h.ty == wire::AUTH_REQUEST {
        if let Some(sn) = sender {
            super::failover::vote_if_needed(&mut st, &s, &sn, &h, now, offset);
        }
    } else if h.ty == wire::AUTH_ACK {
        if let Some(sn) = sender {
            let n = &st.nodes[&sn];
            if n.is_master() && n.numslots() > 0 && h.current_epoch >= st.election.auth_epoch {
                st.election.auth_count += 1;
            }
        }
    } else if h.ty == wire::MFSTART {
        if let Some(sn) = sender {
            if st.nodes[&sn].slaveof == Some(st.myself) && st.me().is_master() {
                st.election.mf_end = now + super::failover::MF_TIMEOUT;
                st.election.mf_slave = Some(sn);
                crate::log::warning(&format!(
                    "Manual failover requested by replica {}.",
                    super::nodes::name_str(&sn)
                ));
                let msg = ping_message(&st, &s, offset, wire::PING, Some(&sn));
                ctx.link.send(msg);
                st.sent[wire::PING as usize] += 1;
            }
        }
    } else if h.ty == wire::UPDATE && sender.is_some() {
        let (epoch, name, slots) = wire::update_data(b);
        if let Some(n) = st.nodes.get(&name) {
            if n.config_epoch < epoch {
                if n.is_slave() {
                    st.set_node_as_master(&name);
                }
                if let Some(n) = st.nodes.get_mut(&name) {
                    n.config_epoch = epoch;
                }
                st.save_later(true);
                let slots = slots.to_vec();
                update_slots_config_with(&mut st, &s, &name, epoch, &slots);
            }
        }
    }
    true
}

/// A known node announces another address (nodeUpdateAddressIfNeeded):
/// take it and reconnect.
fn update_address(st: &mut State, name: &NodeId, ip: &str, h: &Header) {
    let Some(n) = st.nodes.get_mut(name) else {
        return;
    };
    if n.has(flag::MYSELF) || ip.is_empty() {
        return;
    }
    if n.ip == ip && n.port == h.port && n.cport == h.cport && n.pport == h.pport {
        return;
    }
    n.ip = ip.to_string();
    n.port = h.port;
    n.pport = h.pport;
    n.cport = h.cport;
    n.flags &= !flag::NOADDR;
    n.link = None;
    st.save_later(false);
}

/// The sender says whether it is a master or whose replica it is.
fn role_switch(st: &mut State, s: &Settings, sn: &NodeId, h: &Header) {
    match h.slaveof {
        None => st.set_node_as_master(sn),
        Some(m) => {
            if st.nodes[sn].is_master() {
                st.del_node_slots(sn);
                let n = st.nodes.get_mut(sn).expect("sender is known");
                n.flags &= !(flag::MASTER | flag::MIGRATE_TO);
                n.flags |= flag::SLAVE;
                st.save_later(false);
                st.update_state(s.require_full_coverage);
            }
            if st.nodes.contains_key(&m) && st.nodes[sn].slaveof != Some(m) {
                st.nodes.get_mut(sn).expect("sender is known").slaveof = Some(m);
                st.save_later(false);
            }
        }
    }
}

/// A master claims slots with a config epoch: it takes those whose owner
/// has an older epoch (clusterUpdateSlotsConfigWith); this node follows it
/// if that left its own master without slots.
pub fn update_slots_config_with(
    st: &mut State,
    s: &Settings,
    sender: &NodeId,
    epoch: u64,
    slots: &[u8],
) {
    if *sender == st.myself {
        return;
    }
    let curmaster = st.my_master();
    let mut newmaster = false;
    let mut sender_slots = 0;
    let mut migrated = 0;
    for j in 0..SLOTS {
        if slots[j / 8] & (1 << (j % 8)) == 0 {
            continue;
        }
        sender_slots += 1;
        if st.slots[j] == Some(*sender) || st.importing.contains_key(&(j as u16)) {
            continue;
        }
        let older = match st.slots[j] {
            None => true,
            Some(o) => st.nodes.get(&o).is_none_or(|n| n.config_epoch < epoch),
        };
        if older {
            if st.slots[j] == Some(st.myself) {
                st.dirty_slots.push(j as u16);
            }
            if st.slots[j] == Some(curmaster) {
                newmaster = true;
                migrated += 1;
            }
            st.del_slot(j);
            st.add_slot(*sender, j);
            st.save_later(true);
        }
    }
    st.update_state(s.require_full_coverage);
    let cur_empty = st.nodes.get(&curmaster).is_some_and(|n| n.numslots() == 0);
    if newmaster && cur_empty && (s.allow_replica_migration || sender_slots == migrated) {
        crate::log::warning(&format!(
            "Configuration change detected. Reconfiguring myself as a replica of {}",
            super::nodes::name_str(sender)
        ));
        set_my_master(st, sender);
        st.dirty_slots.clear();
    }
}

/// Makes this node a replica of `master` (clusterSetMaster).
pub fn set_my_master(st: &mut State, master: &NodeId) {
    let me = st.myself;
    let (ip, port) = match st.nodes.get(master) {
        Some(m) => (m.ip.clone(), m.port),
        None => return,
    };
    let n = st.me_mut();
    if n.is_master() {
        n.flags &= !(flag::MASTER | flag::MIGRATE_TO);
        n.flags |= flag::SLAVE;
        st.migrating.clear();
        st.importing.clear();
    }
    st.nodes.get_mut(&me).expect("myself").slaveof = Some(*master);
    st.role_change = Some(Some((ip, port)));
    st.election = Default::default();
    st.save_later(true);
}

/// Gossip about third nodes: failure reports from masters, newer pong
/// times, and nodes we did not know (clusterProcessGossipSection).
fn process_gossip(
    st: &mut State,
    s: &Settings,
    sender: &NodeId,
    gossip: &[Gossip],
    now: i64,
    offset: i64,
) {
    let sender_is_master = st.nodes.get(sender).is_some_and(|n| n.is_master());
    for g in gossip {
        if st.nodes.contains_key(&g.name) {
            let failing = g.flags & (flag::FAIL | flag::PFAIL) != 0;
            if sender_is_master && g.name != st.myself {
                let n = st.nodes.get_mut(&g.name).expect("checked");
                n.fail_reports.retain(|(r, _)| r != sender);
                if failing {
                    n.fail_reports.push((*sender, now));
                    super::failover::mark_failing_if_needed(st, s, &g.name, now, offset);
                }
            }
            let n = st.nodes.get_mut(&g.name).expect("checked");
            if !failing && n.ping_sent == 0 && n.fail_reports.is_empty() {
                let pongtime = g.pong_received as i64 * 1000;
                if pongtime <= now + 500 && pongtime > n.pong_received {
                    n.pong_received = pongtime;
                }
            }
            if n.has(flag::FAIL | flag::PFAIL)
                && g.flags & flag::NOADDR == 0
                && !failing
                && (n.ip != g.ip || n.port != g.port || n.cport != g.cport)
            {
                n.link = None;
                n.ip = g.ip.clone();
                n.port = g.port;
                n.pport = g.pport;
                n.cport = g.cport;
                n.flags &= !flag::NOADDR;
            }
        } else if g.flags & flag::NOADDR == 0
            && !st
                .blacklist
                .iter()
                .any(|(b, until)| *b == g.name && *until > now)
            && super::nodes::parse_name(&g.name).is_some()
        {
            let mut n = Node::new(g.name, g.flags & !(flag::MYSELF | flag::MEET), now);
            n.ip = g.ip.clone();
            n.port = g.port;
            n.pport = g.pport;
            n.cport = g.cport;
            st.nodes.insert(g.name, n);
            st.save_later(false);
        }
    }
}

/// PUBLISH in cluster mode reaches every node's subscribers; SPUBLISH only
/// the nodes of this node's shard (clusterPropagatePublish).
pub fn propagate_publish(srv: &Server, channel: &[u8], msg: &[u8], shard: bool) {
    let Some(cluster) = &srv.cluster else { return };
    let s = cluster.settings();
    let offset = repl_offset(srv);
    let mut st = cluster.state.lock();
    let ty = if shard {
        wire::PUBLISHSHARD
    } else {
        wire::PUBLISH
    };
    let m = message(&st, &s, offset, 0, |snd| {
        wire::build_publish(snd, ty, channel, msg)
    });
    if !shard {
        broadcast(&mut st, &m, ty);
        return;
    }
    let master = st.my_master();
    let targets: Vec<Link> = st
        .nodes
        .values()
        .filter(|n| !n.has(flag::MYSELF) && (n.name == master || n.slaveof == Some(master)))
        .filter_map(|n| n.link.clone())
        .collect();
    st.sent[ty as usize] += targets.len() as u64;
    for l in targets {
        l.send(m.clone());
    }
}
