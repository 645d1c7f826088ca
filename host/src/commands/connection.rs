//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, SWAPDB, AUTH, HELLO
//! and CLIENT. They change the calling client's state more than the keyspace.

use super::keys::{container_help, reply_help};
use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::server::REDIS_COMPAT_VERSION;
use std::sync::atomic::Ordering;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, Group::Connection, ping).flags(FAST)
        .doc("1.0.0", "Returns the server's liveliness response.", "O(1)").syntax("[message]"),
    CommandSpec::new("echo", 2, Group::Connection, echo).flags(LOADING | STALE | FAST)
        .doc("1.0.0", "Returns the given string.", "O(1)").syntax("message"),
    CommandSpec::new("quit", -1, Group::Connection, quit).flags(ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH)
        .doc("1.0.0", "Closes the connection.", "O(1)"),
    CommandSpec::new("reset", 1, Group::Connection, reset).flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .doc("6.2.0", "Resets the connection.", "O(1)"),
    CommandSpec::new("select", 2, Group::Connection, select).flags(LOADING | STALE | FAST)
        .doc("1.0.0", "Changes the selected database.", "O(1)").syntax("index"),
    CommandSpec::new("swapdb", 3, Group::Server, swapdb).flags(WRITE | FAST | ALL_DBS).acl(&["keyspace", "dangerous"])
        .doc("4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.")
        .syntax("index1 index2"),
    CommandSpec::new("auth", -2, Group::Connection, auth).flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .doc("1.0.0", "Authenticates the connection.", "O(N) where N is the number of passwords defined for the user")
        .syntax("[username] password"),
    CommandSpec::new("hello", -1, Group::Connection, hello).flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .doc("6.0.0", "Handshakes with the Redis server.", "O(1)")
        .syntax("[protover [AUTH username password] [SETNAME clientname]]"),
    CommandSpec::new("client", -2, Group::Connection, container_help)
        .doc("2.4.0", "A container for client connection commands.", "Depends on subcommand.")
        .subcommands(CLIENT_SUBCOMMANDS),
];

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("id", 2, Group::Connection, client_id).flags(NOSCRIPT | LOADING | STALE)
        .doc("5.0.0", "Returns the unique client ID of the connection.", "O(1)"),
    CommandSpec::new("setname", 3, Group::Connection, client_setname).flags(NOSCRIPT | LOADING | STALE)
        .doc("2.6.9", "Sets the connection name.", "O(1)").syntax("connection-name"),
    CommandSpec::new("getname", 2, Group::Connection, client_getname).flags(NOSCRIPT | LOADING | STALE)
        .doc("2.6.9", "Returns the name of the connection.", "O(1)"),
    CommandSpec::new("list", -2, Group::Connection, client_list).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("2.4.0", "Lists open connections.", "O(N) where N is the number of client connections")
        .syntax("[TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]"),
    CommandSpec::new("info", 2, Group::Connection, client_info).flags(NOSCRIPT | LOADING | STALE)
        .doc("6.2.0", "Returns information about the connection.", "O(1)"),
    CommandSpec::new("kill", -3, Group::Connection, client_kill).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("2.4.0", "Terminates open connections.", "O(N) where N is the number of client connections")
        .syntax("<ip:port | <[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>]> [[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>] ...]>"),
    CommandSpec::new("no-evict", 3, Group::Connection, client_no_evict).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(&["dangerous"])
        .doc("7.0.0", "Sets the client eviction mode of the connection.", "O(1)")
        .syntax("<ON | OFF>"),
    CommandSpec::new("tracking", -3, Group::Connection, super::tracking::client_tracking).flags(NOSCRIPT | LOADING | STALE)
        .doc("6.0.0", "Enable or disable server assisted client side caching support", "O(1). Some options may introduce additional complexity.")
        .syntax("<ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]"),
    CommandSpec::new("caching", 3, Group::Connection, super::tracking::client_caching).flags(NOSCRIPT | LOADING | STALE)
        .doc("6.0.0", "Instruct the server about tracking or not keys in the next request", "O(1)")
        .syntax("<YES | NO>"),
    CommandSpec::new("getredir", 2, Group::Connection, super::tracking::client_getredir).flags(NOSCRIPT | LOADING | STALE)
        .doc("6.0.0", "Get tracking notifications redirection client ID if any", "O(1)"),
    CommandSpec::new("trackinginfo", 2, Group::Connection, super::tracking::client_trackinginfo).flags(NOSCRIPT | LOADING | STALE)
        .doc("6.2.0", "Return information about server assisted client side caching for the current connection", "O(1)"),
    CommandSpec::new("pause", -3, Group::Connection, super::pause::client_pause).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(&["dangerous"])
        .doc("2.9.50", "Stop processing commands from clients for some time", "O(1)")
        .syntax("timeout [WRITE | ALL]"),
    CommandSpec::new("unpause", 2, Group::Connection, super::pause::client_unpause).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(&["dangerous"])
        .doc("6.2.0", "Resume processing of clients that were paused", "O(N) Where N is the number of paused clients"),
    CommandSpec::new("reply", 3, Group::Connection, client_reply).flags(NOSCRIPT | LOADING | STALE)
        .doc("3.2.0", "Instruct the server whether to reply to commands", "O(1)")
        .syntax("<ON | OFF | SKIP>"),
    CommandSpec::new("unblock", -3, Group::Connection, client_unblock).flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(&["dangerous"])
        .doc("5.0.0", "Unblock a client blocked in a blocking command from a different connection", "O(log N) where N is the number of client connections")
        .syntax("client-id [TIMEOUT | ERROR]"),
    CommandSpec::new("help", 2, Group::Connection, client_help).flags(LOADING | STALE)
        .doc("5.0.0", "Returns helpful text about the different subcommands.", "O(1)"),
];

fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() <= 2 && super::pubsub::in_resp2_subscribed_mode(ctx.client) {
        // Subscribed RESP2 clients get PING answered as a pong message.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => {
            return Err(CmdError::err(
                "ERR wrong number of arguments for 'ping' command",
            ))
        }
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.close = true;
    ctx.out.ok();
    Ok(())
}

fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.set_multi(false);
    super::pubsub::drain_own_messages(ctx);
    super::pubsub::unsubscribe_all(ctx.srv, ctx.client);
    super::tx::unwatch_all(ctx.srv, ctx.client);
    super::monitor::stop(ctx.srv, ctx.client);
    ctx.srv.tracking.disable(ctx.client);
    ctx.client.reply_off = false;
    ctx.client.reply_skip = false;
    ctx.client.reply_skip_next = false;
    ctx.client
        .shared
        .set_flag(crate::server::client::FLAG_NO_EVICT, false);
    ctx.client.select(0);
    ctx.out.resp3 = false;
    ctx.client.shared.resp.store(2, Ordering::Relaxed);
    *ctx.client.shared.name.lock() = None;
    ctx.client.set_user(None);
    ctx.client.authenticated = !ctx.srv.auth_required();
    ctx.out.simple("RESET");
    Ok(())
}

/// A database index argument with Redis's error texts for SELECT/SWAPDB.
fn db_arg(ctx: &Ctx, arg: &[u8], invalid: &'static str) -> Result<usize, CmdError> {
    let id = crate::util::num::parse_i64(arg)
        .filter(|v| *v >= i32::MIN as i64 && *v <= i32::MAX as i64)
        .ok_or(CmdError::err(invalid))?;
    if id < 0 || id as usize >= ctx.srv.store.databases() {
        return Err(CmdError::err("ERR DB index is out of range"));
    }
    Ok(id as usize)
}

fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = super::arg_i32(argv[1])?;
    if ctx.srv.cluster.is_some() && id != 0 {
        return Err(CmdError::err("ERR SELECT is not allowed in cluster mode"));
    }
    if id < 0 || id as usize >= ctx.srv.store.databases() {
        return Err(CmdError::err("ERR DB index is out of range"));
    }
    let db = id as usize;
    ctx.client.select(db);
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.cluster.is_some() {
        return Err(CmdError::err("ERR SWAPDB is not allowed in cluster mode"));
    }
    let a = db_arg(ctx, argv[1], "ERR invalid first DB index")?;
    let b = db_arg(ctx, argv[2], "ERR invalid second DB index")?;
    ctx.ks.swap_dbs(a, b);
    ctx.out.ok();
    Ok(())
}

use super::acl::authenticate;

fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (user, pass) = match argv.len() {
        2 => {
            if ctx.srv.acl.default_user().nopass() {
                return Err(CmdError::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (&b"default"[..], argv[1])
        }
        3 => (argv[1], argv[2]),
        _ => return Err(CmdError::Syntax),
    };
    authenticate(ctx, argv[0], user, pass)?;
    ctx.out.ok();
    Ok(())
}

fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ver = None;
    let mut j = 1;
    if argv.len() >= 2 {
        let v = crate::util::num::parse_i64(argv[1]).ok_or(CmdError::err(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::err("NOPROTO unsupported protocol version"));
        }
        ver = Some(v);
        j = 2;
    }
    // Options apply in order, as Redis's helloCommand: an AUTH or SETNAME
    // before a bad option has taken effect.
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ic(argv[j], "auth") && more >= 2 {
            authenticate(ctx, argv[0], argv[j + 1], argv[j + 2])?;
            j += 3;
        } else if eq_ic(argv[j], "setname") && more >= 1 {
            set_client_name(ctx, argv[j + 1])?;
            j += 2;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(argv[j])
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(v) = ver {
        ctx.out.resp3 = v == 3;
        if let Some(s) = &ctx.client.sub {
            s.subscriber.resp3.store(v == 3, Ordering::Relaxed);
        }
        ctx.client.shared.resp.store(v as u8, Ordering::Relaxed);
    }
    let proto = if ctx.out.resp3 { 3 } else { 2 };
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(REDIS_COMPAT_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(proto);
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.id() as i64);
    ctx.out.bulk(b"mode");
    ctx.out.bulk(b"standalone");
    ctx.out.bulk(b"role");
    ctx.out.bulk(if ctx.srv.repl.is_replica() {
        b"replica"
    } else {
        b"master"
    });
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
    Ok(())
}

fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

/// Names may not contain spaces or special characters (they appear in CLIENT LIST).
fn set_client_name(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.client.shared.name.lock() = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    Ok(())
}

fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_client_name(ctx, argv[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let name = ctx.client.shared.name.lock().clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// A CLIENT LIST / CLIENT KILL `TYPE`: the client flags it selects (0:
/// normal, none of them), as Redis's getClientType classes clients.
fn check_client_type(t: &[u8]) -> Result<u32, CmdError> {
    use crate::server::client::{FLAG_MASTER, FLAG_PUBSUB, FLAG_REPLICA};
    for (known, flag) in [
        ("normal", 0),
        ("master", FLAG_MASTER),
        ("replica", FLAG_REPLICA),
        ("slave", FLAG_REPLICA),
        ("pubsub", FLAG_PUBSUB),
    ] {
        if eq_ic(t, known) {
            return Ok(flag);
        }
    }
    Err(CmdError::owned(format!(
        "ERR Unknown client type '{}'",
        String::from_utf8_lossy(t)
    )))
}

/// Whether a client is of the class `TYPE` selected (a master link, then a
/// replica, then a subscriber, else normal: Redis's order).
fn is_type(c: &crate::server::client::ClientShared, class: u32) -> bool {
    use crate::server::client::{FLAG_MASTER, FLAG_PUBSUB, FLAG_REPLICA};
    let f = c.flags.load(Ordering::Relaxed);
    let actual = [FLAG_MASTER, FLAG_REPLICA, FLAG_PUBSUB]
        .into_iter()
        .find(|&x| f & x != 0)
        .unwrap_or(0);
    actual == class
}

/// Runs `f` with the caller's argv-mem set to its CLIENT LIST/INFO command,
/// as Redis reports the running command's arguments.
fn with_argv_mem<R>(ctx: &mut Ctx, argv: &[&[u8]], f: impl FnOnce(&mut Ctx) -> R) -> R {
    let mem = argv.iter().map(|a| a.len()).sum();
    ctx.client.shared.argv_mem.store(mem, Ordering::Relaxed);
    let r = f(ctx);
    ctx.client.shared.argv_mem.store(0, Ordering::Relaxed);
    r
}

fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    with_argv_mem(ctx, argv, |ctx| list_clients(ctx, argv))
}

fn list_clients(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut text = String::new();
    let mut line = |c: &crate::server::client::ClientShared| {
        text.push_str(&c.info_line(&ctx.srv.commands));
        text.push('\n');
    };
    if argv.len() == 4 && eq_ic(argv[2], "type") {
        let class = check_client_type(argv[3])?;
        ctx.srv
            .clients
            .all()
            .iter()
            .filter(|c| is_type(c, class))
            .for_each(|c| line(c));
    } else if argv.len() >= 4 && eq_ic(argv[2], "id") {
        // In the order given, repeats included, unknown ids skipped (Redis).
        for a in &argv[3..] {
            let id =
                crate::util::num::parse_i64(a).ok_or(CmdError::err("ERR Invalid client ID"))?;
            if let Some(c) = u64::try_from(id)
                .ok()
                .and_then(|id| ctx.srv.clients.get(id))
            {
                line(&c);
            }
        }
    } else if argv.len() == 2 {
        ctx.srv.clients.all().iter().for_each(|c| line(c));
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut line = with_argv_mem(ctx, argv, |ctx| {
        ctx.client.shared.info_line(&ctx.srv.commands)
    });
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Old form: CLIENT KILL addr:port.
    if argv.len() == 3 {
        let addr = String::from_utf8_lossy(argv[2]);
        let target = ctx
            .srv
            .clients
            .all()
            .into_iter()
            // A client killed a moment ago is gone for Redis already.
            .find(|c| c.addr.to_string() == addr && !c.killed.load(Ordering::Acquire));
        let Some(target) = target else {
            return Err(CmdError::err("ERR No such client"));
        };
        kill(ctx, &target);
        ctx.out.ok();
        return Ok(());
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut class) = (None, None, None, true, None);
    let mut user: Option<&[u8]> = None;
    let mut maxage: Option<u64> = None;
    let mut j = 2;
    while j < argv.len() {
        let Some(val) = argv.get(j + 1) else {
            return Err(CmdError::Syntax);
        };
        let opt = argv[j];
        if eq_ic(opt, "id") {
            // Redis's getRangeLongFromObjectOrReply with its own message
            // for every failure.
            match crate::util::num::parse_i64(val) {
                Some(v) if v >= 1 => id = Some(v as u64),
                _ => return Err(CmdError::err("ERR client-id should be greater than 0")),
            }
        } else if eq_ic(opt, "type") {
            class = Some(check_client_type(val)?);
        } else if eq_ic(opt, "addr") {
            addr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ic(opt, "laddr") {
            laddr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ic(opt, "maxage") {
            // Redis 7.4's filter: connections older than this many seconds.
            let v = super::arg_i64(val)?;
            maxage = (v > 0).then_some(v as u64);
        } else if eq_ic(opt, "user") {
            user = Some(val);
            if ctx.srv.acl.get(val).is_none() {
                return Err(CmdError::owned(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(val)
                )));
            }
        } else if eq_ic(opt, "skipme") {
            if eq_ic(val, "yes") {
                skipme = true;
            } else if eq_ic(val, "no") {
                skipme = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let me = ctx.client.id();
    let mut killed = 0;
    for c in ctx.srv.clients.all() {
        let matches = !c.killed.load(Ordering::Acquire)
            && id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
            && class.is_none_or(|t| is_type(&c, t))
            && user.is_none_or(|u| c.user_name().as_bytes() == u)
            && maxage.is_none_or(|m| c.created.elapsed().as_secs() > m)
            && !(skipme && c.id == me);
        if matches {
            kill(ctx, &c);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Closes a client: ourselves after this reply, others right away.
fn kill(ctx: &mut Ctx, target: &crate::server::client::ClientShared) {
    if target.id == ctx.client.id() {
        ctx.client.close = true;
    } else {
        target.kill();
    }
}

/// CLIENT REPLY ON|OFF|SKIP (the dispatcher drops the replies, see
/// `commands::execute`). OFF and SKIP have no reply of their own.
fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if eq_ic(argv[2], "on") {
        ctx.client.reply_off = false;
        ctx.client.reply_skip = false;
        ctx.client.reply_skip_next = false;
        ctx.out.ok();
    } else if eq_ic(argv[2], "off") {
        ctx.client.reply_off = true;
    } else if eq_ic(argv[2], "skip") {
        if !ctx.client.reply_off {
            ctx.client.reply_skip_next = true;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking
/// command as if it timed out, or with an -UNBLOCKED error.
fn client_unblock(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let mut how = 1;
    if argv.len() == 4 {
        if eq_ic(argv[3], "error") {
            how = 2;
        } else if !eq_ic(argv[3], "timeout") {
            return Err(CmdError::err(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let id = super::arg_i64(argv[2])?;
    let target = u64::try_from(id).ok().and_then(|i| ctx.srv.clients.get(i));
    let mut done = 0;
    if let Some(t) = target {
        let waiter = t.blocked_on.lock().clone();
        if let Some(w) = waiter {
            t.unblock.store(how, Ordering::Relaxed);
            // False when a writer served it first: its reply stands.
            if w.cancel() {
                done = 1;
            }
        }
    }
    ctx.out.int(done);
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF: exempts this client from `maxmemory-clients`.
fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let on = if eq_ic(argv[2], "on") {
        true
    } else if eq_ic(argv[2], "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    ctx.client
        .shared
        .set_flag(crate::server::client::FLAG_NO_EVICT, on);
    ctx.out.ok();
    Ok(())
}

fn client_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}
