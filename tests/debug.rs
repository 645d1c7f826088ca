//! DEBUG against the real redis-server 7.0, both started with `enable-debug-command yes`:
//! the data-set digests (DEBUG DIGEST, DIGEST-VALUE) over data of every type and encoding must
//! be identical, since other tests compare servers (replicas, Ember and Redis) with them; the
//! other subcommands must answer byte for byte as Redis does in RESP2 and RESP3, except for the
//! documented fields of DEBUG OBJECT (address, LRU clock) that differ between any two servers.

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
mod corpus;

use common::{split_aggregate, Protocol, RespConn, ServerProcess};

const DEBUG_ON: &[(&str, &str)] = &[("enable-debug-command", "yes")];

fn cmd<A: AsRef<[u8]>>(c: &mut RespConn, args: &[A]) -> Vec<u8> {
    c.send(args).expect("send");
    c.read_reply().expect("reply")
}

/// Both servers, each with one connection.
struct Pair {
    _redis: ServerProcess,
    _ember: ServerProcess,
    r: RespConn,
    e: RespConn,
}

impl Pair {
    fn start() -> Pair {
        Pair::start_with(DEBUG_ON)
    }

    fn start_with(config: &[(&str, &str)]) -> Pair {
        let redis = ServerProcess::start_redis(config);
        let ember = ServerProcess::start_ember(config);
        let (r, e) = (redis.connect(), ember.connect());
        Pair {
            _redis: redis,
            _ember: ember,
            r,
            e,
        }
    }

    /// Runs one command on both; the replies must be identical. Returns Redis's.
    fn same<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        let a = cmd(&mut self.r, args);
        let b = cmd(&mut self.e, args);
        let shown: Vec<String> = args.iter().map(|x| common::escape(x.as_ref())).collect();
        assert_eq!(
            common::escape(&a),
            common::escape(&b),
            "{shown:?}: redis (left) vs ember (right)"
        );
        a
    }

    /// Runs a batch of `redis-cli`-style lines on both, each compared.
    fn script(&mut self, lines: &str) {
        for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let args = corpus::split_args(line).expect("corpus-style line");
            self.same(&args);
        }
    }

    fn both<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        cmd(&mut self.r, args);
        cmd(&mut self.e, args);
    }
}

/// A deterministic pseudo-random generator (the test must be reproducible).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Loads the same data set of every type, in small and large encodings, into both servers.
fn load_data_set(p: &mut Pair, seed: u64) {
    let mut rng = Lcg(seed);
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    cmds.push(s(&["SET", "str", "hello"]));
    cmds.push(s(&["SET", "int", "-12345"]));
    cmds.push(s(&["SET", "big", &"x".repeat(300)]));
    cmds.push(s(&["SET", "bin\x00key", "\x00\x01\x7f\u{ff}"]));
    cmds.push(s(&["SET", "ttl", "v", "EX", "1000"]));
    cmds.push(s(&["APPEND", "appended", "abc"]));
    cmds.push(s(&["SETRANGE", "ranged", "3", "z"]));
    for n in [3usize, 200] {
        let list: Vec<String> = (0..n).map(|_| format!("{}", rng.below(50))).collect();
        let mut c = s(&["RPUSH", &format!("list{n}")]);
        c.extend(list.iter().cloned());
        cmds.push(c);
        cmds.push(s(&["LPUSH", &format!("list{n}"), "head", "-7", "3.5"]));
        let mut c = s(&["SADD", &format!("intset{n}")]);
        c.extend((0..n).map(|i| format!("{}", i as i64 * 37 - 100)));
        cmds.push(c);
        let mut c = s(&["SADD", &format!("set{n}")]);
        c.extend((0..n).map(|i| format!("m{}", rng.below(1000) + i as u64)));
        cmds.push(c);
        let mut c = s(&["HSET", &format!("hash{n}")]);
        for i in 0..n {
            c.push(format!("f{i}"));
            c.push(format!("{}", rng.below(100000)));
        }
        cmds.push(c);
        let mut c = s(&["ZADD", &format!("zset{n}")]);
        for i in 0..n {
            let score = match i % 5 {
                0 => format!("{}", rng.below(1000)),
                1 => format!("{}.{}", rng.below(100), rng.below(1000)),
                2 => format!("-{}e-3", rng.below(10000)),
                3 => "0.1".to_string(),
                _ => format!("{}", 1.0 / (1.0 + rng.below(7) as f64)),
            };
            c.push(score);
            c.push(format!("z{i}"));
        }
        cmds.push(c);
    }
    cmds.push(s(&[
        "ZADD", "zinf", "inf", "a", "-inf", "b", "0", "c", "-0", "d",
    ]));
    cmds.push(s(&["ZADD", "zint", "1", "10", "2", "20"]));
    for i in 0..30 {
        cmds.push(s(&[
            "XADD",
            "stream",
            &format!("{}-{}", 1000 + i / 3, i % 3),
            "field",
            &format!("v{i}"),
            if i % 2 == 0 { "other" } else { "field2" },
            "x",
        ]));
    }
    cmds.push(s(&["XDEL", "stream", "1001-1", "1005-0"]));
    cmds.push(s(&["XGROUP", "CREATE", "stream", "g", "0"]));
    cmds.push(s(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "3",
        "STREAMS",
        "stream",
        ">",
    ]));
    cmds.push(s(&["EXPIRE", "hash3", "5000"]));
    cmds.push(s(&["SELECT", "5"]));
    cmds.push(s(&["SET", "str", "in db 5"]));
    cmds.push(s(&["RPUSH", "list3", "a"]));
    cmds.push(s(&["SELECT", "0"]));
    for c in cmds {
        p.both(&c);
    }
}

fn status(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply)
        .trim_start_matches('+')
        .trim_end()
        .to_string()
}

#[test]
fn digests_match_redis_on_every_type() {
    let mut p = Pair::start();
    let empty = p.same(&["DEBUG", "DIGEST"]);
    assert_eq!(status(&empty), "0".repeat(40), "an empty data set");
    load_data_set(&mut p, 7);
    let d1 = p.same(&["DEBUG", "DIGEST"]);
    assert_ne!(status(&d1), "0".repeat(40));
    let keys = cmd(&mut p.r, &["KEYS", "*"]);
    let (_, keys) = split_aggregate(&keys, Protocol::Resp2).expect("keys");
    let mut args: Vec<Vec<u8>> = vec![b"DEBUG".to_vec(), b"DIGEST-VALUE".to_vec()];
    for k in keys {
        args.push(common::string_value(k).expect("key").to_vec());
    }
    args.push(b"no-such-key".to_vec());
    let a = cmd(&mut p.r, &args);
    let b = cmd(&mut p.e, &args);
    assert_eq!(
        common::escape(&a),
        common::escape(&b),
        "DIGEST-VALUE of every key"
    );
    // Order matters for lists, and the database number for the whole set.
    p.both(&["LPUSH", "list3", "one-more"]);
    let d2 = p.same(&["DEBUG", "DIGEST"]);
    assert_ne!(d1, d2);
    p.both(&["RPOP", "list3"]);
    p.both(&["MOVE", "str", "9"]);
    p.same(&["DEBUG", "DIGEST"]);
    // A TTL enters the digest, its value does not.
    p.both(&["PERSIST", "ttl"]);
    p.same(&["DEBUG", "DIGEST"]);
    p.same(&["DEBUG", "DIGEST-VALUE", "ttl", "hash3"]);
    // Encodings converted by growth give the same digest as built large.
    p.both(&["HSET", "hash3", "long", &"y".repeat(100)]);
    p.both(&["SADD", "intset3", "not-an-int"]);
    p.both(&["ZADD", "zset3", "1", &"w".repeat(100)]);
    p.same(&["DEBUG", "DIGEST-VALUE", "hash3", "intset3", "zset3"]);
    p.same(&["DEBUG", "DIGEST"]);
    // A second, different seed.
    p.both(&["FLUSHALL"]);
    load_data_set(&mut p, 12345);
    p.same(&["DEBUG", "DIGEST"]);
    p.same(&["DEBUG", "POPULATE", "100", "pop", "12"]);
    p.same(&["DEBUG", "POPULATE", "50"]);
    p.same(&["DEBUG", "DIGEST"]);
    p.same(&["DBSIZE"]);
    p.same(&["GET", "pop:7"]);
    p.same(&["GET", "key:49"]);
}

#[test]
fn subcommand_replies_match_redis() {
    let mut p = Pair::start();
    p.script(
        r#"
        DEBUG HELP
        DEBUG help extra
        DEBUG nosuchsub
        DEBUG object
        DEBUG object a b
        DEBUG object missing
        DEBUG digest extra
        DEBUG digest-value
        DEBUG sleep 0
        DEBUG sleep 0.01
        DEBUG sleep abc
        DEBUG set-active-expire 0
        DEBUG set-active-expire 1
        DEBUG quicklist-packed-threshold 100
        DEBUG quicklist-packed-threshold 1gb
        DEBUG quicklist-packed-threshold 0
        DEBUG quicklist-packed-threshold 5gb
        DEBUG quicklist-packed-threshold nope
        DEBUG quicklist-packed-threshold 1gb
        DEBUG error "SOMECODE my error"
        DEBUG error "line\r\nbreak"
        DEBUG log hello
        DEBUG leak something
        DEBUG populate -1
        DEBUG populate abc
        DEBUG populate 3 p 0
        DEBUG populate 1 2 3 4
        RPUSH l a b c
        HSET h a 1
        SET s 1
        DEBUG listpack l
        DEBUG listpack h
        DEBUG listpack s
        DEBUG listpack missing
        DEBUG quicklist l
        DEBUG quicklist l 1
        DEBUG quicklist h
        DEBUG sdslen missing
        DEBUG sdslen l
        DEBUG sdslen s
        DEBUG replybuffer resizing 0
        DEBUG replybuffer peak-reset-time never
        DEBUG replybuffer peak-reset-time abc
        DEBUG replybuffer bogus 1
        DEBUG drop-cluster-packet-filter -1
        DEBUG drop-cluster-packet-filter x
        DEBUG protocol nosuchtype
        "#,
    );
    for proto in ["2", "3"] {
        let pr = if proto == "3" {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        p.r.set_protocol(pr);
        p.e.set_protocol(pr);
        p.both(&["HELLO", proto]);
        for t in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib",
            "verbatim", "true", "false", "STRING",
        ] {
            p.same(&["DEBUG", "PROTOCOL", t]);
        }
        let push = p.same(&["DEBUG", "PROTOCOL", "push"]);
        if proto == "3" {
            assert!(push.starts_with(b">2\r\n"), "a push frame first");
            // Then the real reply.
            let a = p.r.read_reply().expect("reply");
            let b = p.e.read_reply().expect("reply");
            assert_eq!(common::escape(&a), common::escape(&b));
        }
    }
}

/// DEBUG OBJECT's line: the same fields in the same order, the same encoding and
/// serializedlength; the address and the LRU clock are only checked for shape. Compression is
/// off: Ember's LZF output is valid but not always of Redis's length.
#[test]
fn debug_object_line_matches_redis() {
    let mut p = Pair::start_with(&[("enable-debug-command", "yes"), ("rdbcompression", "no")]);
    p.script(
        r#"
        SET small 12
        SET big 123456
        SET text hello
        SET long "The quick brown fox jumps over the lazy dog, twice: 0123456789"
        RPUSH list a b c 1 2 3
        SADD intset 1 2 3
        SADD set a b c
        ZADD zset 1 a 2 b
        HSET hash f v
        "#,
    );
    let mut long_list = vec!["RPUSH".to_string(), "biglist".to_string()];
    long_list.extend((0..500).map(|i| format!("element-{i}")));
    p.both(&long_list);
    for key in [
        "small", "big", "text", "long", "list", "intset", "set", "zset", "hash", "biglist",
    ] {
        let a = status(&cmd(&mut p.r, &["DEBUG", "OBJECT", key]));
        let b = status(&cmd(&mut p.e, &["DEBUG", "OBJECT", key]));
        let mask = |line: &str| -> Vec<String> {
            line.split(' ')
                .map(|f| {
                    if f == "Value" {
                        return f.to_string();
                    }
                    let (name, val) = f.split_once(':').expect("name:value");
                    match name {
                        "at" => {
                            assert!(val.starts_with("0x"), "{line}");
                            "at:ADDR".to_string()
                        }
                        "lru" | "lru_seconds_idle" => {
                            assert!(val.parse::<u64>().is_ok(), "{line}");
                            format!("{name}:N")
                        }
                        _ => f.to_string(),
                    }
                })
                .collect()
        };
        assert_eq!(mask(&a), mask(&b), "DEBUG OBJECT {key}");
    }
}

#[test]
fn active_expire_can_be_turned_off() {
    let ember = ServerProcess::start_ember(DEBUG_ON);
    let mut c = ember.connect();
    assert_eq!(
        cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        b"+OK\r\n"
    );
    cmd(&mut c, &["SET", "k", "v", "PX", "50"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    // Not read, not expired in the background: still counted.
    assert_eq!(cmd(&mut c, &["DBSIZE"]), b":1\r\n");
    assert_eq!(
        cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]),
        b"+OK\r\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cmd(&mut c, &["DBSIZE"]) != b":0\r\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "expired in the background again"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn debug_sleep_stops_other_clients() {
    let ember = ServerProcess::start_ember(DEBUG_ON);
    let mut a = ember.connect();
    let mut b = ember.connect();
    cmd(&mut b, &["SET", "k", "v"]);
    a.send(&["DEBUG", "SLEEP", "0.5"]).expect("send");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = std::time::Instant::now();
    assert_eq!(cmd(&mut b, &["GET", "k"]), b"$1\r\nv\r\n");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(250),
        "the read waited for the sleep"
    );
    assert_eq!(a.read_reply().expect("reply"), b"+OK\r\n");
}

#[test]
fn debug_is_refused_unless_enabled() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let a = cmd(&mut redis.connect(), &["DEBUG", "DIGEST"]);
    let b = cmd(&mut ember.connect(), &["DEBUG", "DIGEST"]);
    assert_eq!(common::escape(&a), common::escape(&b));
    assert!(a.starts_with(b"-ERR DEBUG command not allowed"));
}

/// INFO replication's `name:value` for `field`.
fn repl_field(c: &mut common::RespConn, field: &str) -> String {
    let info = String::from_utf8_lossy(&cmd(c, &["INFO", "replication"])).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in {info}"))
        .to_string()
}

#[test]
fn change_repl_id_starts_a_new_history() {
    let ember = ServerProcess::start_ember(DEBUG_ON);
    let mut c = ember.connect();
    let before = repl_field(&mut c, "master_replid");
    assert_eq!(cmd(&mut c, &["DEBUG", "CHANGE-REPL-ID"]), b"+OK\r\n");
    let after = repl_field(&mut c, "master_replid");
    assert_ne!(before, after);
    assert_eq!(after.len(), 40);
    assert_eq!(repl_field(&mut c, "master_replid2"), "0".repeat(40));
    assert_eq!(repl_field(&mut c, "second_repl_offset"), "-1");
}

#[test]
fn unsupported_subcommands_say_so() {
    let ember = ServerProcess::start_ember(DEBUG_ON);
    let mut c = ember.connect();
    for sub in ["SEGFAULT", "panic", "RESTART", "mallctl"] {
        let r = cmd(&mut c, &["DEBUG", sub]);
        let want = format!(
            "-ERR DEBUG {} is not supported by Ember\r\n",
            sub.to_ascii_uppercase()
        );
        assert_eq!(String::from_utf8_lossy(&r), want);
    }
    assert_eq!(cmd(&mut c, &["PING"]), b"+PONG\r\n", "still serving");
    // Redis's own run of this fuzzer takes about 10 s, too long to compare with here.
    c.set_timeout(std::time::Duration::from_secs(60));
    assert_eq!(
        cmd(&mut c, &["DEBUG", "STRINGMATCH-TEST"]),
        b"+Apparently Redis did not crash: test passed\r\n"
    );
}
