//! What a write puts in the AOF (and, by the same effects stream, what a
//! replica receives) compared with redis-server 7.0, command by command.
//!
//! One script of steps (several connections, blocking commands served
//! later, scripts, functions, transactions, expiry in the past, MIGRATE to a
//! third server) runs against redis-server and against Ember, both with
//! `appendonly yes`, `aof-timestamp-enabled no` and `appendfsync always`.
//! Then the incremental AOF files are parsed into commands and compared.
//!
//! Normalised, because they must differ between two runs: absolute unix
//! times (the PXAT/PEXPIREAT/ABSTTL deadlines Redis computes from relative
//! TTLs, XCLAIM's TIME), which become `<ms>`; ports, which become `<port>`.
//! Everything else — command names, argument order and case, MULTI/EXEC
//! wrapping, SELECTs — must be byte for byte Redis's.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// One step of the script.
enum Step {
    /// Send on connection n and read the reply.
    Cmd(usize, Vec<String>),
    /// Send on connection n without reading (a command that blocks).
    Block(usize, Vec<String>),
    /// Read the pending reply of connection n (its blocked command served).
    Read(usize),
    /// Wait a little (a TTL runs out).
    Sleep(u64),
    /// DUMP key, then RESTORE the payload as each (key, ttl, options).
    Restore(&'static str, Vec<&'static str>),
}

fn c(n: usize, args: &str) -> Step {
    Step::Cmd(n, split(args))
}

fn split(args: &str) -> Vec<String> {
    args.split(' ').map(|a| a.replace('_', " ")).collect()
}

const LUA_LIB: &str = "#!lua name=plib\nredis.register_function('pset', function(keys, args) redis.call('SET', keys[1], args[1]); return redis.call('INCR', keys[2]) end)";

fn script(target_port: u16) -> Vec<Step> {
    use Step::*;
    let mut s = vec![
        // Strings.
        c(0, "SET s1 v EX 100"),
        c(0, "SET s2 v PX 100000"),
        c(0, "SET s3 v EXAT 4102444800"),
        c(0, "SET s4 v KEEPTTL"),
        c(0, "SET s1 w KEEPTTL"),
        c(0, "SET s1 x GET"),
        c(0, "SET s5 v NX GET"),
        c(0, "SET s5 v XX EX 10 GET"),
        c(0, "SET s6 v EXAT 1"),
        c(0, "GET s6"),
        c(0, "SET s10 v PXAT 4102444800000 GET"),
        c(0, "SET s10 v get XX"),
        c(0, "SETEX s7 100 v"),
        c(0, "PSETEX s8 100000 v"),
        c(0, "SETNX s9 v"),
        c(0, "SETNX s9 v"),
        c(0, "GETSET s9 w"),
        c(0, "MSET m1 a m2 b"),
        c(0, "MSETNX m1 a m3 c"),
        c(0, "GETEX s9 EX 100"),
        c(0, "GETEX s9 PERSIST"),
        c(0, "GETEX s9 PXAT 1"),
        c(0, "GETEX nokey EX 10"),
        c(0, "GETDEL s7"),
        c(0, "GETDEL nokey"),
        c(0, "APPEND s1 tail"),
        c(0, "SETRANGE s1 2 zz"),
        c(0, "INCR n1"),
        c(0, "INCRBY n1 5"),
        c(0, "DECRBY n1 2"),
        c(0, "SET f1 1.5 EX 100"),
        c(0, "INCRBYFLOAT f1 0.25"),
        c(0, "INCRBYFLOAT f2 3"),
        c(0, "SETBIT b1 7 1"),
        c(0, "BITFIELD b1 INCRBY u8 0 1 GET u8 0"),
        c(0, "BITFIELD b1 GET u8 0"),
        c(0, "BITOP OR b2 b1 s1"),
        // Expiry.
        c(0, "SET e1 v"),
        c(0, "EXPIRE e1 100"),
        c(0, "PEXPIRE e1 200000"),
        c(0, "EXPIREAT e1 4102444800"),
        c(0, "PEXPIREAT e1 4102444800000"),
        c(0, "EXPIRE e1 50 GT"),
        c(0, "EXPIRE e1 50 LT"),
        c(0, "PERSIST e1"),
        c(0, "PERSIST e1"),
        c(0, "EXPIRE e1 -1"),
        c(0, "SET e2 v"),
        c(0, "EXPIREAT e2 100"),
        c(0, "SET e3 v"),
        c(0, "PEXPIREAT e3 1"),
        c(0, "SET e4 v PX 30"),
        Sleep(100),
        c(0, "GET e4"),
        // Keyspace.
        c(0, "SET k1 v PX 100000"),
        c(0, "RENAME k1 k2"),
        c(0, "RENAMENX k2 s1"),
        c(0, "COPY k2 k3"),
        c(0, "MOVE k3 2"),
        c(0, "DEL k2 nokey"),
        c(0, "UNLINK s2 s3"),
        c(0, "SWAPDB 0 2"),
        c(0, "SWAPDB 0 2"),
        c(0, "SET r0 v"),
        Restore(
            "r0",
            vec!["r1 0", "r2 100000", "r3 4102444800000 ABSTTL", "r1 1 REPLACE", "r4 0 IDLETIME 10"],
        ),
        Sleep(20),
        c(0, "GET r1"),
        // Lists, with blocking commands served at once and after blocking.
        c(0, "RPUSH l1 a b c d e f g"),
        c(0, "LPOP l1"),
        c(0, "RPOP l1 2"),
        c(0, "LMOVE l1 l2 LEFT RIGHT"),
        c(0, "RPOPLPUSH l1 l2"),
        c(0, "LMPOP 2 nokey l1 LEFT COUNT 1"),
        c(0, "BLMPOP 0 1 l1 RIGHT"),
        c(0, "BLPOP l2 0"),
        c(0, "BRPOP l2 0"),
        c(0, "RPUSH l3 a b c"),
        c(0, "BLMOVE l3 l4 LEFT RIGHT 0"),
        c(0, "BRPOPLPUSH l3 l4 0"),
        c(0, "BLMPOP 0 1 l3 LEFT COUNT 9"),
        c(0, "LINSERT l1 BEFORE c x"),
        c(0, "LSET l1 0 y"),
        c(0, "LREM l1 0 zz"),
        c(0, "LTRIM l1 0 0"),
        Block(1, split("BLPOP bl1 0")),
        Sleep(100),
        c(0, "RPUSH bl1 a b"),
        Read(1),
        Block(1, split("BRPOPLPUSH bl2 bl3 0")),
        Sleep(100),
        c(0, "LPUSH bl2 a"),
        Read(1),
        Block(1, split("BLMOVE bl4 bl5 RIGHT LEFT 0")),
        Sleep(100),
        c(0, "RPUSH bl4 a"),
        Read(1),
        Block(1, split("BLMPOP 0 2 bl6 bl7 LEFT COUNT 5")),
        Sleep(100),
        c(0, "RPUSH bl7 a b"),
        Read(1),
        // Sets.
        c(0, "SADD st1 a"),
        c(0, "SPOP st1"),
        c(0, "SADD st2 a"),
        c(0, "SPOP st2 5"),
        c(0, "SADD st3 a"),
        c(0, "SPOP st3 1"),
        c(0, "SADD st4 a b"),
        c(0, "SMOVE st4 st5 a"),
        c(0, "SREM st4 b nope"),
        c(0, "SADD st6 1 2 3"),
        c(0, "SINTERSTORE st7 st6 st6"),
        c(0, "SPOP st6 0"),
        // Hashes.
        c(0, "HSET h1 a 1 b 2"),
        c(0, "HSETNX h1 a 5"),
        c(0, "HINCRBY h1 a 4"),
        c(0, "HINCRBYFLOAT h1 b 1.5"),
        c(0, "HINCRBYFLOAT h1 c 2"),
        c(0, "HDEL h1 a zz"),
        // Sorted sets.
        c(0, "ZADD z1 1 a 2 b 3 c 4 d"),
        c(0, "ZADD z1 INCR 5 a"),
        c(0, "ZINCRBY z1 1 b"),
        c(0, "ZPOPMIN z1"),
        c(0, "ZPOPMAX z1 1"),
        c(0, "ZMPOP 1 z1 MIN"),
        c(0, "BZMPOP 0 1 z1 MAX COUNT 3"),
        c(0, "ZADD z2 1 a 2 b"),
        c(0, "BZPOPMIN z2 0"),
        c(0, "BZPOPMAX z2 0"),
        Block(1, split("BZPOPMIN bz1 0")),
        Sleep(100),
        c(0, "ZADD bz1 1 a 2 b"),
        Read(1),
        Block(1, split("BZMPOP 0 1 bz2 MAX COUNT 2")),
        Sleep(100),
        c(0, "ZADD bz2 1 a 2 b 3 c"),
        Read(1),
        Block(1, split("BZMPOP 0 1 bz3 MIN COUNT 5")),
        Sleep(100),
        c(0, "ZADD bz3 1 a 2 b"),
        Read(1),
        c(0, "ZADD z6 1 a 2 b"),
        c(0, "ZPOPMIN z6 5"),
        c(0, "ZADD z3 1 a 2 b"),
        c(0, "ZRANGESTORE z4 z3 0 -1"),
        c(0, "ZUNIONSTORE z5 2 z3 z4"),
        c(0, "ZREMRANGEBYSCORE z5 0 1"),
        // HyperLogLog: PFCOUNT writes its cached cardinality.
        c(0, "PFADD p1 a b c"),
        c(0, "PFCOUNT p1"),
        c(0, "PFCOUNT p1"),
        c(0, "PFADD p1 a"),
        c(0, "PFMERGE p2 p1"),
        // Geo.
        c(0, "GEOADD g1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"),
        c(0, "GEOSEARCHSTORE g2 g1 FROMLONLAT 15 37 BYRADIUS 200 km ASC"),
        c(0, "GEORADIUS g1 15 37 200 km STORE g3"),
        // Streams, explicit IDs.
        c(0, "XADD x1 1-1 f v"),
        c(0, "XADD x1 2-1 f v"),
        c(0, "XADD x1 3-1 f v"),
        c(0, "XADD x1 MAXLEN ~ 1 4-1 f v"),
        c(0, "XADD x1 NOMKSTREAM 5-1 f v"),
        c(0, "XADD nox NOMKSTREAM 5-1 f v"),
        c(0, "XGROUP CREATE x1 g1 0"),
        c(0, "XGROUP CREATE x1 g2 $ ENTRIESREAD 3"),
        c(0, "XGROUP CREATECONSUMER x1 g1 alice"),
        c(0, "XREADGROUP GROUP g1 alice COUNT 2 STREAMS x1 >"),
        c(0, "XREADGROUP GROUP g1 alice STREAMS x1 0"),
        c(0, "XREADGROUP GROUP g1 bob STREAMS x1 0"),
        c(0, "XREADGROUP GROUP g1 bob NOACK STREAMS x1 >"),
        c(0, "XCLAIM x1 g1 carol 0 1-1"),
        c(0, "XCLAIM x1 g1 carol 0 2-1 JUSTID"),
        c(0, "XAUTOCLAIM x1 g1 dave 0 0 COUNT 10"),
        c(0, "XCLAIM x1 g1 carol 0 1-1 2-1 LASTID 9-9"),
        c(0, "XCLAIM x1 g1 carol 999999999 1-1 LASTID 9-10"),
        c(0, "XACK x1 g1 1-1"),
        c(0, "XGROUP SETID x1 g1 2-1"),
        c(0, "XGROUP DELCONSUMER x1 g1 dave"),
        c(0, "XGROUP DESTROY x1 g2"),
        c(0, "XDEL x1 2-1"),
        c(0, "XTRIM x1 MAXLEN 1"),
        c(0, "XTRIM x1 MINID ~ 9"),
        c(0, "XSETID x1 10-1"),
        c(0, "XGROUP CREATE x2 g $ MKSTREAM"),
        c(0, "XADD x2 1-1 f v"),
        c(0, "XADD x2 2-1 f v"),
        c(0, "XREADGROUP GROUP g c STREAMS x2 >"),
        c(0, "XDEL x2 1-1"),
        c(0, "XAUTOCLAIM x2 g d 0 0"),
        c(0, "XADD x2 3-1 f v"),
        c(0, "XREADGROUP GROUP g c STREAMS x2 >"),
        c(0, "XDEL x2 3-1"),
        c(0, "XCLAIM x2 g e 0 3-1"),
        Block(1, split("XREADGROUP GROUP g1 eve BLOCK 0 STREAMS x1 >")),
        Sleep(100),
        c(0, "XADD x1 11-1 f v"),
        Read(1),
        // Transactions, scripts, functions.
        c(0, "MULTI"),
        c(0, "SET t1 v EX 100"),
        c(0, "INCR t2"),
        c(0, "GET t1"),
        c(0, "EXEC"),
        c(0, "MULTI"),
        c(0, "GET t1"),
        c(0, "EXEC"),
        c(0, "MULTI"),
        c(0, "INCR t2"),
        c(0, "EXEC"),
        c(
            0,
            "EVAL redis.call('SET',KEYS[1],'x','EX',100);redis.call('SPOP',KEYS[2]);return_1 2 sc1 sc2",
        ),
        c(0, "EVAL redis.call('INCR',KEYS[1]);return_1 1 sc3"),
        c(0, "EVAL return_redis.call('GET',KEYS[1]) 1 sc3"),
        Step::Cmd(0, vec!["FUNCTION".into(), "LOAD".into(), LUA_LIB.into()]),
        c(0, "FCALL pset 2 fk1 fk2 val"),
        c(0, "SELECT 5"),
        c(0, "SET d5 v"),
        c(0, "FLUSHDB"),
        c(0, "SELECT 0"),
    ];
    // MIGRATE to a third server: DEL of what left unless COPY.
    let port = target_port.to_string();
    for a in [
        "SET mg1 v",
        "SET mg2 v",
        "SET mg3 v",
        &format!("MIGRATE 127.0.0.1 {port} mg1 0 5000"),
        &format!("MIGRATE 127.0.0.1 {port} mg2 0 5000 COPY"),
        &format!("MIGRATE 127.0.0.1 {port} _ 0 5000 REPLACE KEYS mg2 mg3 nokey"),
        &format!("MIGRATE 127.0.0.1 {port} nokey 0 5000"),
    ] {
        s.push(Step::Cmd(
            0,
            a.split(' ')
                .map(|w| {
                    if w == "_" {
                        String::new()
                    } else {
                        w.to_string()
                    }
                })
                .collect(),
        ));
    }
    s.push(c(0, "FLUSHALL"));
    s.push(c(0, "SET last v"));
    s
}

/// The commands of every incremental file, in manifest order.
fn incr_commands(dir: &Path) -> Vec<Vec<Vec<u8>>> {
    let aof = dir.join("appendonlydir");
    let manifest = std::fs::read_to_string(aof.join("appendonly.aof.manifest")).expect("manifest");
    let mut out = Vec::new();
    for line in manifest.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 6 && w[5] == "i" {
            let data = std::fs::read(aof.join(w[1])).expect("incr file");
            out.extend(parse_commands(&data));
        }
    }
    out
}

fn parse_commands(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let line = |pos: &mut usize| -> String {
        let end = data[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("CRLF")
            + *pos;
        let s = String::from_utf8_lossy(&data[*pos..end]).into_owned();
        *pos = end + 2;
        s
    };
    while pos < data.len() {
        let head = line(&mut pos);
        let n: usize = head
            .strip_prefix('*')
            .expect("array")
            .parse()
            .expect("argc");
        let mut argv = Vec::new();
        for _ in 0..n {
            let len: usize = line(&mut pos)
                .strip_prefix('$')
                .expect("bulk")
                .parse()
                .expect("len");
            argv.push(data[pos..pos + len].to_vec());
            pos += len + 2;
        }
        out.push(argv);
    }
    out
}

/// One command as text, absolute times and ports normalised (see the
/// module doc).
fn render(argv: &[Vec<u8>], port: u16) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    argv.iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a).into_owned();
            match s.parse::<i64>() {
                Ok(n) if (n - now_ms).abs() < 3_600_000 => "<ms>".to_string(),
                Ok(n) if n == i64::from(port) => "<port>".to_string(),
                _ => escape(a),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_script(kind: ServerKind) -> Vec<String> {
    let srv = ServerProcess::start(
        kind,
        &[
            ("appendonly", "yes"),
            ("aof-timestamp-enabled", "no"),
            ("appendfsync", "always"),
        ],
    );
    let target = ServerProcess::start_redis(&[]);
    let mut conns = [srv.connect(), srv.connect()];
    for (i, step) in script(target.port()).iter().enumerate() {
        match step {
            Step::Cmd(n, argv) => {
                conns[*n]
                    .command(argv)
                    .unwrap_or_else(|e| panic!("{}: step {i} {argv:?}: {e}", kind.name()));
            }
            Step::Block(n, argv) => conns[*n].send(argv).expect("send"),
            Step::Read(n) => {
                conns[*n].read_reply().expect("served reply");
            }
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Restore(key, targets) => {
                let r = conns[0].command(&["DUMP", key]).expect("DUMP");
                let payload = string_value(&r).expect("payload").to_vec();
                for t in targets {
                    let w: Vec<&str> = t.split(' ').collect();
                    let mut argv: Vec<&[u8]> =
                        vec![b"RESTORE", w[0].as_bytes(), w[1].as_bytes(), &payload];
                    argv.extend(w[2..].iter().map(|x| x.as_bytes()));
                    conns[0].command(&argv).expect("RESTORE");
                }
            }
        }
    }
    incr_commands(srv.dir())
        .iter()
        .map(|a| render(a, target.port()))
        .collect()
}

#[test]
fn aof_matches_redis_command_by_command() {
    let _g = shared();
    let want = run_script(ServerKind::Redis);
    let got = run_script(ServerKind::Ember);
    // EMBER_AOF_DIFF_DIR=dir keeps both renderings there, for `diff -u`.
    if let Some(d) = std::env::var_os("EMBER_AOF_DIFF_DIR") {
        let d = std::path::PathBuf::from(d);
        let _ = std::fs::write(d.join("redis.txt"), want.join("\n") + "\n");
        let _ = std::fs::write(d.join("ember.txt"), got.join("\n") + "\n");
    }
    let mut report = Vec::new();
    let n = want.len().max(got.len());
    let mut first = None;
    for i in 0..n {
        let (w, g) = (want.get(i), got.get(i));
        if w != g && first.is_none() {
            first = Some(i);
        }
    }
    if let Some(i) = first {
        for j in i.saturating_sub(3)..(i + 12).min(n) {
            report.push(format!(
                "{j:4} redis: {}\n     ember: {}",
                want.get(j).map_or("-", |s| s.as_str()),
                got.get(j).map_or("-", |s| s.as_str())
            ));
        }
        panic!(
            "AOF differs from Redis's at command {i} ({} vs {} commands):\n{}",
            want.len(),
            got.len(),
            report.join("\n")
        );
    }
}
