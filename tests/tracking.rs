//! Client-side caching and the other CLIENT controls: CLIENT TRACKING (default, BCAST,
//! OPTIN/OPTOUT, NOLOOP, REDIRECT), CACHING, GETREDIR, TRACKINGINFO, invalidation on every
//! kind of write (commands, MULTI/EXEC, Lua scripts, wasm module commands, expiry active and
//! lazy, eviction, FLUSHALL/FLUSHDB, a replica applying its primary's stream,
//! `tracking-table-max-keys`), CLIENT PAUSE/UNPAUSE, CLIENT REPLY, CLIENT UNBLOCK on each
//! blocking command and CLIENT KILL's filters.
//!
//! Replies that do not depend on client ids are compared with redis-server 7.0 byte for byte
//! (transcripts, RESP3 push frames included); the rest run the same assertions against both
//! servers. redis-py's RESP3 client-side cache is exercised against Ember by
//! `redis_py_client_side_cache_never_serves_stale` (skipped when redis-py is missing).
//!
//! Every read has a timeout and every loop a bound.

#[path = "common/mod.rs"]
mod common;
#[path = "common/transcript.rs"]
mod transcript;

use common::{integer_value, Protocol, RespConn, ServerKind, ServerProcess};
use std::time::{Duration, Instant};
use transcript::{assert_same, Script};

/// `>2 invalidate [keys]` as a RESP3 push.
fn invalidate(keys: &[&str]) -> Vec<u8> {
    let mut f = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len()).into_bytes();
    for k in keys {
        f.extend_from_slice(format!("${}\r\n{k}\r\n", k.len()).as_bytes());
    }
    f
}

/// Runs `f` against a fresh redis-server and a fresh ember-server (same `extra`
/// directives) and asserts both give the same list of observations.
fn same_on_both(extra: &[(&str, &str)], f: impl Fn(&ServerProcess) -> Vec<String>) {
    let _g = common::shared();
    let redis = ServerProcess::start_redis(extra);
    let ember = ServerProcess::start_ember(extra);
    let r = f(&redis);
    let e = f(&ember);
    assert_eq!(r, e, "redis (left) and ember (right) differ");
}

fn conn3(server: &ServerProcess) -> RespConn {
    let mut c = server.connect();
    c.set_protocol(Protocol::Resp3);
    c.command(&["HELLO", "3"]).expect("HELLO 3");
    c
}

fn show(b: &[u8]) -> String {
    common::escape(b)
}

fn client_id(c: &mut RespConn) -> String {
    integer_value(&c.command(&["CLIENT", "ID"]).expect("CLIENT ID"))
        .expect("an id")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Transcripts compared with redis-server
// ---------------------------------------------------------------------------------------------

#[test]
fn default_mode_invalidates_on_writes_by_anyone() {
    const T: usize = 0;
    const W: usize = 1;
    let mut s = Script::new(2);
    s.hello3(T)
        .cmd(T, &["CLIENT", "TRACKING", "ON"])
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(T, &["CLIENT", "GETREDIR"])
        .cmd(T, &["GET", "a"])
        .cmd(T, &["MGET", "b", "c"])
        .cmd(T, &["HGETALL", "h"])
        .cmd(T, &["LRANGE", "l", "0", "-1"])
        .quiet(T)
        // Another client's writes: one invalidation per tracked key, then untracked.
        .cmd(W, &["SET", "a", "1"])
        .recv(T, 1)
        .cmd(W, &["SET", "a", "2"])
        .quiet(T)
        .cmd(W, &["MSET", "b", "1", "c", "2", "z", "3"])
        .recv(T, 2)
        .cmd(W, &["HSET", "h", "f", "v"])
        .recv(T, 1)
        .cmd(W, &["RPUSH", "l", "x"])
        .recv(T, 1)
        // The client's own write: the reply, then its invalidation.
        .cmd(T, &["GET", "a"])
        .cmd_n(T, &["SET", "a", "3"], 2)
        // MULTI/EXEC, DEL, EXPIRE, INCR, a Lua script.
        .cmd(T, &["MGET", "a", "b", "n", "s"])
        .cmd(W, &["MULTI"])
        .cmd(W, &["SET", "a", "4"])
        .cmd(W, &["DEL", "b"])
        .cmd(W, &["EXEC"])
        .recv(T, 2)
        .cmd(W, &["INCR", "n"])
        .recv(T, 1)
        .cmd(
            W,
            &["EVAL", "return redis.call('SET', KEYS[1], 'lua')", "1", "s"],
        )
        .recv(T, 1)
        .cmd(T, &["GET", "a"])
        .cmd(W, &["EXPIRE", "a", "100"])
        .recv(T, 1)
        // A script's reads track the keys it declared, for its caller.
        .cmd(T, &["EVAL", "return redis.call('GET', KEYS[1])", "1", "sk"])
        .cmd(
            T,
            &[
                "EVAL_RO",
                "return redis.call('EXISTS', KEYS[1])",
                "1",
                "sk2",
            ],
        )
        .cmd(W, &["MSET", "sk", "1", "sk2", "2"])
        .recv(T, 2)
        // Reads of a missing key are tracked too; a write of another key is not sent.
        .cmd(T, &["EXISTS", "missing"])
        .cmd(W, &["SET", "other", "1"])
        .quiet(T)
        .cmd(W, &["SET", "missing", "1"])
        .recv(T, 1)
        // FLUSHALL and FLUSHDB: one null invalidation each, for every tracking client.
        .cmd(T, &["GET", "a"])
        .cmd(W, &["FLUSHALL"])
        .recv(T, 1)
        .cmd(W, &["FLUSHDB"])
        .recv(T, 1)
        .cmd_n(T, &["FLUSHDB"], 2)
        .cmd(W, &["SET", "a", "1"])
        .quiet(T)
        .cmd(T, &["CLIENT", "TRACKING", "OFF"])
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(T, &["CLIENT", "GETREDIR"])
        .cmd(T, &["GET", "a"])
        .cmd(W, &["SET", "a", "2"])
        .quiet(T);
    assert_same(&s);
}

#[test]
fn noloop_optin_optout_and_caching() {
    const T: usize = 0;
    const W: usize = 1;
    let mut s = Script::new(2);
    s.hello3(T)
        .cmd(T, &["CLIENT", "TRACKING", "ON", "NOLOOP"])
        .cmd(T, &["GET", "a"])
        .cmd(T, &["SET", "a", "1"])
        .quiet(T)
        .cmd(T, &["GET", "a"])
        .cmd(W, &["SET", "a", "2"])
        .recv(T, 1)
        .cmd(T, &["CLIENT", "TRACKING", "OFF"])
        // OPTIN: only reads right after CACHING YES are tracked.
        .cmd(T, &["CLIENT", "TRACKING", "ON", "OPTIN"])
        .cmd(T, &["CLIENT", "CACHING", "NO"])
        .cmd(T, &["GET", "x"])
        .cmd(T, &["CLIENT", "CACHING", "YES"])
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(T, &["GET", "y"])
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(T, &["GET", "z"])
        .cmd(W, &["MSET", "x", "1", "y", "1", "z", "1"])
        .recv(T, 1)
        .quiet(T)
        // CACHING YES before MULTI covers the whole transaction.
        .cmd(T, &["CLIENT", "CACHING", "YES"])
        .cmd(T, &["MULTI"])
        .cmd(T, &["GET", "x"])
        .cmd(T, &["GET", "z"])
        .cmd(T, &["EXEC"])
        .cmd(W, &["MSET", "x", "2", "z", "2"])
        .recv(T, 2)
        .cmd(T, &["CLIENT", "TRACKING", "ON", "OPTOUT"])
        .cmd(T, &["CLIENT", "TRACKING", "OFF"])
        // OPTOUT: every read but the one right after CACHING NO.
        .cmd(T, &["CLIENT", "TRACKING", "ON", "OPTOUT"])
        .cmd(T, &["CLIENT", "CACHING", "YES"])
        .cmd(T, &["CLIENT", "CACHING", "NO"])
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(T, &["GET", "x"])
        .cmd(T, &["GET", "y"])
        .cmd(W, &["MSET", "x", "3", "y", "3"])
        .recv(T, 1)
        .quiet(T)
        .cmd(T, &["CLIENT", "TRACKING", "ON", "OPTIN"]);
    assert_same(&s);
}

#[test]
fn bcast_prefixes_batch_keys_per_write() {
    const T: usize = 0;
    const U: usize = 1;
    const W: usize = 2;
    let mut s = Script::new(3);
    s.hello3(T)
        .hello3(U)
        .cmd(
            T,
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "ord",
            ],
        )
        .cmd(T, &["CLIENT", "TRACKINGINFO"])
        .cmd(U, &["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"])
        .cmd(W, &["MSET", "user:1", "a", "order:2", "b", "other", "c"])
        .recv(T, 1)
        .recv(U, 1)
        .cmd(W, &["SET", "nomatch", "1"])
        .quiet(T)
        .recv(U, 1)
        // NOLOOP: U's own writes are left out of what it receives.
        .cmd(U, &["SET", "user:9", "1"])
        .recv(T, 1)
        .quiet(U)
        .cmd(U, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"])
        .cmd(
            T,
            &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:x"],
        )
        .cmd(T, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "us"])
        .cmd(
            T,
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p", "PREFIX", "pq",
            ],
        )
        .cmd(T, &["CLIENT", "TRACKING", "ON"])
        .cmd(T, &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"])
        .cmd(W, &["FLUSHALL"])
        .recv(T, 1)
        .recv(U, 1);
    assert_same(&s);
}

#[test]
fn tracking_option_errors() {
    let mut s = Script::new(1);
    for args in [
        &["CLIENT", "TRACKING", "ON", "PREFIX", "a"][..],
        &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "x"],
        &["CLIENT", "TRACKING", "ON", "FOO"],
        &["CLIENT", "TRACKING", "MAYBE"],
        &["CLIENT", "TRACKING", "ON", "PREFIX"],
        &["CLIENT", "TRACKING"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "CACHING", "MAYBE"],
        &["CLIENT", "GETREDIR", "x"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "ON", "OPTIN"],
        &["CLIENT", "CACHING", "MAYBE"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "TRACKING", "ON", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "BCAST"],
        &["CLIENT", "TRACKING", "OFF"],
    ] {
        s.cmd(0, args);
    }
    assert_same(&s);
}

#[test]
fn client_reply_off_skip_on() {
    let mut s = Script::new(1);
    s.send(0, &["CLIENT", "REPLY", "OFF"])
        .send(0, &["SET", "a", "1"])
        .send(0, &["GET", "a"])
        .send(0, &["CLIENT", "REPLY", "SKIP"])
        .cmd(0, &["CLIENT", "REPLY", "ON"])
        .cmd(0, &["GET", "a"])
        .send(0, &["CLIENT", "REPLY", "SKIP"])
        .send(0, &["INCR", "a"])
        .cmd(0, &["GET", "a"])
        .cmd(0, &["CLIENT", "REPLY", "MAYBE"])
        .cmd(0, &["CLIENT", "REPLY"])
        .quiet(0);
    assert_same(&s);
}

#[test]
fn pause_and_unblock_argument_errors() {
    let mut s = Script::new(1);
    for args in [
        &["CLIENT", "PAUSE", "x"][..],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "10", "READ"],
        &["CLIENT", "PAUSE", "10", "ALL", "x"],
        &["CLIENT", "PAUSE", "0", "WRITE"],
        &["CLIENT", "UNPAUSE"],
        &["CLIENT", "UNPAUSE", "x"],
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "999999"],
        &["CLIENT", "UNBLOCK", "999999", "TIMEOUT"],
        &["CLIENT", "UNBLOCK", "999999", "ERROR"],
        &["CLIENT", "UNBLOCK", "999999", "MAYBE"],
        &["CLIENT", "UNBLOCK", "1", "ERROR", "x"],
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "TYPE", "nope"],
        &["CLIENT", "KILL", "USER", "nobody"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "ADDR"],
        &["CLIENT", "KILL", "ID", "999999"],
        &["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no"],
        &["CLIENT", "KILL", "TYPE", "master"],
        &["CLIENT", "KILL", "USER", "default", "TYPE", "pubsub"],
        &["CLIENT", "KILL"],
        &["CLIENT", "LIST", "TYPE", "nope"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "LIST", "ID", "999999"],
        &["CLIENT", "LIST", "ID", "-1", "0"],
        &["CLIENT", "LIST", "FOO"],
        &["CLIENT", "NO-EVICT", "maybe"],
        &["CLIENT", "NO-EVICT", "on"],
        &["CLIENT", "NO-EVICT", "off"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME", "ok-name"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "HELP"],
    ] {
        s.cmd(0, args);
    }
    assert_same(&s);
}

// ---------------------------------------------------------------------------------------------
// Behaviour checked with the same assertions on both servers
// ---------------------------------------------------------------------------------------------

#[test]
fn redirect_to_a_resp2_subscriber_and_broken_redirect() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut sub = srv.connect();
        let sub_id = client_id(&mut sub);
        got.push(show(
            &sub.command(&["SUBSCRIBE", "__redis__:invalidate"]).unwrap(),
        ));
        let mut t = srv.connect();
        let r = t
            .command(&["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id])
            .unwrap();
        got.push(show(&r));
        let redir = t.command(&["CLIENT", "GETREDIR"]).unwrap();
        got.push((integer_value(&redir).unwrap().to_string() == sub_id).to_string());
        let list = t.command(&["CLIENT", "INFO"]).unwrap();
        let list = String::from_utf8_lossy(&list).into_owned();
        got.push(list.contains(&format!("redir={sub_id} ")).to_string());
        got.push(list.contains("flags=t ").to_string());
        t.command(&["MGET", "k1", "k2"]).unwrap();
        let mut w = srv.connect();
        w.command(&["SET", "k1", "v"]).unwrap();
        got.push(show(&sub.read_reply().unwrap()));
        w.command(&["FLUSHALL"]).unwrap();
        got.push(show(&sub.read_reply().unwrap()));
        // The redirect client goes away: RESP3 trackers are told, the flag shows R.
        let mut t3 = conn3(srv);
        t3.command(&["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id])
            .unwrap();
        t3.command(&["GET", "k3"]).unwrap();
        drop(sub);
        std::thread::sleep(Duration::from_millis(200));
        w.command(&["SET", "k3", "v"]).unwrap();
        let broken = t3.read_reply().unwrap();
        let id_int = format!(":{sub_id}\r\n");
        got.push(show(
            &String::from_utf8_lossy(&broken)
                .replace(&id_int, ":ID\r\n")
                .into_bytes(),
        ));
        let info = t3.command(&["CLIENT", "TRACKINGINFO"]).unwrap();
        got.push(show(
            &String::from_utf8_lossy(&info)
                .replace(&id_int, ":ID\r\n")
                .into_bytes(),
        ));
        // INFO's count of tracking clients: t and t3.
        let info = w.command(&["INFO", "clients"]).unwrap();
        got.push(
            String::from_utf8_lossy(&info)
                .split("\r\n")
                .find(|l| l.starts_with("tracking_clients"))
                .unwrap_or("")
                .to_string(),
        );
        let me = t3.command(&["CLIENT", "INFO"]).unwrap();
        got.push(
            String::from_utf8_lossy(&me)
                .contains("flags=tR ")
                .to_string(),
        );
        got
    });
}

#[test]
fn expiry_and_eviction_invalidate() {
    same_on_both(&[("maxmemory-policy", "allkeys-random")], |srv| {
        let mut got = Vec::new();
        let mut t = conn3(srv);
        let mut w = srv.connect();
        t.command(&["CLIENT", "TRACKING", "ON"]).unwrap();
        // Active expiry.
        w.command(&["SET", "e1", "v", "PX", "50"]).unwrap();
        t.command(&["GET", "e1"]).unwrap();
        got.push(show(&t.read_reply().unwrap()));
        // Lazy expiry (active expiry off): the read that finds it expired invalidates.
        w.command(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
        w.command(&["SET", "e2", "v", "PX", "20"]).unwrap();
        t.command(&["GET", "e2"]).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        got.push(show(&w.command(&["GET", "e2"]).unwrap()));
        got.push(show(&t.read_reply().unwrap()));
        w.command(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).unwrap();
        // Eviction: a lower maxmemory evicts every key, each tracked one invalidated.
        for i in 0..20 {
            w.command(&["SET", &format!("m{i}"), &"x".repeat(1000)])
                .unwrap();
        }
        t.command(&["GET", "m7"]).unwrap();
        w.command(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
        got.push(show(&t.read_reply().unwrap()));
        w.command(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
        got
    });
}

#[test]
fn tracking_table_max_keys_evicts_with_invalidations() {
    same_on_both(&[("tracking-table-max-keys", "2")], |srv| {
        let mut got = Vec::new();
        let mut t = conn3(srv);
        t.command(&["CLIENT", "TRACKING", "ON"]).unwrap();
        t.command(&["GET", "a"]).unwrap();
        t.command(&["GET", "b"]).unwrap();
        let mut w = srv.connect();
        let keys = |w: &mut RespConn| {
            let info = w.command(&["INFO", "stats"]).unwrap();
            String::from_utf8_lossy(&info)
                .split("\r\n")
                .find(|l| l.starts_with("tracking_total_keys"))
                .unwrap_or("")
                .to_string()
        };
        got.push(keys(&mut w));
        // A third key: one of the three is dropped from the table, its reader told.
        t.command(&["GET", "c"]).unwrap();
        let frame = t.read_reply().unwrap();
        got.push(
            String::from_utf8_lossy(&frame)
                .starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n")
                .to_string(),
        );
        std::thread::sleep(Duration::from_millis(300));
        got.push(keys(&mut w));
        got
    });
}

/// A replica applying its primary's writes invalidates its own tracking clients.
#[test]
fn replica_applied_writes_invalidate() {
    let _g = common::shared();
    for kind in [ServerKind::Redis, ServerKind::Ember] {
        let primary = ServerProcess::start(kind, &[]);
        let of = format!("127.0.0.1 {}", primary.port());
        let replica = ServerProcess::start(kind, &[("replicaof", of.as_str())]);
        let mut p = primary.connect();
        let mut r = replica.connect();
        let deadline = Instant::now() + Duration::from_secs(10);
        p.command(&["SET", "k", "0"]).unwrap();
        while r.command(&["GET", "k"]).unwrap() != b"$1\r\n0\r\n" {
            assert!(Instant::now() < deadline, "{kind:?}: replica never synced");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut t = conn3(&replica);
        t.command(&["CLIENT", "TRACKING", "ON"]).unwrap();
        t.command(&["GET", "k"]).unwrap();
        p.command(&["SET", "k", "1"]).unwrap();
        assert_eq!(t.read_reply().unwrap(), invalidate(&["k"]), "{kind:?}");
    }
}

/// A wasm module command (the bundled Bloom filter) invalidates like any write.
#[test]
fn wasm_module_writes_invalidate() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut t = conn3(&ember);
    t.command(&["CLIENT", "TRACKING", "ON"]).unwrap();
    t.command(&["EXISTS", "bf"]).unwrap();
    let mut w = ember.connect();
    let r = w.command(&["BF.ADD", "bf", "x"]).unwrap();
    assert!(!common::is_error(&r), "{}", show(&r));
    assert_eq!(t.read_reply().unwrap(), invalidate(&["bf"]));
}

#[test]
fn pause_write_holds_writes_and_serves_reads() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut admin = srv.connect();
        let mut w = srv.connect();
        let mut r = srv.connect();
        w.command(&["SET", "k", "v"]).unwrap();
        w.command(&["SET", "ttl", "v", "PX", "100"]).unwrap();
        got.push(show(
            &admin
                .command(&["CLIENT", "PAUSE", "100000", "WRITE"])
                .unwrap(),
        ));
        let started = Instant::now();
        w.send(&["SET", "k", "new"]).unwrap();
        w.set_timeout(Duration::from_millis(300));
        got.push(w.read_reply().is_err().to_string()); // held
        got.push(show(&r.command(&["GET", "k"]).unwrap()));
        // The held client counts as blocked.
        let info = r.command(&["INFO", "clients"]).unwrap();
        got.push(
            String::from_utf8_lossy(&info)
                .split("\r\n")
                .find(|l| l.starts_with("blocked_clients"))
                .unwrap_or("")
                .to_string(),
        );
        // Expiry waits: the key is hidden from reads but not deleted.
        std::thread::sleep(Duration::from_millis(200));
        got.push(show(&r.command(&["GET", "ttl"]).unwrap()));
        got.push(show(&r.command(&["DBSIZE"]).unwrap()));
        // PUBLISH may replicate: held too; a read-only script is not.
        got.push(show(&r.command(&["EVAL_RO", "return 1", "0"]).unwrap()));
        got.push(show(&admin.command(&["CLIENT", "UNPAUSE"]).unwrap()));
        w.set_timeout(Duration::from_secs(5));
        got.push(show(&w.read_reply().unwrap()));
        got.push((started.elapsed() < Duration::from_secs(5)).to_string());
        got.push(show(&r.command(&["GET", "k"]).unwrap()));
        // PAUSE ALL holds reads too, until its timeout.
        got.push(show(
            &admin.command(&["CLIENT", "PAUSE", "300", "ALL"]).unwrap(),
        ));
        let t0 = Instant::now();
        got.push(show(&r.command(&["GET", "k"]).unwrap()));
        got.push((t0.elapsed() >= Duration::from_millis(250)).to_string());
        got
    });
}

#[test]
fn pause_write_holds_multi_with_writes_and_scripts() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut admin = srv.connect();
        let mut m = srv.connect();
        got.push(show(&m.command(&["MULTI"]).unwrap()));
        got.push(show(&m.command(&["GET", "a"]).unwrap()));
        got.push(show(
            &admin.command(&["CLIENT", "PAUSE", "400", "WRITE"]).unwrap(),
        ));
        let t0 = Instant::now();
        // A queued write is held at queueing time, as Redis's processCommand does.
        got.push(show(&m.command(&["SET", "a", "1"]).unwrap()));
        got.push((t0.elapsed() >= Duration::from_millis(300)).to_string());
        got.push(show(&m.command(&["EXEC"]).unwrap()));
        got.push(show(
            &admin.command(&["CLIENT", "PAUSE", "400", "WRITE"]).unwrap(),
        ));
        let t1 = Instant::now();
        got.push(show(
            &m.command(&["EVAL", "return redis.call('GET','a')", "0"])
                .unwrap(),
        ));
        got.push((t1.elapsed() >= Duration::from_millis(300)).to_string());
        got
    });
}

/// CLIENT UNBLOCK on every blocking command, with TIMEOUT and ERROR.
#[test]
fn unblock_each_blocking_command() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut admin = srv.connect();
        admin
            .command(&["XGROUP", "CREATE", "st", "g", "$", "MKSTREAM"])
            .unwrap();
        admin.command(&["SET", "str", "x"]).unwrap();
        let commands: &[&[&str]] = &[
            &["BLPOP", "l", "0"],
            &["BRPOP", "l", "0"],
            &["BLMOVE", "l", "d", "LEFT", "RIGHT", "0"],
            &["BRPOPLPUSH", "l", "d", "0"],
            &["BLMPOP", "0", "1", "l", "LEFT"],
            &["BZPOPMIN", "z", "0"],
            &["BZPOPMAX", "z", "0"],
            &["BZMPOP", "0", "1", "z", "MIN"],
            &["XREAD", "BLOCK", "0", "STREAMS", "st", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "st",
                ">",
            ],
        ];
        for how in ["TIMEOUT", "ERROR"] {
            for cmd in commands {
                let mut b = srv.connect();
                let id = client_id(&mut b);
                b.send(cmd).unwrap();
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    let l = admin.command(&["CLIENT", "LIST", "ID", &id]).unwrap();
                    if String::from_utf8_lossy(&l).contains("flags=b") {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{cmd:?} never blocked");
                    std::thread::sleep(Duration::from_millis(10));
                }
                let n = admin.command(&["CLIENT", "UNBLOCK", &id, how]).unwrap();
                got.push(format!(
                    "{cmd:?} {how}: {} -> {}",
                    show(&n),
                    show(&b.read_reply().unwrap())
                ));
                // The client is usable afterwards, and not blocked any more.
                got.push(show(&b.command(&["PING"]).unwrap()));
                got.push(show(&admin.command(&["CLIENT", "UNBLOCK", &id]).unwrap()));
            }
        }
        got
    });
}

#[test]
fn kill_filters() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut admin = srv.connect();
        let admin_id = client_id(&mut admin);
        let mut a = srv.connect();
        let a_id = client_id(&mut a);
        let mut sub = srv.connect();
        sub.command(&["SUBSCRIBE", "ch"]).unwrap();
        // ID.
        got.push(show(
            &admin.command(&["CLIENT", "KILL", "ID", &a_id]).unwrap(),
        ));
        got.push(a.wait_closed(Duration::from_secs(2)).to_string());
        // TYPE pubsub.
        got.push(show(
            &admin
                .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
                .unwrap(),
        ));
        got.push(sub.wait_closed(Duration::from_secs(2)).to_string());
        // ADDR (new and old form) and LADDR.
        let mut b = srv.connect();
        let info = String::from_utf8_lossy(&b.command(&["CLIENT", "INFO"]).unwrap()).into_owned();
        let field = |name: &str| {
            info.split(' ')
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or("")
                .to_string()
        };
        let (addr, laddr) = (field("addr"), field("laddr"));
        got.push(show(&admin.command(&["CLIENT", "KILL", &addr]).unwrap()));
        got.push(b.wait_closed(Duration::from_secs(2)).to_string());
        got.push(show(&admin.command(&["CLIENT", "KILL", &addr]).unwrap()));
        let mut c = srv.connect();
        c.command(&["PING"]).unwrap();
        // LADDR matches every connection to this server; SKIPME yes spares the caller.
        got.push(show(
            &admin
                .command(&["CLIENT", "KILL", "LADDR", &laddr, "TYPE", "normal"])
                .unwrap(),
        ));
        got.push(c.wait_closed(Duration::from_secs(2)).to_string());
        got.push(show(&admin.command(&["PING"]).unwrap()));
        // USER default with SKIPME no kills the caller too (after its reply).
        let mut d = srv.connect();
        d.command(&["PING"]).unwrap();
        got.push(show(
            &admin
                .command(&["CLIENT", "KILL", "USER", "default", "SKIPME", "no"])
                .unwrap(),
        ));
        got.push(admin.wait_closed(Duration::from_secs(2)).to_string());
        got.push(d.wait_closed(Duration::from_secs(2)).to_string());
        let _ = admin_id;
        got
    });
}

/// MAXAGE (Redis 7.4's filter; not in 7.0, so Ember only).
#[test]
fn kill_maxage() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut admin = ember.connect();
    let mut old = ember.connect();
    old.command(&["PING"]).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let mut young = ember.connect();
    young.command(&["PING"]).unwrap();
    let n = admin.command(&["CLIENT", "KILL", "MAXAGE", "1"]).unwrap();
    // The caller is as old as `old`, but SKIPME spares it.
    assert_eq!(n, b":1\r\n");
    assert!(old.wait_closed(Duration::from_secs(2)));
    assert_eq!(young.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

#[test]
fn client_list_fields_are_live() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut c = conn3(&ember);
    c.command(&["CLIENT", "SETNAME", "me"]).unwrap();
    c.command(&["CLIENT", "TRACKING", "ON", "BCAST"]).unwrap();
    c.command(&["MULTI"]).unwrap();
    c.command(&["GET", "a"]).unwrap();
    let mut other = ember.connect();
    let list = other
        .command(&["CLIENT", "LIST", "TYPE", "normal"])
        .unwrap();
    let list = String::from_utf8_lossy(&list).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains("name=me"))
        .expect("our line");
    for want in [
        "flags=xtB ",
        "multi=1 ",
        "cmd=get ",
        "user=default ",
        "redir=0 ",
        "resp=3",
        "multi-mem=20 ",
        "argv-mem=0 ",
    ] {
        assert!(line.contains(want), "{want} not in {line}");
    }
    // The caller's own line shows its CLIENT LIST arguments; a reply buffer exists.
    let me = list
        .lines()
        .find(|l| l.contains("cmd=client|list"))
        .expect("caller's line");
    assert!(me.contains("argv-mem=20 "), "{me}");
    assert!(!me.contains("rbs=0 "), "{me}");
}

/// argv-mem and multi-mem count like Redis's (argument bytes, plus a pointer per queued one).
#[test]
fn client_list_memory_fields_match_redis() {
    same_on_both(&[], |srv| {
        let mut got = Vec::new();
        let mut m = srv.connect();
        m.command(&["MULTI"]).unwrap();
        m.command(&["GET", "a"]).unwrap();
        m.command(&["SET", "bb", "ccc"]).unwrap();
        let mut b = srv.connect();
        let b_id = client_id(&mut b);
        b.send(&["BLPOP", "l", "0"]).unwrap();
        let mut o = srv.connect();
        std::thread::sleep(Duration::from_millis(200));
        let list = o.command(&["CLIENT", "LIST"]).unwrap();
        let list = String::from_utf8_lossy(&list).into_owned();
        let field = |line: &str, name: &str| {
            line.split(' ')
                .find(|f| f.starts_with(&format!("{name}=")))
                .unwrap_or("")
                .to_string()
        };
        for l in list.lines() {
            let blocked = l.contains(&format!("id={b_id} "));
            if l.contains("flags=x") || blocked || l.contains("cmd=client|list") {
                let fields = ["multi", "argv-mem", "multi-mem", "flags", "cmd"];
                got.push(fields.map(|f| field(l, f)).join(" "));
            }
        }
        got.sort();
        got
    });
}

/// redis-py 8's RESP3 client-side cache against Ember: a read after another client's write
/// (acknowledged) never comes from a stale cache entry.
#[test]
fn redis_py_client_side_cache_never_serves_stale() {
    let _g = common::shared();
    let check = std::process::Command::new("python3")
        .args(["-c", "import redis.cache"])
        .status();
    if !check.is_ok_and(|s| s.success()) {
        eprintln!("redis-py with redis.cache is not installed: skipped");
        return;
    }
    let ember = ServerProcess::start_ember(&[]);
    // redis-py refuses servers that report a version below 7.4 (Ember reports
    // 7.0's): the test lowers that bar, the protocol is the same.
    let script = r#"
import sys, redis
import redis.connection as rc
from redis.cache import CacheConfig
rc.CacheProxyConnection.MIN_ALLOWED_VERSION = "7.0.0"
port = int(sys.argv[1])
r = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
w = redis.Redis(port=port)
stale = 0
for i in range(300):
    w.set('foo', str(i))
    if r.get('foo') != str(i).encode(): stale += 1
    r.get('foo')
    w.hset('h', 'f', str(i))
    if r.hget('h', 'f') != str(i).encode(): stale += 1
w.flushall()
if r.get('foo') is not None: stale += 1
print(stale)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &ember.port().to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "0", "stale reads from redis-py's cache");
}
