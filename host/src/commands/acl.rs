//! The ACL command (SETUSER, GETUSER, DELUSER, USERS, WHOAMI, LIST, CAT,
//! GENPASS, DRYRUN, LOG, LOAD, SAVE, HELP), AUTH's credential check, and the
//! permission check every command path calls ([`check`]): the dispatcher,
//! EXEC, scripts and modules. The users and rules themselves live in
//! [`crate::acl`].

use super::keys::{container_help, reply_help};
use super::table::{flags::*, Command, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::acl::log::{Context, Entry};
use crate::acl::{Denied, User};
use crate::server::client::Client;
use crate::server::Server;
use std::sync::Arc;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("acl", -2, Group::Server, container_help)
    .doc(
        "6.0.0",
        "A container for Access List Control commands ",
        "Depends on subcommand.",
    )
    .subcommands(SUBCOMMANDS)];

const ADMIN_CMD: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cat", -2, Group::Server, cat)
        .flags(NOSCRIPT | LOADING | STALE)
        .doc(
            "6.0.0",
            "List the ACL categories or the commands inside a category",
            "O(1) since the categories and commands are a fixed set.",
        )
        .syntax("[categoryname]"),
    CommandSpec::new("deluser", -3, Group::Server, deluser)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "Remove the specified ACL users and the associated rules",
            "O(1) amortized time considering the typical user.",
        )
        .syntax("username [username ...]"),
    CommandSpec::new("dryrun", -4, Group::Server, dryrun)
        .flags(ADMIN_CMD)
        .doc(
            "7.0.0",
            "Returns whether the user can execute the given command without executing the command.",
            "O(1).",
        )
        .syntax("username command [arg [arg ...]]"),
    CommandSpec::new("genpass", -2, Group::Server, genpass)
        .flags(NOSCRIPT | LOADING | STALE)
        .doc(
            "6.0.0",
            "Generate a pseudorandom secure password to use for ACL users",
            "O(1)",
        )
        .syntax("[bits]"),
    CommandSpec::new("getuser", 3, Group::Server, getuser)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "Get the rules for a specific ACL user",
            "O(N). Where N is the number of password, command and pattern rules that the user has.",
        )
        .syntax("username"),
    CommandSpec::new("help", 2, Group::Server, help)
        .flags(LOADING | STALE)
        .doc(
            "6.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("list", 2, Group::Server, list)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "List the current ACL rules in ACL config file format",
            "O(N). Where N is the number of configured users.",
        ),
    CommandSpec::new("load", 2, Group::Server, load)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "Reload the ACLs from the configured ACL file",
            "O(N). Where N is the number of configured users.",
        ),
    CommandSpec::new("log", -2, Group::Server, log)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "List latest events denied because of ACLs in place",
            "O(N) with N being the number of entries shown.",
        )
        .syntax("[count | RESET]"),
    CommandSpec::new("save", 2, Group::Server, save)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "Save the current ACL rules in the configured ACL file",
            "O(N). Where N is the number of configured users.",
        ),
    CommandSpec::new("setuser", -3, Group::Server, setuser)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "Modify or create the rules for a specific ACL user",
            "O(N). Where N is the number of rules provided.",
        )
        .syntax("username [rule [rule ...]]"),
    CommandSpec::new("users", 2, Group::Server, users)
        .flags(ADMIN_CMD)
        .doc(
            "6.0.0",
            "List the username of all the configured ACL rules",
            "O(N). Where N is the number of configured users.",
        ),
    CommandSpec::new("whoami", 2, Group::Server, whoami)
        .flags(NOSCRIPT | LOADING | STALE)
        .doc(
            "6.0.0",
            "Return the name of the user associated to the current connection",
            "O(1)",
        ),
];

/// `acl-pubsub-default allchannels`: new users and selectors start with `&*`.
fn pubsub_default(srv: &Server) -> bool {
    srv.config
        .read()
        .stored_or("acl-pubsub-default", "resetchannels")
        == "allchannels"
}

fn log_max_len(srv: &Server) -> usize {
    srv.config
        .read()
        .stored_or("acllog-max-len", "128")
        .parse()
        .unwrap_or(128)
}

/// Records an ACL LOG entry for `client` (Redis's addACLLogEntry).
pub fn log_denied(
    srv: &Server,
    client: &Client,
    reason: Denied,
    context: Context,
    object: &[u8],
    username: Option<&[u8]>,
) {
    let username = match username {
        Some(u) => u.to_vec(),
        None => client.acl_user(srv.acl.default_user()).name.clone(),
    };
    srv.acl.log.add(
        Entry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username,
            ctime_ms: super::unix_ms(),
            client_info: client.shared.info_line(&srv.commands),
        },
        log_max_len(srv),
    );
}

/// Checks that the client's user may run `cmd` with `argv`; on refusal,
/// logs it and returns the reason and the object (command name, key or
/// channel) at fault. The default user with every permission costs one
/// flag test; a replica's link to its primary and the AOF loader are never
/// refused (Redis runs them without a user).
#[inline]
pub fn check(
    srv: &Server,
    client: &Client,
    cmd: &Command,
    argv: &[&[u8]],
    context: Context,
) -> Result<(), Denied> {
    let user = client.acl_user(srv.acl.default_user());
    match user.check(cmd, argv) {
        Ok(()) => Ok(()),
        Err(_) if client.master || client.loader => Ok(()),
        Err((reason, pos)) => {
            let object: &[u8] = match reason {
                Denied::Command => cmd.full_name.as_bytes(),
                _ => argv.get(pos).copied().unwrap_or_default(),
            };
            log_denied(srv, client, reason, context, object, None);
            Err(reason)
        }
    }
}

/// The error a refused command gets at the top level or while queued.
pub fn noperm(reason: Denied, cmd: &Command) -> CmdError {
    CmdError::owned(crate::acl::noperm_text(reason, &cmd.full_name))
}

/// The error EXEC gives a queued command the rules refuse by now.
pub fn noperm_at_exec(reason: Denied) -> String {
    let why = match reason {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
        Denied::Auth => "no permission",
    };
    format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}")
}

/// The error a script's or module's call gets (Redis's scriptVerifyACL).
pub fn noperm_in_script(reason: Denied) -> String {
    format!(
        "ERR The user executing the script {}",
        crate::acl::reason_message(reason)
    )
}

/// AUTH / HELLO AUTH: authenticates the client as `user` (Redis's
/// ACLAuthenticateUser), logging a failure under the command name as
/// typed (`command`, argv[0]).
pub fn authenticate(ctx: &mut Ctx, command: &[u8], user: &[u8], pass: &[u8]) -> CmdResult {
    match ctx.srv.acl.get(user).filter(|u| u.password_ok(pass)) {
        Some(u) => {
            ctx.client.authenticated = true;
            let u = (!Arc::ptr_eq(&u, ctx.srv.acl.default_user())).then_some(u);
            ctx.client.set_user(u);
            Ok(())
        }
        None => {
            let context = if ctx.client.multi.is_some() {
                Context::Multi
            } else {
                Context::Toplevel
            };
            log_denied(
                ctx.srv,
                ctx.client,
                Denied::Auth,
                context,
                command,
                Some(user),
            );
            Err(CmdError::err(crate::acl::WRONGPASS))
        }
    }
}

/// Disconnects the clients of users that no longer exist; the calling
/// client is closed after its reply (Redis's ACLFreeUserAndKillClients).
fn kill_clients_of(ctx: &mut Ctx, gone: &[Arc<User>]) {
    if gone.is_empty() {
        return;
    }
    let me = ctx.client.id();
    for c in ctx.srv.clients.all() {
        if gone.iter().any(|u| c.runs_as(u)) {
            if c.id == me {
                ctx.client.close = true;
                ctx.client.authenticated = false;
            } else {
                c.kill();
            }
        }
    }
}

/// Disconnects the subscribed clients of `user` whose channels the new
/// rules no longer grant (Redis's ACLKillPubsubClientsIfNeeded).
fn kill_pubsub_clients_if_needed(ctx: &mut Ctx, user: &Arc<User>, new: &crate::acl::Rules) {
    if new.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
    let old = user.rules();
    let superset = old
        .selectors
        .iter()
        .all(|s| !s.allchannels && s.channels.iter().all(|c| upcoming.contains(&c)));
    if superset {
        return;
    }
    let allowed = |ch: &[u8], pattern: bool| {
        upcoming.iter().any(|p| {
            if pattern {
                p.as_slice() == ch
            } else {
                crate::util::glob::glob_match(p, ch, false)
            }
        })
    };
    let me = ctx.client.id();
    for c in ctx.srv.clients.all() {
        if !c.runs_as(user) {
            continue;
        }
        let subs = ctx.srv.pubsub.subscriptions_of(c.id);
        let kill = subs.iter().any(|(ch, pattern)| !allowed(ch, *pattern));
        if kill {
            if c.id == me {
                ctx.client.close = true;
            } else {
                c.kill();
            }
        }
    }
}

fn setuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = argv[2];
    if !crate::acl::valid_name(name) {
        return Err(CmdError::err(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let args: Vec<Vec<u8>> = argv[3..].iter().map(|a| a.to_vec()).collect();
    let merged = crate::acl::merge_selector_args(&args).map_err(|i| {
        CmdError::owned(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(&args[i])
        ))
    })?;
    let allchannels = pubsub_default(ctx.srv);
    let rules = ctx
        .srv
        .acl
        .staged_rules(&ctx.srv.commands, name, &merged, allchannels)
        .map_err(|e| {
            CmdError::owned(format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(&e.rule),
                e.error.text()
            ))
        })?;
    if let Some(user) = ctx.srv.acl.get(name) {
        kill_pubsub_clients_if_needed(ctx, &user, &rules);
    }
    ctx.srv.acl.set_user(name, rules);
    ctx.out.ok();
    Ok(())
}

fn deluser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv[2..].iter().any(|n| *n == b"default") {
        return Err(CmdError::err("ERR The 'default' user cannot be removed"));
    }
    let gone = ctx.srv.acl.delete_users(&argv[2..]);
    kill_clients_of(ctx, &gone);
    ctx.out.int(gone.len() as i64);
    Ok(())
}

/// The commands/keys/channels fields of one selector (GETUSER).
fn reply_selector(ctx: &mut Ctx, s: &crate::acl::selector::Selector) {
    ctx.out.bulk(b"commands");
    ctx.out
        .bulk(s.describe_commands(&ctx.srv.commands).as_bytes());
    ctx.out.bulk(b"keys");
    ctx.out.bulk(&s.describe_keys());
    ctx.out.bulk(b"channels");
    ctx.out.bulk(&s.describe_channels());
}

fn getuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.srv.acl.get(argv[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let rules = user.rules();
    ctx.out.map(6);
    ctx.out.bulk(b"flags");
    let flags = rules.flag_names();
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"passwords");
    ctx.out.array(rules.passwords.len());
    for p in &rules.passwords {
        ctx.out.bulk(p.as_bytes());
    }
    reply_selector(ctx, &rules.selectors[0]);
    ctx.out.bulk(b"selectors");
    ctx.out.array(rules.selectors.len() - 1);
    for s in &rules.selectors[1..] {
        ctx.out.map(3);
        reply_selector(ctx, s);
    }
    Ok(())
}

fn list(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let text = ctx.srv.acl.file_text(&ctx.srv.commands);
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l);
    }
    Ok(())
}

fn users(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let users = ctx.srv.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let name = ctx.client.user_name();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn cat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => {
            ctx.out.array(super::table::ACL_ORDER.len());
            for c in super::table::ACL_ORDER {
                ctx.out.bulk(c.as_bytes());
            }
        }
        3 => {
            let Some(bit) = crate::acl::selector::category_bit(argv[2]) else {
                // Redis's `%.128s`: the first 128 bytes, cut before decoding
                // (a cut inside a UTF-8 sequence must not panic).
                let name = String::from_utf8_lossy(&argv[2][..argv[2].len().min(128)]);
                return Err(CmdError::owned(format!("ERR Unknown category '{name}'")));
            };
            let names: Vec<String> = crate::acl::selector::all_commands(&ctx.srv.commands)
                .into_iter()
                .filter(|c| c.spec.module.is_none() && c.acl_mask & bit != 0)
                .map(|c| c.full_name.clone())
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        _ => return Err(subcommand_syntax(argv)),
    }
    Ok(())
}

/// Redis's addReplySubcommandSyntaxError for ACL.
fn subcommand_syntax(argv: &[&[u8]]) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        String::from_utf8_lossy(argv[1])
    ))
}

fn genpass(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    const MAX_BITS: i64 = 4096;
    let bits = match argv.len() {
        2 => 256,
        3 => super::arg_i64(argv[2])?,
        _ => return Err(subcommand_syntax(argv)),
    };
    if bits <= 0 || bits > MAX_BITS {
        return Err(CmdError::owned(format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}")));
    }
    let chars = (bits as usize).div_ceil(4);
    let pass: String = (0..chars)
        .map(|_| char::from(b"0123456789abcdef"[(rand::random::<u8>() % 16) as usize]))
        .collect();
    ctx.out.bulk(pass.as_bytes());
    Ok(())
}

fn log(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut count = 10;
    match argv.len() {
        2 => {}
        3 if eq_ic(argv[2], "reset") => {
            ctx.srv.acl.log.reset();
            ctx.out.ok();
            return Ok(());
        }
        3 => count = super::arg_i64(argv[2])?.max(0),
        _ => return Err(subcommand_syntax(argv)),
    }
    let entries = ctx.srv.acl.log.newest(count as usize);
    let now = super::unix_ms();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.map(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason_name().as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context.name().as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out.double((now - e.ctime_ms) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

fn dryrun(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.srv.acl.get(argv[2]) else {
        return Err(CmdError::owned(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(argv[2])
        )));
    };
    let target = &argv[3..];
    let Ok(cmd) = super::resolve(ctx.srv, target) else {
        return Err(CmdError::owned(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(argv[3])
        )));
    };
    if !cmd.arity_ok(target.len()) {
        return Err(super::arity_error(&cmd));
    }
    match user.check(&cmd, target) {
        Ok(()) => ctx.out.ok(),
        Err((reason, pos)) => {
            let text = match reason {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    cmd.full_name
                ),
                Denied::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(target[pos])
                ),
                _ => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(target[pos])
                ),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// The `aclfile` path (relative to the working directory, as Redis), if set.
fn acl_file(srv: &Server) -> Option<String> {
    let cfg = srv.config.read();
    let f = cfg.stored_or("aclfile", "");
    (!f.is_empty()).then(|| f.to_string())
}

/// Reads and parses the ACL file (all or nothing).
fn read_acl_file(
    srv: &Server,
    path: &str,
) -> Result<std::collections::BTreeMap<Vec<u8>, crate::acl::Rules>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            crate::config::strerror(&e)
        )
    })?;
    crate::acl::Acl::parse_file(&srv.commands, path, &text, pubsub_default(srv))
}

fn load(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx.srv).ok_or(CmdError::err(NO_ACL_FILE))?;
    let users = read_acl_file(ctx.srv, &path).map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    let gone = ctx.srv.acl.replace_all(users);
    kill_clients_of(ctx, &gone);
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx.srv).ok_or(CmdError::err(NO_ACL_FILE))?;
    let text = ctx.srv.acl.file_text(&ctx.srv.commands);
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), super::unix_ms());
    let written = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        crate::log::warning(&format!("Writing ACL file for ACL SAVE: {e}"));
        return Err(CmdError::err("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}

/// Applies `requirepass`, the config file's `user` lines and the `aclfile`
/// at start-up (Redis's ACLLoadUsersAtStartup): the two sources are
/// mutually exclusive, and any error stops the server.
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    let (lines, pass) = {
        let cfg = srv.config.read();
        (cfg.users.clone(), cfg.requirepass.clone())
    };
    srv.acl.apply_requirepass(&srv.commands, &pass);
    let file = acl_file(srv);
    if file.is_some() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    srv.acl
        .load_config_users(&srv.commands, &lines, pubsub_default(srv))
        .map_err(|e| format!("Critical error while loading ACLs. Exiting. ({e})"))?;
    if let Some(path) = file {
        let users = read_acl_file(srv, &path)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
        srv.acl.replace_all(users);
    }
    Ok(())
}
