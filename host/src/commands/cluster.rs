//! CLUSTER and its subcommands, ASKING, READONLY and READWRITE (Redis's
//! clusterCommand): argument checks and replies as redis-server 7.0 gives
//! them; the state they read and change is cluster/'s.

use super::keys::reply_help;
use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::cluster::nodes::{flag, name_str, Node, NodeId, State};
use crate::cluster::slots::{key_slot, SLOTS};
use crate::cluster::{bus, failover, routing, Cluster};
use crate::server::Server;

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    h: super::table::Handler,
    summary: &'static str,
    syntax: &'static str,
) -> CommandSpec {
    let since = match name.as_bytes() {
        b"addslotsrange" | b"delslotsrange" | b"shards" | b"links" => "7.0.0",
        b"replicas" => "5.0.0",
        _ => "3.0.0",
    };
    CommandSpec::new(name, arity, Group::Cluster, h)
        .flags(flags)
        .doc(since, summary, "O(1)")
        .syntax(syntax)
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cluster", -2, Group::Cluster, super::keys::container_help)
        .doc(
            "3.0.0",
            "A container for Redis Cluster commands.",
            "Depends on subcommand.",
        )
        .subcommands(SUBCOMMANDS),
    CommandSpec::new("asking", 1, Group::Cluster, asking)
        .flags(FAST)
        .acl(&["connection"])
        .doc(
            "3.0.0",
            "Signals that a cluster client is following an -ASK redirect.",
            "O(1)",
        ),
    CommandSpec::new("readonly", 1, Group::Cluster, readonly)
        .flags(LOADING | STALE | FAST)
        .acl(&["connection"])
        .doc(
            "3.0.0",
            "Enables read-only queries for a connection to a Redis Cluster replica node.",
            "O(1)",
        ),
    CommandSpec::new("readwrite", 1, Group::Cluster, readwrite)
        .flags(LOADING | STALE | FAST)
        .acl(&["connection"])
        .doc(
            "3.0.0",
            "Enables read-write queries for a connection to a Reids Cluster replica node.",
            "O(1)",
        ),
];

const SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "addslots",
        -3,
        ADMIN | STALE,
        addslots,
        "Assigns new hash slots to a node.",
        "slot [slot ...]",
    ),
    sub(
        "addslotsrange",
        -4,
        ADMIN | STALE,
        addslotsrange,
        "Assigns new hash slot ranges to a node.",
        "start-slot end-slot [start-slot end-slot ...]",
    ),
    sub(
        "bumpepoch",
        2,
        ADMIN | STALE,
        bumpepoch,
        "Advances the cluster config epoch.",
        "",
    ),
    sub(
        "count-failure-reports",
        3,
        ADMIN | STALE,
        count_failure_reports,
        "Returns the number of active failure reports active for a node.",
        "node-id",
    ),
    sub(
        "countkeysinslot",
        3,
        STALE,
        countkeysinslot,
        "Returns the number of keys in a hash slot.",
        "slot",
    ),
    sub(
        "delslots",
        -3,
        ADMIN | STALE,
        delslots,
        "Sets hash slots as unbound for a node.",
        "slot [slot ...]",
    ),
    sub(
        "delslotsrange",
        -4,
        ADMIN | STALE,
        delslotsrange,
        "Sets hash slot ranges as unbound for a node.",
        "start-slot end-slot [start-slot end-slot ...]",
    ),
    sub(
        "failover",
        -2,
        ADMIN | STALE,
        failover_cmd,
        "Forces a replica to perform a manual failover of its master.",
        "[FORCE|TAKEOVER]",
    ),
    sub(
        "flushslots",
        2,
        ADMIN | STALE,
        flushslots,
        "Deletes all slots information from a node.",
        "",
    ),
    sub(
        "forget",
        3,
        ADMIN | STALE,
        forget,
        "Removes a node from the nodes table.",
        "node-id",
    ),
    sub(
        "getkeysinslot",
        4,
        STALE,
        getkeysinslot,
        "Returns the key names in a hash slot.",
        "slot count",
    ),
    sub(
        "help",
        2,
        LOADING | STALE,
        help,
        "Returns helpful text about the different subcommands.",
        "",
    ),
    sub(
        "info",
        2,
        STALE,
        info,
        "Returns information about the state of a node.",
        "",
    ),
    sub(
        "keyslot",
        3,
        STALE,
        keyslot,
        "Returns the hash slot for a key.",
        "key",
    ),
    sub(
        "links",
        2,
        STALE,
        links,
        "Returns a list of all TCP links to and from peer nodes.",
        "",
    ),
    sub(
        "meet",
        -4,
        ADMIN | STALE,
        meet,
        "Forces a node to handshake with another node.",
        "ip port [cluster-bus-port]",
    ),
    sub("myid", 2, STALE, myid, "Returns the ID of a node.", ""),
    sub(
        "nodes",
        2,
        STALE,
        nodes,
        "Returns the cluster configuration for a node.",
        "",
    ),
    sub(
        "replicas",
        3,
        ADMIN | STALE,
        replicas,
        "Lists the replica nodes of a master node.",
        "node-id",
    ),
    sub(
        "replicate",
        3,
        ADMIN | STALE,
        replicate,
        "Configure a node as replica of a master node.",
        "node-id",
    ),
    sub(
        "reset",
        -2,
        ADMIN | NOSCRIPT | STALE,
        reset,
        "Resets a node.",
        "[HARD|SOFT]",
    ),
    sub(
        "saveconfig",
        2,
        ADMIN | STALE,
        saveconfig,
        "Forces a node to save the cluster configuration to disk.",
        "",
    ),
    sub(
        "set-config-epoch",
        3,
        ADMIN | STALE,
        set_config_epoch,
        "Sets the configuration epoch for a new node.",
        "config-epoch",
    ),
    sub(
        "setslot",
        -4,
        ADMIN | STALE,
        setslot,
        "Binds a hash slot to a node.",
        "slot IMPORTING node-id|MIGRATING node-id|NODE node-id|STABLE",
    ),
    sub(
        "shards",
        2,
        STALE,
        shards,
        "Returns the mapping of cluster slots to shards.",
        "",
    ),
    sub(
        "slaves",
        3,
        ADMIN | STALE,
        replicas,
        "Lists the replica nodes of a master node.",
        "node-id",
    ),
    sub(
        "slots",
        2,
        STALE,
        slots_cmd,
        "Returns the mapping of cluster slots to nodes.",
        "",
    ),
];

const DISABLED: &str = "ERR This instance has cluster support disabled";

fn cluster<'a>(ctx: &Ctx<'a, '_>) -> Result<&'a Cluster, CmdError> {
    ctx.srv.cluster.as_ref().ok_or(CmdError::err(DISABLED))
}

fn syntax_sub(argv: &[&[u8]]) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
        String::from_utf8_lossy(argv[1])
    ))
}

fn arg_str(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// The node a client names, if it is in the table (clusterLookupNode).
fn lookup(st: &State, a: &[u8]) -> Option<NodeId> {
    crate::cluster::nodes::parse_name(&a.to_ascii_lowercase()).filter(|n| st.nodes.contains_key(n))
}

/// getSlotOrReply.
fn slot_arg(a: &[u8]) -> Result<usize, CmdError> {
    crate::util::num::parse_i64(a)
        .filter(|s| (0..SLOTS as i64).contains(s))
        .map(|s| s as usize)
        .ok_or(CmdError::err("ERR Invalid or out of range slot"))
}

/// Keys of db 0 (the only one in cluster mode) in a slot, at most `max`.
fn keys_in_slot(srv: &Server, slot: usize, max: usize) -> Vec<Vec<u8>> {
    let now = super::unix_ms();
    let mut ks = srv.store.lock(&crate::store::LockPlan::Db(0), now);
    let mut out = Vec::new();
    for shard in ks.shards_of(0) {
        for e in shard.table().iter() {
            if out.len() >= max {
                return out;
            }
            if key_slot(e.key.as_slice()) as usize == slot && !e.is_expired(now) {
                out.push(e.key.as_slice().to_vec());
            }
        }
    }
    out
}

pub fn count_keys_in_slot(srv: &Server, slot: usize) -> usize {
    keys_in_slot(srv, slot, usize::MAX).len()
}

fn db_size(srv: &Server) -> usize {
    let mut ks = srv
        .store
        .lock(&crate::store::LockPlan::Db(0), super::unix_ms());
    ks.dbsize(0)
}

/// Saves and applies what a change left pending, then replies OK.
fn done(ctx: &mut Ctx, c: &Cluster) -> CmdResult {
    {
        let s = c.settings();
        let mut st = c.state.lock();
        st.update_state(s.require_full_coverage);
        st.save_later(false);
    }
    c.after_change(ctx.srv);
    ctx.out.ok();
    Ok(())
}

fn asking(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    ctx.client.cluster_asking = true;
    ctx.out.ok();
    Ok(())
}

fn readonly(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    ctx.client.cluster_readonly = true;
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    ctx.client.cluster_readonly = false;
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    reply_help(
        ctx,
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "BUMPEPOCH",
            "    Advance the cluster config epoch.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "FLUSHSLOTS",
            "    Delete current node own slots information.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "RESET [HARD|SOFT]",
            "    Reset current node (default: soft).",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set config epoch of current node.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Set slot state.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SAVECONFIG",
            "    Force saving cluster configuration on disk.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    );
    Ok(())
}

fn meet(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() > 5 {
        return Err(syntax_sub(argv));
    }
    let port = crate::util::num::parse_i64(argv[3]).ok_or_else(|| {
        CmdError::owned(format!(
            "ERR Invalid TCP base port specified: {}",
            arg_str(argv[3])
        ))
    })?;
    let cport = match argv.get(4) {
        Some(a) => crate::util::num::parse_i64(a).ok_or_else(|| {
            CmdError::owned(format!(
                "ERR Invalid TCP bus port specified: {}",
                arg_str(a)
            ))
        })?,
        None => port + crate::cluster::PORT_INCR as i64,
    };
    let ip: Option<std::net::IpAddr> = std::str::from_utf8(argv[2])
        .ok()
        .and_then(|s| s.parse().ok());
    let valid = |p: i64| (1..=65535).contains(&p);
    let (Some(ip), true, true) = (ip, valid(port), valid(cport)) else {
        return Err(CmdError::owned(format!(
            "ERR Invalid node address specified: {}:{}",
            arg_str(argv[2]),
            arg_str(argv[3])
        )));
    };
    let ip = ip.to_string();
    {
        let mut st = c.state.lock();
        let in_progress = st.nodes.values().any(|n| {
            n.has(flag::HANDSHAKE)
                && n.ip.eq_ignore_ascii_case(&ip)
                && n.port as i64 == port
                && n.cport as i64 == cport
        });
        if !in_progress {
            let name = crate::cluster::nodes::random_name();
            let mut n = Node::new(name, flag::HANDSHAKE | flag::MEET, super::unix_ms());
            n.ip = ip;
            n.port = port as u16;
            n.cport = cport as u16;
            st.nodes.insert(name, n);
        }
    }
    ctx.out.ok();
    Ok(())
}

fn nodes(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let text = c.state.lock().describe_all(0);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn myid(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let me = c.state.lock().myself;
    ctx.out.bulk(&me);
    Ok(())
}

/// One node in CLUSTER SLOTS: endpoint, port, id, and the other endpoints.
fn node_entry(ctx: &mut Ctx, s: &crate::cluster::Settings, n: &Node) {
    ctx.out.array(4);
    match s.preferred_endpoint {
        2 => ctx.out.null(),
        _ => ctx.out.bulk(routing::endpoint(s, n).as_bytes()),
    }
    ctx.out.int(n.port as i64);
    ctx.out.bulk(&n.name);
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if s.preferred_endpoint != 0 {
        extra.push(("ip", &n.ip));
    }
    if s.preferred_endpoint != 1 && !n.hostname.is_empty() {
        extra.push(("hostname", &n.hostname));
    }
    ctx.out.map(extra.len());
    for (k, v) in extra {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
}

/// Listed in CLUSTER SLOTS: not failed and synced at least once.
fn replica_available(srv: &Server, n: &Node) -> bool {
    if n.failed() {
        return false;
    }
    let off = if n.has(flag::MYSELF) {
        srv.repl.offset()
    } else {
        n.repl_offset
    };
    off != 0
}

fn slots_cmd(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let s = c.settings();
    let st = c.state.lock();
    let mut ranges: Vec<(usize, usize, NodeId)> = Vec::new();
    for (i, o) in st.slots.iter().enumerate() {
        let Some(o) = o else { continue };
        match ranges.last_mut() {
            Some(r) if r.2 == *o && r.1 + 1 == i => r.1 = i,
            _ => ranges.push((i, i, *o)),
        }
    }
    ctx.out.array(ranges.len());
    for (a, b, o) in ranges {
        let master = &st.nodes[&o];
        let reps: Vec<&Node> = st
            .replicas_of(&o)
            .into_iter()
            .filter(|r| replica_available(ctx.srv, r))
            .collect();
        ctx.out.array(3 + reps.len());
        ctx.out.int(a as i64);
        ctx.out.int(b as i64);
        node_entry(ctx, &s, master);
        for r in reps {
            node_entry(ctx, &s, r);
        }
    }
    Ok(())
}

fn shards(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let s = c.settings();
    let st = c.state.lock();
    let masters: Vec<&Node> = st.nodes.values().filter(|n| n.is_master()).collect();
    ctx.out.array(masters.len());
    for m in masters {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        let ranges = m.slots.ranges();
        ctx.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        let mut members = vec![m];
        members.extend(st.replicas_of(&m.name));
        ctx.out.array(members.len());
        for n in members {
            let offset = if n.has(flag::MYSELF) {
                ctx.srv.repl.offset()
            } else {
                n.repl_offset
            };
            let health = if n.failed() {
                "fail"
            } else if n.is_slave() && offset == 0 {
                "loading"
            } else {
                "online"
            };
            ctx.out.map(if n.hostname.is_empty() { 7 } else { 8 });
            ctx.out.bulk(b"id");
            ctx.out.bulk(&n.name);
            ctx.out.bulk(b"port");
            ctx.out.int(n.port as i64);
            ctx.out.bulk(b"ip");
            ctx.out.bulk(n.ip.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(routing::endpoint(&s, n).as_bytes());
            if !n.hostname.is_empty() {
                ctx.out.bulk(b"hostname");
                ctx.out.bulk(n.hostname.as_bytes());
            }
            ctx.out.bulk(b"role");
            ctx.out.bulk(if n.is_slave() {
                b"replica" as &[u8]
            } else {
                b"master"
            });
            ctx.out.bulk(b"replication-offset");
            ctx.out.int(offset);
            ctx.out.bulk(b"health");
            ctx.out.bulk(health.as_bytes());
        }
    }
    Ok(())
}

fn flushslots(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    if db_size(ctx.srv) != 0 {
        return Err(CmdError::err(
            "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.",
        ));
    }
    {
        let mut st = c.state.lock();
        let me = st.myself;
        st.del_node_slots(&me);
    }
    done(ctx, c)
}

/// ADDSLOTS/DELSLOTS and their RANGE forms once parsed (clusterUpdateSlots).
fn update_slots(ctx: &mut Ctx, c: &Cluster, ranges: &[(usize, usize)], del: bool) -> CmdResult {
    {
        let mut st = c.state.lock();
        let mut seen = vec![false; SLOTS];
        for &(a, b) in ranges {
            for (s, owner) in st.slots.iter().enumerate().take(b + 1).skip(a) {
                if del && owner.is_none() {
                    return Err(CmdError::owned(format!(
                        "ERR Slot {s} is already unassigned"
                    )));
                } else if !del && owner.is_some() {
                    return Err(CmdError::owned(format!("ERR Slot {s} is already busy")));
                }
                if std::mem::replace(&mut seen[s], true) {
                    return Err(CmdError::owned(format!(
                        "ERR Slot {s} specified multiple times"
                    )));
                }
            }
        }
        let me = st.myself;
        for (s, on) in seen.iter().enumerate() {
            if *on {
                st.importing.remove(&(s as u16));
                if del {
                    st.del_slot(s);
                } else {
                    st.add_slot(me, s);
                }
            }
        }
    }
    done(ctx, c)
}

fn addslots_generic(ctx: &mut Ctx, argv: &[&[u8]], del: bool) -> CmdResult {
    let c = cluster(ctx)?;
    let slots = argv[2..]
        .iter()
        .map(|a| slot_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    let ranges: Vec<(usize, usize)> = slots.iter().map(|&s| (s, s)).collect();
    update_slots(ctx, c, &ranges, del)
}

fn addslots(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    addslots_generic(ctx, argv, false)
}

fn delslots(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    addslots_generic(ctx, argv, true)
}

fn range_generic(ctx: &mut Ctx, argv: &[&[u8]], del: bool) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() % 2 == 1 {
        return Err(super::arity_error_named(if del {
            "cluster|delslotsrange"
        } else {
            "cluster|addslotsrange"
        }));
    }
    let mut ranges = Vec::new();
    for pair in argv[2..].chunks(2) {
        let a = slot_arg(pair[0])?;
        let b = slot_arg(pair[1])?;
        if a > b {
            return Err(CmdError::owned(format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            )));
        }
        ranges.push((a, b));
    }
    update_slots(ctx, c, &ranges, del)
}

fn addslotsrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

fn delslotsrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

fn setslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    if c.state.lock().me().is_slave() {
        return Err(CmdError::err("ERR Please use SETSLOT only with masters."));
    }
    let slot = slot_arg(argv[2])?;
    let action = argv[3];
    let target_arg = argv.get(4).copied().unwrap_or_default();
    let unknown_node =
        |prefix: &str| CmdError::owned(format!("ERR {prefix} {}", arg_str(target_arg)));
    let s = c.settings();
    let offset = bus::repl_offset(ctx.srv);
    if eq_ic(action, "migrating") && argv.len() == 5 {
        let mut st = c.state.lock();
        if st.slots[slot] != Some(st.myself) {
            return Err(CmdError::owned(format!(
                "ERR I'm not the owner of hash slot {slot}"
            )));
        }
        let n = lookup(&st, target_arg).ok_or_else(|| unknown_node("I don't know about node"))?;
        if st.nodes[&n].is_slave() {
            return Err(CmdError::err("ERR Target node is not a master"));
        }
        st.migrating.insert(slot as u16, n);
    } else if eq_ic(action, "importing") && argv.len() == 5 {
        let mut st = c.state.lock();
        if st.slots[slot] == Some(st.myself) {
            return Err(CmdError::owned(format!(
                "ERR I'm already the owner of hash slot {slot}"
            )));
        }
        let n = lookup(&st, target_arg).ok_or_else(|| unknown_node("I don't know about node"))?;
        if st.nodes[&n].is_slave() {
            return Err(CmdError::err("ERR Target node is not a master"));
        }
        st.importing.insert(slot as u16, n);
    } else if eq_ic(action, "stable") && argv.len() == 4 {
        let mut st = c.state.lock();
        st.importing.remove(&(slot as u16));
        st.migrating.remove(&(slot as u16));
    } else if eq_ic(action, "node") && argv.len() == 5 {
        let keys = count_keys_in_slot(ctx.srv, slot);
        let mut st = c.state.lock();
        let n = lookup(&st, target_arg).ok_or_else(|| unknown_node("Unknown node"))?;
        if st.nodes[&n].is_slave() {
            return Err(CmdError::err("ERR Target node is not a master"));
        }
        let me = st.myself;
        if st.slots[slot] == Some(me) && n != me && keys != 0 {
            return Err(CmdError::owned(format!(
                "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
            )));
        }
        if keys == 0 {
            st.migrating.remove(&(slot as u16));
        }
        let was_mine = st.slots[slot] == Some(me);
        st.del_slot(slot);
        st.add_slot(n, slot);
        if was_mine && n != me && st.me().numslots() == 0 && s.allow_replica_migration {
            crate::log::warning(&format!(
                "Configuration change detected. Reconfiguring myself as a replica of {}",
                name_str(&n)
            ));
            bus::set_my_master(&mut st, &n);
        }
        if n == me && st.importing.remove(&(slot as u16)).is_some() {
            if st.bump_epoch_without_consensus() {
                crate::log::warning(&format!("configEpoch updated after importing slot {slot}"));
            }
            bus::broadcast_pong(&mut st, &s, offset, false);
        }
    } else {
        return Err(CmdError::err(
            "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        ));
    }
    done(ctx, c)
}

fn bumpepoch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let (bumped, epoch) = {
        let mut st = c.state.lock();
        let b = st.bump_epoch_without_consensus();
        (b, st.me().config_epoch)
    };
    c.after_change(ctx.srv);
    ctx.out.simple(&format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ));
    Ok(())
}

fn info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let st = c.state.lock();
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for o in st.slots.iter().flatten() {
        assigned += 1;
        match st.nodes.get(o) {
            Some(n) if n.failed() => fail += 1,
            Some(n) if n.has(flag::PFAIL) => pfail += 1,
            _ => ok += 1,
        }
    }
    let me = st.me();
    let my_epoch = match me
        .slaveof
        .filter(|_| me.is_slave())
        .and_then(|m| st.nodes.get(&m))
    {
        Some(m) => m.config_epoch,
        None => me.config_epoch,
    };
    let mut s = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
        if st.ok { "ok" } else { "fail" },
        st.nodes.len(),
        st.size,
        st.current_epoch,
    );
    let mut total = 0;
    for (i, n) in st.sent.iter().enumerate() {
        if *n > 0 {
            total += n;
            s.push_str(&format!(
                "cluster_stats_messages_{}_sent:{n}\r\n",
                crate::cluster::wire::TYPE_NAMES[i]
            ));
        }
    }
    s.push_str(&format!("cluster_stats_messages_sent:{total}\r\n"));
    let mut total = 0;
    for (i, n) in st.received.iter().enumerate() {
        if *n > 0 {
            total += n;
            s.push_str(&format!(
                "cluster_stats_messages_{}_received:{n}\r\n",
                crate::cluster::wire::TYPE_NAMES[i]
            ));
        }
    }
    s.push_str(&format!("cluster_stats_messages_received:{total}\r\n"));
    s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    ctx.out.verbatim(s.as_bytes());
    Ok(())
}

fn saveconfig(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    match c.save() {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::owned(format!(
            "ERR error saving the cluster node config: {}",
            e.to_string().split(" (os error").next().unwrap_or_default()
        ))),
    }
}

fn keyslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(key_slot(argv[2]) as i64);
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    let slot = super::arg_i64(argv[2])?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(CmdError::err("ERR Invalid slot"));
    }
    ctx.out
        .int(count_keys_in_slot(ctx.srv, slot as usize) as i64);
    Ok(())
}

fn getkeysinslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    cluster(ctx)?;
    let slot = super::arg_i64(argv[2])?;
    let max = super::arg_i64(argv[3])?;
    if !(0..SLOTS as i64).contains(&slot) || max < 0 {
        return Err(CmdError::err("ERR Invalid slot or number of keys"));
    }
    let keys = keys_in_slot(ctx.srv, slot as usize, max as usize);
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn forget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    {
        let mut st = c.state.lock();
        let n = lookup(&st, argv[2])
            .ok_or_else(|| CmdError::owned(format!("ERR Unknown node {}", arg_str(argv[2]))))?;
        if n == st.myself {
            return Err(CmdError::err(
                "ERR I tried hard but I can't forget myself...",
            ));
        }
        if st.me().is_slave() && st.me().slaveof == Some(n) {
            return Err(CmdError::err("ERR Can't forget my master!"));
        }
        let until = super::unix_ms() + 60_000;
        st.blacklist.retain(|(b, _)| *b != n);
        st.blacklist.push((n, until));
        st.del_node(&n);
    }
    done(ctx, c)
}

fn replicate(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let keys = db_size(ctx.srv);
    {
        let mut st = c.state.lock();
        let n = lookup(&st, argv[2])
            .ok_or_else(|| CmdError::owned(format!("ERR Unknown node {}", arg_str(argv[2]))))?;
        if n == st.myself {
            return Err(CmdError::err("ERR Can't replicate myself"));
        }
        if st.nodes[&n].is_slave() {
            return Err(CmdError::err(
                "ERR I can only replicate a master, not a replica.",
            ));
        }
        if st.me().is_master() && (st.me().numslots() != 0 || keys != 0) {
            return Err(CmdError::err(
                "ERR To set a master the node must be empty and without assigned slots.",
            ));
        }
        bus::set_my_master(&mut st, &n);
    }
    done(ctx, c)
}

fn replicas(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let st = c.state.lock();
    let n = lookup(&st, argv[2])
        .ok_or_else(|| CmdError::owned(format!("ERR Unknown node {}", arg_str(argv[2]))))?;
    if st.nodes[&n].is_slave() {
        return Err(CmdError::err("ERR The specified node is not a master"));
    }
    let lines: Vec<String> = st.replicas_of(&n).iter().map(|r| st.describe(r)).collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

fn count_failure_reports(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let s = c.settings();
    let mut st = c.state.lock();
    let n = lookup(&st, argv[2])
        .ok_or_else(|| CmdError::owned(format!("ERR Unknown node {}", arg_str(argv[2]))))?;
    let now = super::unix_ms();
    let node = st.nodes.get_mut(&n).expect("looked up");
    node.fail_reports
        .retain(|(_, t)| now - t <= s.node_timeout * 2);
    ctx.out.int(node.fail_reports.len() as i64);
    Ok(())
}

fn failover_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() > 3 {
        return Err(syntax_sub(argv));
    }
    let (mut force, mut takeover) = (false, false);
    if let Some(a) = argv.get(2) {
        if eq_ic(a, "force") {
            force = true;
        } else if eq_ic(a, "takeover") {
            takeover = true;
            force = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let s = c.settings();
    let offset = bus::repl_offset(ctx.srv);
    {
        let mut st = c.state.lock();
        let me = st.me();
        if me.is_master() {
            return Err(CmdError::err(
                "ERR You should send CLUSTER FAILOVER to a replica",
            ));
        }
        let Some(master) = me.slaveof.filter(|m| st.nodes.contains_key(m)) else {
            return Err(CmdError::err(
                "ERR I'm a replica but my master is unknown to me",
            ));
        };
        let m = &st.nodes[&master];
        if !force && (m.failed() || m.link.is_none()) {
            return Err(CmdError::err(
                "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE",
            ));
        }
        st.election.reset_manual();
        st.election.mf_end = super::unix_ms() + failover::MF_TIMEOUT;
        if takeover {
            crate::log::warning("Taking over the master (user request).");
            st.bump_epoch_without_consensus();
            failover::replace_my_master(&mut st, &s, offset);
        } else if force {
            crate::log::warning("Forced failover user request accepted.");
            st.election.mf_can_start = true;
        } else {
            crate::log::warning("Manual failover user request accepted.");
            let msg = bus::message(&st, &s, offset, 0, |snd| {
                crate::cluster::wire::build(snd, crate::cluster::wire::MFSTART, 0)
            });
            if let Some(l) = st.nodes[&master].link.clone() {
                l.send(msg);
                st.sent[crate::cluster::wire::MFSTART as usize] += 1;
            }
        }
    }
    c.after_change(ctx.srv);
    ctx.out.ok();
    Ok(())
}

fn set_config_epoch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let epoch = super::arg_i64(argv[2])?;
    {
        let mut st = c.state.lock();
        if epoch < 0 {
            return Err(CmdError::owned(format!(
                "ERR Invalid config epoch specified: {epoch}"
            )));
        } else if st.nodes.len() > 1 {
            return Err(CmdError::err(
                "ERR The user can assign a config epoch only when the node does not know any other node.",
            ));
        } else if st.me().config_epoch != 0 {
            return Err(CmdError::err("ERR Node config epoch is already non-zero"));
        }
        st.me_mut().config_epoch = epoch as u64;
        crate::log::warning(&format!(
            "configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH"
        ));
        if st.current_epoch < epoch as u64 {
            st.current_epoch = epoch as u64;
        }
    }
    done(ctx, c)
}

fn reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() > 3 {
        return Err(syntax_sub(argv));
    }
    let hard = match argv.get(2) {
        None => false,
        Some(a) if eq_ic(a, "hard") => true,
        Some(a) if eq_ic(a, "soft") => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    let keys = db_size(ctx.srv);
    let was_slave = {
        let st = c.state.lock();
        if st.me().is_master() && keys != 0 {
            return Err(CmdError::err(
                "ERR CLUSTER RESET can't be called with master nodes containing keys",
            ));
        }
        st.me().is_slave()
    };
    if was_slave {
        crate::repl::replica::unset_master(ctx.srv);
        let mut ks = ctx
            .srv
            .store
            .lock(&crate::store::LockPlan::Db(0), super::unix_ms());
        drop(ks.flush_db(0));
    }
    {
        let mut st = c.state.lock();
        let me = st.myself;
        {
            let n = st.me_mut();
            n.flags &= !flag::SLAVE;
            n.flags |= flag::MASTER;
            n.slaveof = None;
        }
        st.migrating.clear();
        st.importing.clear();
        st.del_node_slots(&me);
        let others: Vec<NodeId> = st.nodes.keys().copied().filter(|n| *n != me).collect();
        for n in others {
            st.del_node(&n);
        }
        st.election = Default::default();
        if hard {
            st.current_epoch = 0;
            st.last_vote_epoch = 0;
            st.me_mut().config_epoch = 0;
            crate::log::warning("configEpoch set to 0 via CLUSTER RESET HARD");
            let mut n = st.nodes.remove(&me).expect("myself");
            let new = crate::cluster::nodes::random_name();
            n.name = new;
            st.nodes.insert(new, n);
            st.myself = new;
            crate::log::notice(&format!("Node hard reset, now I'm {}", name_str(&new)));
        }
        st.role_change = None;
    }
    done(ctx, c)
}

fn links(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = cluster(ctx)?;
    let st = c.state.lock();
    let mut all: Vec<(&str, &NodeId, i64)> = Vec::new();
    for n in st.nodes.values() {
        if let Some(l) = &n.link {
            all.push(("to", &n.name, l.ctime));
        }
        if let Some(l) = &n.inbound {
            all.push(("from", &n.name, l.ctime));
        }
    }
    ctx.out.array(all.len());
    for (dir, name, ctime) in all {
        ctx.out.map(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(dir.as_bytes());
        ctx.out.bulk(b"node");
        ctx.out.bulk(name);
        ctx.out.bulk(b"create-time");
        ctx.out.int(ctime);
        ctx.out.bulk(b"events");
        ctx.out.bulk(b"r");
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(0);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(0);
    }
    Ok(())
}
