//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO: the client's side
//! of client-side caching. The table and the invalidations live in
//! server/tracking.rs; here are the options, their checks and error texts
//! (Redis 7.0's clientCommand), and the dispatcher's two hooks.

use super::table::{flags, Command};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::server::client::Client;
use crate::server::reply::Out;
use crate::server::tracking::{BCAST, NOLOOP, ON, OPTIN, OPTOUT};
use crate::server::Server;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP].
pub fn client_tracking(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut redirect: Option<i64> = None;
    let mut redirect_to = None;
    let mut mode = 0u8;
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = argv[j];
        if eq_ic(a, "redirect") && more {
            j += 1;
            if redirect.is_some_and(|r| r != 0) {
                return Err(CmdError::err(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = super::arg_i64(argv[j])?;
            let target = u64::try_from(id).ok().and_then(|i| ctx.srv.clients.get(i));
            let Some(target) = target else {
                return Err(CmdError::err(
                    "ERR The client ID you want redirect to does not exist",
                ));
            };
            redirect_to = Some(std::sync::Arc::downgrade(&target));
            redirect = Some(id);
        } else if eq_ic(a, "bcast") {
            mode |= BCAST;
        } else if eq_ic(a, "optin") {
            mode |= OPTIN;
        } else if eq_ic(a, "optout") {
            mode |= OPTOUT;
        } else if eq_ic(a, "noloop") {
            mode |= NOLOOP;
        } else if eq_ic(a, "prefix") && more {
            j += 1;
            prefixes.push(argv[j].to_vec());
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let cur = ctx.client.tracking;
    if eq_ic(argv[2], "on") {
        if mode & BCAST == 0 && !prefixes.is_empty() {
            return Err(CmdError::err(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if cur & ON != 0 && (cur & BCAST) != (mode & BCAST) {
            return Err(CmdError::err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if mode & BCAST != 0 && mode & (OPTIN | OPTOUT) != 0 {
            return Err(CmdError::err(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if mode & OPTIN != 0 && mode & OPTOUT != 0 {
            return Err(CmdError::err(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if (mode & OPTIN != 0 && cur & OPTOUT != 0) || (mode & OPTOUT != 0 && cur & OPTIN != 0) {
            return Err(CmdError::err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if mode & BCAST != 0 {
            check_prefixes(ctx, &prefixes)?;
        }
        let redirect = redirect.unwrap_or(0) as u64;
        let redirect_to = redirect_to.filter(|_| redirect != 0);
        ctx.srv
            .tracking
            .enable(ctx.client, mode, redirect, redirect_to, &prefixes);
    } else if eq_ic(argv[2], "off") {
        ctx.srv.tracking.disable(ctx.client);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// Redis's checkPrefixCollisionsOrReply: no two prefixes of one client may
/// both match a key (one may not start the other).
fn check_prefixes(ctx: &Ctx, prefixes: &[Vec<u8>]) -> CmdResult {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let existing = ctx.srv.tracking.prefixes_of(ctx.client.id());
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                s(p),
                s(e)
            )));
        }
        if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                s(p),
                s(q)
            )));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: the next command's keys are (YES, OPTIN) or are
/// not (NO, OPTOUT) tracked.
pub fn client_caching(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let t = ctx.client.tracking;
    if t & ON == 0 {
        return Err(CmdError::err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    if eq_ic(argv[2], "yes") {
        if t & OPTIN == 0 {
            return Err(CmdError::err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if eq_ic(argv[2], "no") {
        if t & OPTOUT == 0 {
            return Err(CmdError::err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.caching = true;
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETREDIR: the redirect id, 0 without one, -1 when not tracking.
pub fn client_getredir(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let r = match ctx.srv.tracking.info(ctx.client.id()) {
        Some((r, _)) if ctx.client.tracking & ON != 0 => r as i64,
        _ => -1,
    };
    ctx.out.int(r);
    Ok(())
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes.
pub fn client_trackinginfo(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let t = ctx.client.tracking;
    let (redirect, prefixes) = match ctx.srv.tracking.info(ctx.client.id()) {
        Some((r, p)) if t & ON != 0 => (r as i64, p),
        _ => (-1, Vec::new()),
    };
    let caching = ctx.client.caching;
    let broken = ctx
        .client
        .shared
        .flags
        .load(std::sync::atomic::Ordering::Relaxed)
        & crate::server::client::FLAG_TRACKING_BROKEN
        != 0;
    let mut fl: Vec<&[u8]> = vec![if t & ON != 0 { b"on" } else { b"off" }];
    if t & BCAST != 0 {
        fl.push(b"bcast");
    }
    if t & OPTIN != 0 {
        fl.push(b"optin");
        if caching {
            fl.push(b"caching-yes");
        }
    }
    if t & OPTOUT != 0 {
        fl.push(b"optout");
        if caching {
            fl.push(b"caching-no");
        }
    }
    if t & NOLOOP != 0 {
        fl.push(b"noloop");
    }
    if broken {
        fl.push(b"broken_redirect");
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(fl.len());
    for f in fl {
        ctx.out.bulk(f);
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(redirect);
    ctx.out.bulk(b"prefixes");
    ctx.out.array(prefixes.len());
    for p in &prefixes {
        ctx.out.bulk(p);
    }
    Ok(())
}

/// After a command ran (also inside EXEC and for a guest's calls, with the
/// caller as `client`): remembers the keys a tracking client read (Redis's
/// trackingRememberKeys). One flag test for clients that do not track.
#[inline]
pub fn after_run(srv: &Server, client: &Client, cmd: &Command, argv: &[&[u8]]) {
    let t = client.tracking;
    if t & ON == 0 || t & BCAST != 0 {
        return;
    }
    let spec = &cmd.spec;
    if !spec.has(flags::READONLY)
        || spec.has(flags::PUBSUB)
        || matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        return;
    }
    if !caching_allows(client) {
        return;
    }
    let mut keys: smallvec::SmallVec<[&[u8]; 4]> = smallvec::SmallVec::new();
    spec.for_each_key_index(argv, |i| {
        if let Some(k) = argv.get(i) {
            keys.push(k);
        }
    });
    if !keys.is_empty() {
        srv.tracking.remember(client.id(), keys.into_iter());
    }
}

/// OPTIN tracks only after CACHING YES, OPTOUT all but after CACHING NO.
fn caching_allows(client: &Client) -> bool {
    let t = client.tracking;
    !((t & OPTIN != 0 && !client.caching) || (t & OPTOUT != 0 && client.caching))
}

/// After a guest's command: a read also tracks every key the script
/// declared, for the calling client (Redis remembers the EVAL's keys).
#[inline]
pub fn after_guest_read(srv: &Server, client: &Client, cmd: &Command, declared: &[&[u8]]) {
    let t = client.tracking;
    if t & ON == 0 || t & BCAST != 0 || declared.is_empty() || !cmd.spec.has(flags::READONLY) {
        return;
    }
    if !caching_allows(client) {
        return;
    }
    srv.tracking.remember(client.id(), declared.iter().copied());
}

/// End of a client's command in the dispatcher: its own invalidations go
/// out after its reply, and CLIENT CACHING's one-command flag is spent
/// (kept across CLIENT subcommands and inside MULTI, as in Redis).
pub fn after_command(srv: &Server, client: &mut Client, argv: &[&[u8]], out: &mut Out) {
    srv.tracking.after_command(client, out);
    if client.caching && client.multi.is_none() && !eq_ic(argv[0], "client") {
        client.caching = false;
    }
}
