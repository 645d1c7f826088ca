//! Which node serves a command (Redis's getNodeByQuery and
//! clusterRedirectClient): the keys the command table's key specs find,
//! for EXEC those of every queued command, must share one slot; that slot's
//! owner serves it, else MOVED; a slot being migrated answers ASK for keys
//! already gone and TRYAGAIN for a multi-key request split between the two
//! nodes; CLUSTERDOWN when the cluster is down or the slot has no owner.

use super::nodes::{name_str, NodeId};
use super::slots::key_slot;
use crate::commands::table::{flags, Command, CommandSpec};
use crate::server::client::Client;
use crate::server::Server;

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const DOWN: &str = "CLUSTERDOWN The cluster is down";
pub const DOWN_RO: &str = "CLUSTERDOWN The cluster is down and only accepts read commands";
pub const UNBOUND: &str = "CLUSTERDOWN Hash slot not served";

/// The redirection or error for a command this node must not run, or
/// None to run it here. Also consumes the client's ASKING flag.
pub fn check(srv: &Server, client: &mut Client, cmd: &Command, argv: &[&[u8]]) -> Option<String> {
    let cluster = srv.cluster.as_ref()?;
    let asking = client.cluster_asking;
    if cmd.spec.name != "asking" && client.multi.is_none() {
        client.cluster_asking = false;
    }
    if client.master || client.loader {
        return None;
    }
    let is_exec = cmd.spec.name == "exec";
    if !is_exec && !has_keys(&cmd.spec) {
        return None;
    }
    // The keys of the command, or of the transaction EXEC would run.
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut write = cmd.spec.has(flags::WRITE);
    if is_exec {
        let m = client.multi.as_ref()?;
        for q in &m.queue {
            let qargv: Vec<&[u8]> = q.argv.iter().map(|a| a.as_slice()).collect();
            q.cmd.spec.for_each_key_index(&qargv, |i| {
                if let Some(k) = q.argv.get(i) {
                    keys.push(k.as_slice());
                }
            });
            write |= q.cmd.spec.has(flags::WRITE);
        }
    } else {
        cmd.spec.for_each_key_index(argv, |i| {
            if let Some(k) = argv.get(i) {
                keys.push(k);
            }
        });
    }
    let pubsubshard = matches!(cmd.spec.name, "ssubscribe" | "sunsubscribe" | "spublish");
    let first = *keys.first()?;
    let slot = key_slot(first);
    let mut multiple = false;
    for k in &keys[1..] {
        if *k != first {
            if key_slot(k) != slot {
                return Some(CROSSSLOT.into());
            }
            multiple = true;
        }
    }
    let s = cluster.settings();
    let (owner, me, migrating_to, importing, cluster_ok, my_master) = {
        let st = cluster.state.lock();
        let owner = st.slots[slot as usize];
        let me = st.myself;
        let my_master = st.me().slaveof.filter(|_| st.me().is_slave());
        let migrating_to = st
            .migrating
            .get(&slot)
            .copied()
            .filter(|_| owner == Some(me));
        let importing = migrating_to.is_none() && st.importing.contains_key(&slot);
        (owner, me, migrating_to, importing, st.ok, my_master)
    };
    let Some(owner) = owner else {
        return Some(UNBOUND.into());
    };
    if !cluster_ok {
        if pubsubshard {
            if !s.allow_pubsubshard_when_down {
                return Some(DOWN.into());
            }
        } else if !s.allow_reads_when_down {
            return Some(DOWN.into());
        } else if write {
            return Some(DOWN_RO.into());
        }
    }
    if (migrating_to.is_some() || importing) && cmd.spec.name == "migrate" {
        return None;
    }
    if (migrating_to.is_some() || importing) && !pubsubshard {
        let (existing, missing) = count_existing(srv, &keys);
        if let Some(to) = migrating_to {
            if missing > 0 {
                if existing > 0 {
                    return Some(TRYAGAIN.into());
                }
                return Some(redirect(cluster, "ASK", slot, &to));
            }
        }
        if importing && (asking || cmd.spec.name == "restore-asking") {
            if multiple && missing > 0 {
                return Some(TRYAGAIN.into());
            }
            return None;
        }
    }
    if (client.cluster_readonly || pubsubshard) && !write && my_master == Some(owner) {
        return None;
    }
    if owner != me {
        return Some(redirect(cluster, "MOVED", slot, &owner));
    }
    None
}

/// Whether a command has keys at all (Redis routes only those and EXEC).
fn has_keys(spec: &CommandSpec) -> bool {
    spec.first_key > 0 || spec.key_finder.is_some()
}

/// `MOVED <slot> <endpoint>:<port>` or `ASK ...`.
fn redirect(cluster: &super::Cluster, kind: &str, slot: u16, node: &NodeId) -> String {
    let st = cluster.state.lock();
    let s = cluster.settings();
    match st.nodes.get(node) {
        Some(n) => format!("{kind} {slot} {}:{}", endpoint(&s, n), n.port),
        None => format!("{kind} {slot} {}:0", name_str(node)),
    }
}

/// The address clients are told (cluster-preferred-endpoint-type).
pub fn endpoint<'a>(s: &super::Settings, n: &'a super::nodes::Node) -> &'a str {
    match s.preferred_endpoint {
        1 if n.hostname.is_empty() => "?",
        1 => &n.hostname,
        2 => "",
        _ => &n.ip,
    }
}

/// (existing, missing) among the keys, in db 0 (cluster mode has one).
fn count_existing(srv: &Server, keys: &[&[u8]]) -> (usize, usize) {
    let now = crate::commands::unix_ms();
    let mut existing = 0;
    for k in keys {
        let plan = crate::store::LockPlan::Shards(smallvec::smallvec![srv.store.slot(0, k)]);
        let mut ks = srv.store.lock(&plan, now);
        if ks.peek(0, k).is_some() {
            existing += 1;
        }
    }
    (existing, keys.len() - existing)
}
