//! DEBUG (Redis's debug.c), behind `enable-debug-command` as in Redis 7.0.
//!
//! One function per subcommand, found through [`SUBCOMMANDS`] with the
//! argument counts Redis accepts; a count Redis refuses, or a name it does not
//! know, gets Redis's "unknown subcommand or wrong number of arguments" error.
//! Subcommands that crash or restart Redis, or tune machinery Ember does not
//! have (jemalloc, the cluster bus, the reply-buffer cron), answer a clear
//! "not supported by Ember" error instead of pretending to work.
//!
//! DEBUG declares no keys (as in Redis), so the dispatcher locked nothing for
//! it; the subcommands that read the keyspace take the locks they need
//! through [`with_keyspace`].

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::config::ProtectedAction;
use crate::store::{digest, LockPlan, Locked, Value, SHARDS};

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, Group::Server, debug)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .acl(&["dangerous"])
    .doc(
        "1.0.0",
        "A container for debugging commands.",
        "Depends on subcommand.",
    )];

type Sub = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// (name, fewest and most arguments including DEBUG and the name, handler):
/// the argument counts are the ones Redis's debugCommand tests.
const SUBCOMMANDS: &[(&str, usize, usize, Sub)] = &[
    ("help", 2, 2, help),
    ("reload", 2, usize::MAX, reload),
    ("loadaof", 2, 2, loadaof),
    ("object", 3, 3, object),
    ("sdslen", 3, 3, sdslen),
    ("listpack", 3, 3, listpack),
    ("quicklist", 3, 4, quicklist),
    ("populate", 3, 5, populate),
    ("digest", 2, 2, digest_all),
    ("digest-value", 2, usize::MAX, digest_value),
    ("protocol", 3, 3, protocol),
    ("sleep", 3, 3, sleep),
    ("set-active-expire", 3, 3, set_active_expire),
    (
        "quicklist-packed-threshold",
        3,
        3,
        quicklist_packed_threshold,
    ),
    ("error", 3, 3, error),
    ("log", 3, 3, log),
    ("leak", 3, 3, leak),
    ("structsize", 2, 2, structsize),
    ("stringmatch-test", 2, 2, stringmatch_test),
    (
        "drop-cluster-packet-filter",
        3,
        3,
        drop_cluster_packet_filter,
    ),
    ("replybuffer", 4, 4, replybuffer),
    ("change-repl-id", 2, 2, change_repl_id),
];

/// Subcommands Redis has that Ember does not: they crash or restart the
/// server, or drive machinery Ember does not have. Matched before the
/// argument-count check, so any form of them gets the clear error.
const UNSUPPORTED: &[&str] = &[
    "segfault",
    "panic",
    "restart",
    "crash-and-recover",
    "oom",
    "assert",
    "aof-flush-sleep",
    "replicate",
    "htstats",
    "htstats-key",
    "set-skip-checksum-validation",
    "set-disable-deny-scripts",
    "config-rewrite-force-all",
    "client-eviction",
    "mallctl",
    "mallctl-str",
    "pause-cron",
    "clusterlink",
];

fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let allowed = match ctx.srv.config.read().enable_debug_command {
        ProtectedAction::Yes => true,
        ProtectedAction::No => false,
        ProtectedAction::Local => ctx.client.shared.is_local(),
    };
    if !allowed {
        return Err(CmdError::err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = argv[1];
    if let Some(&(_, _, _, handler)) = SUBCOMMANDS
        .iter()
        .find(|(name, min, max, _)| eq_ic(sub, name) && (*min..=*max).contains(&argv.len()))
    {
        return handler(ctx, argv);
    }
    if let Some(name) = UNSUPPORTED.iter().find(|n| eq_ic(sub, n)) {
        return Err(CmdError::owned(format!(
            "ERR DEBUG {} is not supported by Ember",
            name.to_ascii_uppercase()
        )));
    }
    Err(CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        super::truncate_c(sub, 128)
    )))
}

/// Runs `f` with the locks of `plan` held. Outside EXEC the dispatcher locked
/// nothing for DEBUG and the locks are taken here; inside EXEC the view may
/// already hold other shards, and locks do not nest, so it gives them up and
/// takes every shard instead (EXEC's later commands then run under a superset).
fn with_keyspace<R>(ctx: &mut Ctx, plan: LockPlan, f: impl FnOnce(&mut Locked) -> R) -> R {
    let dbs = ctx.srv.store.databases();
    let held = (0..dbs)
        .flat_map(|db| (0..SHARDS).map(move |s| (db, s)))
        .filter(|&(db, s)| ctx.ks.holds(db, s))
        .count();
    if held == dbs * SHARDS {
        return f(ctx.ks);
    }
    if held == 0 {
        let mut ks = ctx.srv.store.lock(&plan, ctx.now_ms());
        return f(&mut ks);
    }
    // Inside EXEC with some shards held: trade them for all of them. A
    // script holding shards past busy-reply-threshold leaves the view empty;
    // then wait for the plan's shards as a fresh lock would.
    if ctx.ks.relock_or_busy(&LockPlan::All).is_err() {
        let mut ks = ctx.srv.store.lock(&plan, ctx.now_ms());
        return f(&mut ks);
    }
    f(ctx.ks)
}

/// The plan covering `keys` in the client's database.
fn plan_for(ctx: &Ctx, keys: &[&[u8]]) -> LockPlan {
    let db = ctx.db();
    LockPlan::Shards(keys.iter().map(|k| ctx.srv.store.slot(db, k)).collect())
}

/// Redis's addReplyHelp text of DEBUG, line for line (MALLCTL included, as
/// Debian's jemalloc build prints it), so tools that parse it see Redis's.
const HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::keys::reply_help(ctx, "DEBUG", HELP);
    Ok(())
}

/// DEBUG RELOAD [NOFLUSH] [NOSAVE]: SAVE, FLUSHALL (functions too), load
/// `dbfilename` back. MERGE (replace keys already present) is not supported.
fn reload(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut flush, mut save) = (true, true);
    for opt in &argv[2..] {
        if eq_ic(opt, "noflush") {
            flush = false;
        } else if eq_ic(opt, "nosave") {
            save = false;
        } else if eq_ic(opt, "merge") {
            return Err(CmdError::err(
                "ERR DEBUG RELOAD MERGE is not supported by Ember",
            ));
        } else {
            return Err(CmdError::err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    // DEBUG has no keys, so this handler holds no shard: it may take them all.
    let srv = ctx.srv;
    srv.persist
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    let r = reload_files(ctx, flush, save);
    srv.persist
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
    r
}

fn reload_files(ctx: &mut Ctx, flush: bool, save: bool) -> CmdResult {
    let srv = ctx.srv;
    if save {
        let mut ks = srv.store.lock(&LockPlan::All, ctx.now_ms());
        if crate::persist::snapshot::save_locked(srv, &mut ks).is_err() {
            return Err(CmdError::err("ERR"));
        }
    }
    if flush {
        let mut ks = srv.store.lock(&LockPlan::All, ctx.now_ms());
        for db in 0..srv.store.databases() {
            drop(ks.flush_db(db));
        }
        drop(ks);
        super::functions::clear(srv);
    }
    let filename = srv.config.read().dbfilename.clone();
    let loaded = std::fs::File::open(&filename)
        .map_err(anyhow::Error::from)
        .and_then(|f| crate::persist::load::load_file(srv, f, &filename, false));
    if let Err(e) = loaded {
        crate::log::warning(&format!("{e:#}"));
        return Err(CmdError::err(
            "ERR Error trying to load the RDB dump, check server logs.",
        ));
    }
    crate::log::warning("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// DEBUG CHANGE-REPL-ID: a new replication ID and no ID2, so that replicas
/// must full-sync next time (Redis's changeReplicationId +
/// clearReplicationId2; its test suite uses it to force full syncs).
fn change_repl_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    crate::log::warning("Changing replication IDs after receiving DEBUG change-repl-id");
    ctx.srv.repl.new_history();
    ctx.out.ok();
    Ok(())
}

/// DEBUG LOADAOF: flush and fsync the AOF, empty the keyspace and the
/// function libraries, load the AOF files back (persist/aof). As in Redis
/// 7.0, files that cannot be loaded stop the server: the keyspace is
/// already gone, and serving (or saving) a part of it would lose data.
fn loadaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if let Err(e) = crate::persist::aof::debug_load(ctx.srv) {
        crate::log::warning(&e);
        crate::log::warning("Fatal error: can't load the AOF files by DEBUG LOADAOF. Exiting.");
        std::process::exit(1);
    }
    crate::log::warning("Append Only File loaded by DEBUG LOADAOF");
    ctx.out.ok();
    Ok(())
}

const NO_SUCH_KEY: CmdError = CmdError::err("ERR no such key");

/// DEBUG OBJECT key: Redis's one status line. `Value at` is the address of
/// Ember's value slot; refcount follows OBJECT REFCOUNT; serializedlength is
/// the length of the value's RDB serialization (what Redis measures); lru is
/// the 24-bit seconds clock of the last access, as Redis's LRU clock. Lists
/// add the quicklist fields, from the nodes RDB cuts the list into.
fn object(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opts = crate::persist::rdb::RdbOptions::from_config(&ctx.srv.config.read());
    let compress = ctx
        .srv
        .config
        .read()
        .get_one("list-compress-depth")
        .is_some_and(|d| d != "0");
    let db = ctx.db();
    let now_s = (ctx.now_ms() / 1000) as u32;
    let line = with_keyspace(ctx, plan_for(ctx, &argv[2..3]), |ks| {
        let e = ks.peek(db, argv[2])?;
        let v = &e.value;
        let refcount = if matches!(v, Value::Int(0..=9999)) {
            i32::MAX
        } else {
            1
        };
        let serialized = crate::persist::rdb::encode_value(v, &opts).1.len();
        let mut extra = String::new();
        if let Value::List(l) = v {
            let nodes = crate::persist::rdb::value::list::pack_nodes(&opts, l);
            let n = nodes.len().max(1);
            let bytes: usize = nodes.iter().map(Vec::len).sum();
            extra = format!(
                " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
                nodes.len(),
                l.len() as f64 / n as f64,
                opts.list_max_listpack_size,
                compress as u8,
                bytes
            );
        }
        Some(format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
            v as *const Value,
            refcount,
            v.encoding(),
            serialized,
            e.lru() & 0xFF_FFFF,
            e.idle_seconds(now_s),
            extra
        ))
    });
    let line = line.ok_or(NO_SUCH_KEY)?;
    ctx.out.simple(&line);
    Ok(())
}

/// DEBUG SDSLEN key: Ember keeps no sds headers, so lengths are the bytes
/// held, `avail` is 0 and the allocation sizes are what memory accounting counts.
fn sdslen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let line = with_keyspace(ctx, plan_for(ctx, &argv[2..3]), |ks| {
        let e = ks.peek(db, argv[2])?;
        Some(match &e.value {
            Value::Str(_) | Value::Raw(_) => {
                let len = e.value.string_len().unwrap_or(0);
                Ok(format!(
                    "key_sds_len:{}, key_sds_avail:0, key_zmalloc: {}, val_sds_len:{}, val_sds_avail:0, val_zmalloc: {}",
                    e.key.as_slice().len(),
                    e.key.heap_size().max(e.key.as_slice().len()),
                    len,
                    e.value.heap_size().max(len)
                ))
            }
            _ => Err(CmdError::err("ERR Not an sds encoded string.")),
        })
    });
    let line = line.ok_or(NO_SUCH_KEY)??;
    ctx.out.simple(&line);
    Ok(())
}

/// The elements of a value, flattened as its listpack would hold them.
fn packed_elements(v: &Value) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match v {
        Value::List(l) => out.extend(l.iter().map(<[u8]>::to_vec)),
        Value::Hash(h) => h.iter().for_each(|(f, x)| {
            out.push(f.to_vec());
            out.push(x.to_vec());
        }),
        Value::ZSet(z) => z.iter().for_each(|(m, s)| {
            out.push(m.to_vec());
            out.push(crate::util::float::fmt_g17(s).into_bytes());
        }),
        Value::Set(s) => out.extend(s.iter().map(|m| m.to_vec())),
        _ => {}
    }
    out
}

/// Prints a value's elements on stdout the way the LISTPACK and QUICKLIST
/// subcommands do (Redis prints its raw structure; Ember its content).
fn print_structure(title: &str, key: &[u8], elements: &[Vec<u8>]) {
    println!(
        "{{{title} of '{}'}} {{num entries {}}}",
        String::from_utf8_lossy(key),
        elements.len()
    );
    for (i, e) in elements.iter().enumerate() {
        println!(
            "\t{{index: {i}, bytes: {}}} {}",
            e.len(),
            String::from_utf8_lossy(e)
        );
    }
    println!("{{end}}");
}

/// Shared by LISTPACK and QUICKLIST: the key's elements if it has `encoding`.
fn elements_if(
    ctx: &mut Ctx,
    key: &[u8],
    encoding: &str,
) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let db = ctx.db();
    let found = with_keyspace(ctx, plan_for(ctx, &[key]), |ks| {
        ks.peek(db, key)
            .map(|e| (e.value.encoding() == encoding).then(|| packed_elements(&e.value)))
    });
    found.ok_or(NO_SUCH_KEY)
}

fn listpack(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(elements) = elements_if(ctx, argv[2], "listpack")? else {
        return Err(CmdError::err("ERR Not a listpack encoded object."));
    };
    print_structure("listpack", argv[2], &elements);
    ctx.out.simple("Listpack structure printed on stdout");
    Ok(())
}

fn quicklist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(elements) = elements_if(ctx, argv[2], "quicklist")? else {
        return Err(CmdError::err("ERR Not a quicklist encoded object."));
    };
    print_structure("quicklist", argv[2], &elements);
    ctx.out.simple("Quicklist structure printed on stdout");
    Ok(())
}

/// Redis's getPositiveLongFromObjectOrReply: one error for a non-number and
/// a negative number alike.
fn positive_long(arg: &[u8]) -> Result<i64, CmdError> {
    crate::util::num::parse_i64(arg)
        .filter(|v| *v >= 0)
        .ok_or(CmdError::err("ERR value is out of range, must be positive"))
}

/// DEBUG POPULATE count [prefix] [size]: string keys `prefix:N` holding
/// `value:N` (cut or zero-padded to `size`), skipping keys that exist. Like
/// Redis, nothing is propagated and no keyspace event is raised.
fn populate(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = positive_long(argv[2])?;
    let size = match argv.get(4) {
        Some(a) => positive_long(a)? as usize,
        None => 0,
    };
    let prefix: &[u8] = argv.get(3).copied().unwrap_or(b"key");
    let db = ctx.db();
    let mut rbuf = itoa::Buffer::new();
    with_keyspace(ctx, LockPlan::Db(db), |ks| {
        let mut key = Vec::new();
        for j in 0..count {
            key.clear();
            key.extend_from_slice(prefix);
            key.push(b':');
            key.extend_from_slice(rbuf.format(j).as_bytes());
            if ks.exists(db, &key) {
                continue;
            }
            let mut val = format!("value:{j}").into_bytes();
            if size > 0 {
                val.resize(size, 0);
            }
            ks.set(db, &key, Value::string_from_vec(val), None);
        }
    });
    ctx.propagate_nothing();
    ctx.out.ok();
    Ok(())
}

/// DEBUG DIGEST: the data-set digest of every database (store/digest.rs),
/// logically expired keys included as in Redis.
fn digest_all(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let dbs = ctx.srv.store.databases();
    let total = with_keyspace(ctx, LockPlan::All, |ks| {
        let mut per_db = vec![([0u8; 20], false); dbs];
        ks.walk(|db, e| {
            if let Some((d, nonempty)) = per_db.get_mut(db) {
                digest::add_key(d, &digest::entry(e));
                *nonempty = true;
            }
        });
        let mut total = [0u8; 20];
        for (db, (d, nonempty)) in per_db.iter().enumerate() {
            digest::fold_db(&mut total, db, d, *nonempty);
        }
        total
    });
    ctx.out.simple(&digest::hex(&total));
    Ok(())
}

/// DEBUG DIGEST-VALUE key ...: each value's digest (no key name mixed in),
/// 40 zeros for a missing key.
fn digest_value(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let keys = &argv[2..];
    let digests = with_keyspace(ctx, plan_for(ctx, keys), |ks| {
        keys.iter()
            .map(|k| {
                let mut d = [0u8; 20];
                if let Some(e) = ks.peek(db, k) {
                    digest::value(&mut d, &e.value, e.expire_at().is_some());
                }
                d
            })
            .collect::<Vec<_>>()
    });
    ctx.out.array(digests.len());
    for d in &digests {
        ctx.out.simple(&digest::hex(d));
    }
    Ok(())
}

/// DEBUG PROTOCOL type: one sample of each reply type, RESP3 ones downgraded
/// in RESP2 as Redis does. (3.141 is Redis's sample double, not an attempt at pi.)
#[allow(clippy::approx_constant)]
fn protocol(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = argv[2].to_ascii_lowercase();
    let out = &mut *ctx.out;
    match &name[..] {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's own sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.bignum("1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if out.resp3 {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            // An attribute describes the reply that follows it.
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.resp3 {
                return Err(CmdError::err("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            // A client reading replies skips pushes: it still gets one.
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim_as(b"txt", b"This is a verbatim\nstring"),
        _ => return Err(CmdError::err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")),
    }
    Ok(())
}

/// C's strtod on an argument: the longest numeric prefix, 0 when none.
fn strtod(arg: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(arg);
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|&n| s.is_char_boundary(n))
        .find_map(|n| s[..n].parse::<f64>().ok())
        .filter(|v| !v.is_nan())
        .unwrap_or(0.0)
}

/// C's atoi: optional sign and leading digits, 0 when none.
fn atoi(arg: &[u8]) -> i64 {
    let s = arg.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add((b - b'0') as i64);
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// DEBUG SLEEP seconds: stops the server, as Redis's nanosleep in its only
/// thread does: every shard stays locked for the duration, so no command
/// that touches a key runs anywhere meanwhile.
fn sleep(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let secs = strtod(argv[2]);
    let us = (secs * 1_000_000.0) as i64;
    if us > 0 {
        with_keyspace(ctx, LockPlan::All, |_| {
            std::thread::sleep(std::time::Duration::from_micros(us as u64))
        });
    }
    ctx.out.ok();
    Ok(())
}

fn set_active_expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.srv
        .store
        .active_expire
        .store(atoi(argv[2]) != 0, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD size: validated as Redis does. Ember's
/// lists have no plain (unpacked) nodes, so the threshold changes no layout.
fn quicklist_packed_threshold(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match crate::config::memtoull(argv[2]) {
        Some(sz) if sz <= (1u64 << 32) - (1 << 20) => {
            ctx.out.ok();
            Ok(())
        }
        _ => Err(CmdError::err(
            "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
        )),
    }
}

/// DEBUG ERROR text: the text as an error reply, newlines made spaces.
fn error(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.error(&String::from_utf8_lossy(argv[2]));
    Ok(())
}

fn log(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    crate::log::warning(&format!(
        "DEBUG LOG: {}",
        super::truncate_c(argv[2], usize::MAX)
    ));
    ctx.out.ok();
    Ok(())
}

/// DEBUG LEAK string: leaks a copy of the string, as Redis does, for tests of
/// memory reporting.
fn leak(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    std::mem::forget(argv[2].to_vec());
    ctx.out.ok();
    Ok(())
}

/// DEBUG STRUCTSIZE: the sizes of Ember's core structures, in Redis's format.
fn structsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    use std::mem::size_of;
    let text = format!(
        "bits:{} value:{} entry:{} smallbytes:{} ",
        usize::BITS,
        size_of::<Value>(),
        size_of::<crate::store::table::Entry>(),
        size_of::<crate::store::value::SmallBytes>(),
    );
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// DEBUG STRINGMATCH-TEST: Redis fuzzes its glob matcher; this fuzzes
/// Ember's with random patterns and subjects (bounded: 100k rounds).
fn stringmatch_test(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    use rand::Rng;
    const ALPHABET: &[u8] = b"*?[]^-\\ab";
    let mut rng = rand::rng();
    for _ in 0..100_000 {
        let mut gen = |max: usize| -> Vec<u8> {
            let n = rng.random_range(0..max);
            (0..n)
                .map(|_| {
                    if rng.random_bool(0.8) {
                        ALPHABET[rng.random_range(0..ALPHABET.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect()
        };
        let (pattern, subject) = (gen(32), gen(32));
        crate::util::glob::glob_match(&pattern, &subject, false);
        crate::util::glob::glob_match(&pattern, &subject, true);
    }
    ctx.out
        .simple("Apparently Redis did not crash: test passed");
    Ok(())
}

/// Ember has no cluster bus: the filter is validated like Redis and has no
/// packets to drop.
fn drop_cluster_packet_filter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    super::arg_i64(argv[2])?;
    ctx.out.ok();
    Ok(())
}

/// DEBUG REPLYBUFFER PEAK-RESET-TIME|RESIZING value: Ember's output buffers
/// are not resized by a cron, so there is nothing to tune; the arguments are
/// checked as Redis checks them.
fn replybuffer(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if eq_ic(argv[2], "peak-reset-time") {
        if !eq_ic(argv[3], "never") && !eq_ic(argv[3], "reset") {
            super::arg_i64(argv[3])?;
        }
    } else if !eq_ic(argv[2], "resizing") {
        return Err(CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            super::truncate_c(argv[1], 128)
        )));
    }
    ctx.out.ok();
    Ok(())
}
