//! Memory under a limit, over real sockets against the real `ember-server` (and `redis-server`
//! 7.0 where the shape of a reply is compared): INFO memory and MEMORY STATS fields, maxmemory
//! eviction under each kind of policy (evicted_keys, the `evicted` keyspace event, DEL in the
//! AOF), -OOM under noeviction, client output buffer limits, the query buffer given back after a
//! large bulk, and maxclients. Every load loop is bounded and small.

#[path = "common/mod.rs"]
mod common;

use common::{
    integer_value, is_error, split_aggregate, string_value, Protocol, RespConn, ServerProcess,
};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn cmd(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    let r = cmd(c, args);
    integer_value(&r).unwrap_or_else(|| panic!("{args:?} gave {}", String::from_utf8_lossy(&r)))
}

/// INFO `section` as (field, value) pairs in order.
fn info(c: &mut RespConn, section: &str) -> Vec<(String, String)> {
    let r = cmd(c, &["INFO", section]);
    let text = String::from_utf8_lossy(string_value(&r).unwrap_or(&r)).into_owned();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(c: &mut RespConn, section: &str, name: &str) -> i64 {
    info(c, section)
        .into_iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {name}"))
}

/// Writes `n` keys `prefix:i` with `size`-byte values, pipelined in batches of 500.
fn fill(c: &mut RespConn, prefix: &str, n: usize, size: usize) {
    let value = "v".repeat(size);
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        for i in start..end {
            c.send(&["SET", &format!("{prefix}:{i}"), &value])
                .expect("send");
        }
        for _ in start..end {
            let r = c.read_reply().expect("reply");
            assert!(!is_error(&r), "SET failed: {}", String::from_utf8_lossy(&r));
        }
    }
}

#[test]
fn info_memory_prints_every_field_redis_prints_in_its_order() {
    let _g = common::shared();
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let names = |s: &ServerProcess| -> Vec<String> {
        info(&mut s.connect(), "memory")
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    let (rn, en) = (names(&redis), names(&ember));
    assert_eq!(en, rn, "INFO memory fields differ");
    let mut c = ember.connect();
    let fields = info(&mut c, "memory");
    let get = |name: &str| -> String {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let used: u64 = get("used_memory").parse().expect("used_memory");
    let rss: u64 = get("used_memory_rss").parse().expect("rss");
    let peak: u64 = get("used_memory_peak").parse().expect("peak");
    assert!(
        used > 1 << 20 && rss >= used && peak >= used,
        "used {used} rss {rss} peak {peak}"
    );
    assert_eq!(get("mem_allocator"), "mimalloc");
    assert_eq!(get("maxmemory_policy"), "noeviction");
    // Stats fields of eviction are there too.
    let stats: Vec<String> = info(&mut c, "stats").into_iter().map(|(k, _)| k).collect();
    for f in [
        "evicted_keys",
        "evicted_clients",
        "total_eviction_exceeded_time",
        "current_eviction_exceeded_time",
    ] {
        assert!(stats.iter().any(|k| k == f), "INFO stats lacks {f}");
    }
}

#[test]
fn memory_stats_has_redis_keys_and_used_memory_follows_the_data() {
    let _g = common::shared();
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let keys = |s: &ServerProcess| -> Vec<String> {
        let r = cmd(&mut s.connect(), &["MEMORY", "STATS"]);
        let (_, items) = split_aggregate(&r, Protocol::Resp2).expect("array");
        items
            .iter()
            .step_by(2)
            .map(|k| String::from_utf8_lossy(string_value(k).unwrap_or(k)).into_owned())
            .collect()
    };
    assert_eq!(keys(&ember), keys(&redis));
    let mut c = ember.connect();
    let before = field(&mut c, "memory", "used_memory");
    fill(&mut c, "k", 20_000, 100);
    let after = field(&mut c, "memory", "used_memory");
    let per_key = (after - before) / 20_000;
    // 64-byte entry, index share and a 100-byte value on the heap.
    assert!((150..=260).contains(&per_key), "{per_key} bytes per key");
    let usage = int(&mut c, &["MEMORY", "USAGE", "k:1"]);
    assert!(
        (per_key / 2..=per_key * 2).contains(&usage),
        "usage {usage} vs {per_key}/key"
    );
    // The DB appears in MEMORY STATS once it has keys.
    assert!(keys(&ember).iter().any(|k| k == "db.0"));
    // DOCTOR answers in Redis's words.
    let doc = cmd(&mut c, &["MEMORY", "DOCTOR"]);
    assert!(
        String::from_utf8_lossy(&doc).contains("Sam"),
        "{}",
        String::from_utf8_lossy(&doc)
    );
    let stats = cmd(&mut c, &["MEMORY", "MALLOC-STATS"]);
    assert!(string_value(&stats).is_some_and(|s| !s.is_empty()));
}

/// A server with `maxmemory` set `headroom` bytes above what it uses now.
fn limited(ember: &ServerProcess, policy: &str, headroom: i64) -> (RespConn, i64) {
    let mut c = ember.connect();
    // The Lua engine compiles in the background after start-up, its memory
    // coming and going: wait for it, so the baseline is the steady one.
    cmd(&mut c, &["EVAL", "return 1", "0"]);
    let base = field(&mut c, "memory", "used_memory");
    let max = base + headroom;
    cmd(&mut c, &["CONFIG", "SET", "maxmemory-policy", policy]);
    cmd(&mut c, &["CONFIG", "SET", "maxmemory", &max.to_string()]);
    (c, max)
}

#[test]
fn allkeys_lru_evicts_cold_keys_and_keeps_memory_near_the_limit() {
    let _g = common::shared();
    let ember =
        ServerProcess::start_ember(&[("appendonly", "yes"), ("notify-keyspace-events", "Ee")]);
    let mut sub = ember.connect();
    cmd(&mut sub, &["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let (mut c, max) = limited(&ember, "allkeys-lru", 3 << 20);
    // A hot set, read between batches of cold writes: LRU must keep it.
    fill(&mut c, "hot", 200, 100);
    let mut peak = 0;
    for round in 0..40 {
        fill(&mut c, &format!("cold{round}"), 500, 200);
        for i in 0..200 {
            c.send(&["GET", &format!("hot:{i}")]).expect("send");
        }
        for _ in 0..200 {
            c.read_reply().expect("reply");
        }
        peak = peak.max(field(&mut c, "memory", "used_memory"));
        if round % 10 == 9 {
            // A second passes: the LRU clock has a one-second resolution.
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    let evicted = field(&mut c, "stats", "evicted_keys");
    assert!(evicted > 1000, "only {evicted} keys evicted");
    let used = field(&mut c, "memory", "used_memory");
    assert!(used <= max + (256 << 10), "used {used} over max {max}");
    assert!(peak <= max + (1 << 20), "peak {peak} vs max {max}");
    let hot = (0..200)
        .filter(|i| int(&mut c, &["EXISTS", &format!("hot:{i}")]) == 1)
        .count();
    assert!(
        hot >= 190,
        "only {hot} of 200 hot keys survived LRU eviction"
    );
    // Each eviction was announced and reached the AOF as a DEL.
    sub.set_timeout(Duration::from_secs(2));
    let msg = sub.read_reply().expect("an evicted event");
    assert!(
        String::from_utf8_lossy(&msg).contains("evicted"),
        "{}",
        String::from_utf8_lossy(&msg)
    );
    let aof_dir = ember.dir().join("appendonlydir");
    let mut dels = 0;
    for e in std::fs::read_dir(&aof_dir).expect("aof dir").flatten() {
        if e.file_name().to_string_lossy().contains(".incr.") {
            let data = std::fs::read(e.path()).expect("aof");
            dels += data.windows(9).filter(|w| w == b"$3\r\nDEL\r\n").count();
        }
    }
    assert!(
        dels as i64 >= evicted / 2,
        "{dels} DELs in the AOF for {evicted} evictions"
    );
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let (mut c, _) = limited(&ember, "allkeys-lfu", 2 << 20);
    fill(&mut c, "hot", 100, 100);
    for _ in 0..20 {
        for i in 0..100 {
            c.send(&["GET", &format!("hot:{i}")]).expect("send");
        }
        for _ in 0..100 {
            c.read_reply().expect("reply");
        }
    }
    assert!(int(&mut c, &["OBJECT", "FREQ", "hot:1"]) > 5);
    for round in 0..30 {
        fill(&mut c, &format!("cold{round}"), 500, 200);
    }
    assert!(field(&mut c, "stats", "evicted_keys") > 1000);
    let hot = (0..100)
        .filter(|i| int(&mut c, &["EXISTS", &format!("hot:{i}")]) == 1)
        .count();
    assert!(
        hot >= 95,
        "only {hot} of 100 frequent keys survived LFU eviction"
    );
    // RESETSTAT zeroes the count (the background tick may evict a few more
    // keys right after, while the last fill is still over the limit).
    let before = field(&mut c, "stats", "evicted_keys");
    cmd(&mut c, &["CONFIG", "RESETSTAT"]);
    let after = field(&mut c, "stats", "evicted_keys");
    assert!(
        after < before / 2,
        "evicted_keys {before} -> {after} after RESETSTAT"
    );
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    for policy in [
        "volatile-ttl",
        "volatile-lru",
        "volatile-random",
        "volatile-lfu",
    ] {
        let mut c = ember.connect();
        cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        cmd(&mut c, &["FLUSHALL"]);
        fill(&mut c, "keep", 300, 100);
        let (mut c, _) = limited(&ember, policy, 2 << 20);
        let value = "x".repeat(200);
        let mut oom = None;
        for i in 0..20_000 {
            let ttl = (1000 + i).to_string();
            let r = cmd(&mut c, &["SET", &format!("t:{i}"), &value, "EX", &ttl]);
            if is_error(&r) {
                oom = Some(String::from_utf8_lossy(&r).into_owned());
                break;
            }
        }
        assert_eq!(oom, None, "{policy}: keys with a TTL can always be evicted");
        let kept = (0..300)
            .filter(|i| int(&mut c, &["EXISTS", &format!("keep:{i}")]) == 1)
            .count();
        assert_eq!(kept, 300, "{policy} evicted a key without a TTL");
        assert!(field(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        if policy == "volatile-ttl" {
            // The nearest deadlines went first: the last keys written survive.
            assert_eq!(int(&mut c, &["EXISTS", "t:19999"]), 1);
        }
        // With only persistent keys left to take, writes are refused (once the
        // keys with a TTL are gone: each command evicts for a bounded time).
        cmd(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
        let mut r = Vec::new();
        for _ in 0..500 {
            r = cmd(&mut c, &["SET", "new", "1"]);
            if is_error(&r) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            r, b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
            "{policy}"
        );
        // Only the persistent keys are left (and `new`, from a SET that got in).
        let left = int(&mut c, &["DBSIZE"]);
        assert!((300..=301).contains(&left), "{policy}: {left} keys left");
        assert_eq!(int(&mut c, &["EXISTS", "keep:1"]), 1);
    }
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut c = ember.connect();
    fill(&mut c, "k", 1000, 100);
    cmd(&mut c, &["CONFIG", "SET", "maxmemory", "1mb"]);
    assert_eq!(
        cmd(&mut c, &["SET", "x", "1"]),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert!(string_value(&cmd(&mut c, &["GET", "k:1"])).is_some());
    assert_eq!(int(&mut c, &["DEL", "k:1"]), 1);
    assert_eq!(field(&mut c, "stats", "evicted_keys"), 0);
    assert_eq!(int(&mut c, &["DBSIZE"]), 999);
    cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(cmd(&mut c, &["SET", "x", "1"]), b"+OK\r\n");
}

#[test]
fn a_client_over_the_normal_output_limit_is_disconnected() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("client-output-buffer-limit", "normal 1mb 512kb 0")]);
    let mut c = ember.connect();
    cmd(&mut c, &["SET", "big", &"b".repeat(1000)]);
    // 20 000 GETs of 1 KB, never read: 20 MB of replies against a 1 MB limit.
    let mut raw = std::net::TcpStream::connect(ember.addr()).expect("connect");
    let one = common::encode_command(&["GET", "big"]);
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
    let mut sent = 0;
    for _ in 0..20 {
        if raw.write_all(&batch).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    // The server closes it; reading what was already sent ends in EOF or a reset.
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match raw.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => total += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(
        closed,
        "the client was not disconnected ({total} bytes read)"
    );
    assert!(
        total < 4 << 20,
        "{total} bytes of replies reached a client over a 1 MB limit"
    );
    assert!(cmd(&mut c, &["PING"]) == b"+PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ember
        .output()
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
    {
        assert!(Instant::now() < deadline, "no log line: {}", ember.output());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_list_shows_real_output_and_query_buffers() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[]);
    let mut c = ember.connect();
    cmd(&mut c, &["SET", "big", &"b".repeat(100_000)]);
    let mut raw = std::net::TcpStream::connect(ember.addr()).expect("connect");
    let one = common::encode_command(&["GET", "big"]);
    for _ in 0..200 {
        raw.write_all(&one).expect("write");
    }
    // Without reading, megabytes of replies wait in the server: omem says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = cmd(&mut c, &["CLIENT", "LIST"]);
        let text = String::from_utf8_lossy(&list).into_owned();
        let omem = text
            .lines()
            .filter(|l| l.contains("cmd=get"))
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")))
            .filter_map(|v| v.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if omem > 1 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "omem stayed {omem}: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(field(&mut c, "memory", "mem_clients_normal") > 1 << 20);
}

#[test]
fn a_large_bulk_costs_what_was_sent_and_is_given_back() {
    let _g = common::exclusive();
    let ember = ServerProcess::start_ember(&[]);
    let mut c = ember.connect();
    let rss = |c: &mut RespConn| field(c, "memory", "used_memory_rss");
    let base = rss(&mut c);
    let mut raw = std::net::TcpStream::connect(ember.addr()).expect("connect");
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n")
        .expect("header");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..128 {
        raw.write_all(&chunk).expect("body");
    }
    // Wait until the server has read it all.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = 0;
    while Instant::now() < deadline {
        held = rss(&mut c) - base;
        if held >= 120 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(held >= 120 << 20, "128 MB sent, RSS grew {held}");
    assert!(
        held < 200 << 20,
        "128 MB sent of a 512 MB bulk cost {held} bytes of RSS"
    );
    drop(raw);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = rss(&mut c) - base;
        if now < 32 << 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} bytes still held after the client left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn maxclients_refuses_with_redis_text() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("maxclients", "2")]);
    let _a = ember.connect();
    let _b = ember.connect();
    let mut third = std::net::TcpStream::connect(ember.addr()).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = Vec::new();
    let _ = third.read_to_end(&mut buf);
    assert_eq!(buf, b"-ERR max number of clients reached\r\n");
}

#[test]
fn maxmemory_clients_evicts_the_biggest_client_but_not_a_no_evict_one() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[("maxmemory-clients", "4mb")]);
    let mut c = ember.connect();
    cmd(&mut c, &["SET", "big", &"b".repeat(100_000)]);
    let one = common::encode_command(&["GET", "big"]);
    // A protected client piles up ~3 MB of replies: under the limit alone, and exempt.
    let mut keep = std::net::TcpStream::connect(ember.addr()).expect("connect");
    keep.write_all(&common::encode_command(&["CLIENT", "NO-EVICT", "on"]))
        .expect("write");
    for _ in 0..30 {
        keep.write_all(&one).expect("write");
    }
    // Another piles up ~10 MB: together over 4 MB, so it goes.
    let mut hog = std::net::TcpStream::connect(ember.addr()).expect("connect");
    for _ in 0..100 {
        if hog.write_all(&one).is_err() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while field(&mut c, "stats", "evicted_clients") == 0 {
        assert!(Instant::now() < deadline, "no client was evicted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let list = String::from_utf8_lossy(&cmd(&mut c, &["CLIENT", "LIST"])).into_owned();
    assert!(
        list.lines().any(|l| l.contains("flags=e")),
        "the NO-EVICT client is gone: {list}"
    );
    hog.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match hog.read(&mut buf) {
            Ok(0) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(closed);
    assert!(ember.output().contains("Evicting client"));
}

#[test]
fn lfu_counters_and_idle_times_survive_a_reload() {
    let _g = common::shared();
    let ember = ServerProcess::start_ember(&[
        ("maxmemory-policy", "allkeys-lfu"),
        ("enable-debug-command", "yes"),
    ]);
    let mut c = ember.connect();
    cmd(&mut c, &["SET", "hot", "1"]);
    cmd(&mut c, &["SET", "cold", "1"]);
    for _ in 0..2000 {
        c.send(&["GET", "hot"]).expect("send");
    }
    for _ in 0..2000 {
        c.read_reply().expect("reply");
    }
    let freq = int(&mut c, &["OBJECT", "FREQ", "hot"]);
    assert!(freq > 10, "2000 hits gave {freq}");
    assert_eq!(cmd(&mut c, &["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(int(&mut c, &["OBJECT", "FREQ", "hot"]), freq);
    assert_eq!(int(&mut c, &["OBJECT", "FREQ", "cold"]), 5);
    // Under an LRU policy the file carries idle times instead.
    cmd(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    cmd(&mut c, &["DEL", "hot"]);
    cmd(&mut c, &["SET", "old", "1"]);
    c.send_raw(b"*5\r\n$7\r\nRESTORE\r\n$3\r\nold\r\n$1\r\n0\r\n$15\r\n\x00\x03bar\n\x00\xe6\xbeI`\xeef\xfd\x17\r\n$7\r\nREPLACE\r\n")
        .expect("send");
    assert_eq!(c.read_reply().expect("reply"), b"+OK\r\n");
    c.send_raw(b"*7\r\n$7\r\nRESTORE\r\n$4\r\nidle\r\n$1\r\n0\r\n$15\r\n\x00\x03bar\n\x00\xe6\xbeI`\xeef\xfd\x17\r\n$7\r\nREPLACE\r\n$8\r\nIDLETIME\r\n$4\r\n5000\r\n")
        .expect("send");
    assert_eq!(c.read_reply().expect("reply"), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &["DEBUG", "RELOAD"]), b"+OK\r\n");
    let idle = int(&mut c, &["OBJECT", "IDLETIME", "idle"]);
    assert!((5000..=5003).contains(&idle), "idle {idle} after reload");
}
