//! Unit tests of the config module: file and argv syntax, value parsing,
//! CONFIG GET/SET semantics and error texts (checked against Redis 7.0.15).

use super::*;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A fresh scratch directory per test (no tempfile crate here).
fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ember-config-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, content).expect("write test file");
    p.to_string_lossy().into_owned()
}

fn no_stdin() -> io::Result<Vec<u8>> {
    Err(io::Error::other("stdin not expected"))
}

fn fatal(line: usize, text: &str, err: &str) -> String {
    format!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{err}")
}

fn get1(c: &Config, name: &str) -> String {
    c.get_one(name).expect("known directive")
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.port, 6379);
    assert_eq!(c.bind, vec!["127.0.0.1"]);
    assert_eq!(c.databases, 16);
    assert_eq!(c.dir, ".");
    assert_eq!(c.maxclients, 10000);
    assert_eq!(c.timeout, 0);
    assert_eq!(c.tcp_keepalive, 300);
    assert_eq!(c.hz, 10);
    assert_eq!(c.loglevel, "notice");
    assert_eq!(c.log_level(), LogLevel::Notice);
    assert_eq!(c.logfile, "");
    assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
    assert_eq!(c.client_query_buffer_limit, 1024 * 1024 * 1024);
    assert_eq!(c.requirepass, "");
    assert!(c.threads >= 1);
    assert!(c.protected_mode);
    assert_eq!(c.tcp_backlog, 511);
    assert_eq!(c.maxmemory, 0);
    assert_eq!(c.maxmemory_policy, "noeviction");
    assert_eq!(c.eviction_policy(), MaxmemoryPolicy::NoEviction);
    assert_eq!(c.notify_keyspace_events, 0);
    assert_eq!(c.save, DEFAULT_SAVE_POINTS);
    assert!(!c.appendonly);
    assert!(!c.daemonize);
    assert_eq!(c.pidfile, "");
    assert_eq!(c.busy_reply_threshold, 5000);
    assert_eq!(Config::from_args(&[]).expect("no args"), c);
}

#[test]
fn every_default_value_round_trips_through_set() {
    // Each directive's CONFIG GET default must be accepted by its own
    // parser (catches table typos), and setting it must change nothing.
    let base = Config::default();
    for (idx, spec) in SPECS.iter().enumerate() {
        let mut c = base.clone();
        let v = c.value(idx);
        let parts: Vec<&[u8]> = if spec.flags & MULTI_ARG != 0 {
            if v.is_empty() {
                vec![]
            } else {
                v.as_bytes().split(|&b| b == b' ').collect()
            }
        } else {
            vec![v.as_bytes()]
        };
        if spec.name == "dir" {
            continue; // canonicalizes "." to an absolute path
        }
        if spec.name == "replicaof" {
            continue; // GET shows "" for "no master"; it is set with "no one"
        }
        c.set_spec(idx, &parts, false)
            .unwrap_or_else(|e| panic!("{}: default {v:?} rejected: {e}", spec.name));
        assert_eq!(c, base, "{} changed when set to its default", spec.name);
    }
}

#[test]
fn names_are_unique_and_lowercase() {
    let mut all: Vec<&str> = SPECS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.alias))
        .collect();
    for n in &all {
        assert_eq!(*n, n.to_ascii_lowercase());
    }
    all.sort();
    let len = all.len();
    all.dedup();
    assert_eq!(all.len(), len, "duplicate directive name");
}

// ---- line syntax ----

#[test]
fn split_args_like_sdssplitargs() {
    let s = |l: &str| split_args(l.as_bytes());
    let v = |xs: &[&str]| Some(xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
    assert_eq!(s("  foo   bar\tbaz "), v(&["foo", "bar", "baz"]));
    assert_eq!(s(""), v(&[]));
    assert_eq!(s("a \"b c\" 'd e'"), v(&["a", "b c", "d e"]));
    assert_eq!(s(r#""\n\r\t\\\"x""#), v(&["\n\r\t\\\"x"]));
    assert_eq!(s(r#""\x41\x4a""#), v(&["AJ"]));
    assert_eq!(s(r#""\xZZ""#), v(&["xZZ"]));
    assert_eq!(s(r#"'it\'s' 'a\b'"#), v(&["it's", "a\\b"]));
    assert_eq!(s(r#"ab"c d"e"#), None, "closing quote glued to text");
    assert_eq!(s(r#"ab"c d""#), v(&["abc d"]), "quote may start mid-word");
    assert_eq!(s(r#""abc"#), None);
    assert_eq!(s("'abc"), None);
    assert_eq!(s(r#""abc\"#), None);
    assert_eq!(s("\"\""), v(&[""]));
    assert_eq!(split_args(b"\"\\xff\\x00\""), Some(vec![vec![0xff, 0x00]]));
    assert_eq!(
        s("a\u{b}b"),
        v(&["a\u{b}b"]),
        "vertical tab only separates between args"
    );
}

#[test]
fn repr_round_trips() {
    for sample in [
        "plain",
        "with space",
        "q\"uote",
        "back\\slash",
        "nl\n\r\t\x07\x08",
        "ünï",
        "",
    ] {
        let mut out = Vec::new();
        repr(sample.as_bytes(), &mut out);
        assert_eq!(
            split_args(&out),
            Some(vec![sample.as_bytes().to_vec()]),
            "{sample:?}"
        );
    }
}

// ---- value parsing ----

#[test]
fn memory_values() {
    assert_eq!(memtoull(b"100"), Some(100));
    assert_eq!(memtoull(b"1b"), Some(1));
    assert_eq!(memtoull(b"1k"), Some(1000));
    assert_eq!(memtoull(b"1kb"), Some(1024));
    assert_eq!(memtoull(b"1KB"), Some(1024));
    assert_eq!(memtoull(b"2m"), Some(2_000_000));
    assert_eq!(memtoull(b"2Mb"), Some(2 << 20));
    assert_eq!(memtoull(b"3g"), Some(3_000_000_000));
    assert_eq!(memtoull(b"3GB"), Some(3 << 30));
    assert_eq!(memtoull(b"007"), Some(7));
    // Redis quirks: no digits is zero.
    assert_eq!(memtoull(b""), Some(0));
    assert_eq!(memtoull(b"mb"), Some(0));
    for bad in [
        "-1", "1.5mb", " 1", "1 ", "+1", "0x10", "1tb", "1kbb", "abc",
    ] {
        assert_eq!(memtoull(bad.as_bytes()), None, "{bad}");
    }
    assert_eq!(memtoull(b"99999999999999999999"), Some(u64::MAX));
    assert_eq!(memtoull(b"20000000000gb"), Some(u64::MAX));
    assert_eq!(memtoull(&[b'1'; 200]), None);
}

#[test]
fn integer_values_follow_string2ll() {
    assert_eq!(string2ll(b"0"), Some(0));
    assert_eq!(string2ll(b"-5"), Some(-5));
    assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        "",
        "01",
        "+1",
        "-0",
        " 1",
        "1 ",
        "1.0",
        "-",
        "9223372036854775808",
        "1e3",
    ] {
        assert_eq!(string2ll(bad.as_bytes()), None, "{bad}");
    }
    assert_eq!(strtoll(b""), Some(0));
    assert_eq!(strtoll(b" +12"), Some(12));
    assert_eq!(strtoll(b"12x"), None);
    assert_eq!(strtoll(b"+"), None);
    assert_eq!(strtoll(b"99999999999999999999"), Some(i64::MAX));
    assert_eq!(strtoll(b"-99999999999999999999"), Some(i64::MIN));
}

#[test]
fn keyspace_events_format_like_redis() {
    let f = |s: &str| {
        keyspace_events_to_string(keyspace_events_from_bytes(s.as_bytes()).expect("valid"))
    };
    assert_eq!(f(""), "");
    assert_eq!(f("KEA"), "AKE");
    assert_eq!(f("AKEnm"), "AKEm", "Redis hides n next to A");
    assert_eq!(f("Ex$lg"), "g$lxE");
    assert_eq!(f("g$lshzxetd"), "A", "all classes collapse to A");
    assert_eq!(
        keyspace_events_from_bytes(b"Q"),
        Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())
    );
}

// ---- config text ----

#[test]
fn parses_file_syntax() {
    let c = Config::parse_str(
        "# a comment\n\
         \n\
         PORT 7000\n\
         \t  bind 127.0.0.1 ::1  \r\n\
         maxmemory 100mb\n\
         MaxMemory-Policy ALLKEYS-LRU\n\
         requirepass \"p w\\x21\"\n\
         timeout '30'\n\
         loglevel warning\n\
         notify-keyspace-events Ex\n\
         hz 1000\n\
         lua-time-limit 100\n\
         save \"\"\n\
         appendonly no\n\
         logfile \"\"\n\
         client-output-buffer-limit pubsub 64mb 16mb 90\n\
         client-output-buffer-limit replica 1 2 3\n\
         hash-max-ziplist-entries 64\n\
         list-max-ziplist-entries 512\n\
         loadmodule /opt/bloom.wasm 0.01 1000\n\
         threads 1\n",
    )
    .expect("valid config");
    assert_eq!(c.port, 7000);
    assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
    assert_eq!(c.maxmemory, 100 << 20);
    assert_eq!(
        c.maxmemory_policy, "allkeys-lru",
        "normalized to lower case"
    );
    assert_eq!(c.eviction_policy(), MaxmemoryPolicy::AllkeysLru);
    assert_eq!(c.requirepass, "p w!");
    assert_eq!(c.timeout, 30);
    assert_eq!(c.log_level(), LogLevel::Warning);
    assert_eq!(c.notify_keyspace_events, NOTIFY_KEYEVENT | NOTIFY_EXPIRED);
    assert_eq!(c.hz, 500, "hz is clamped, not refused");
    assert_eq!(c.busy_reply_threshold, 100);
    assert_eq!(
        c.client_output_buffer_limit.pubsub.hard_limit_bytes,
        64 << 20
    );
    assert_eq!(c.client_output_buffer_limit.pubsub.soft_limit_seconds, 90);
    assert_eq!(c.client_output_buffer_limit.replica.soft_limit_bytes, 2);
    assert_eq!(
        c.client_output_buffer_limit.normal,
        OutputBufferLimit {
            hard_limit_bytes: 0,
            soft_limit_bytes: 0,
            soft_limit_seconds: 0
        }
    );
    assert_eq!(get1(&c, "hash-max-listpack-entries"), "64");
    assert_eq!(
        c.loadmodule,
        vec![LoadModule {
            path: "/opt/bloom.wasm".into(),
            args: vec![b"0.01".to_vec(), b"1000".to_vec()]
        }]
    );
    assert_eq!(c.threads, 1);
}

#[test]
fn stock_redis_conf_directives_load() {
    // The uncommented lines of Redis 7.0's redis.conf, minus `dir ./`
    // (relative to the test's cwd, still fine) and `pidfile`.
    let stock = r#"
bind 127.0.0.1 -::1
protected-mode yes
port 6379
tcp-backlog 511
timeout 0
tcp-keepalive 300
daemonize no
pidfile /var/run/redis_6379.pid
loglevel notice
logfile ""
databases 16
always-show-logo no
set-proc-title yes
proc-title-template "{title} {listen-addr} {server-mode}"
stop-writes-on-bgsave-error yes
rdbcompression yes
rdbchecksum yes
dbfilename dump.rdb
rdb-del-sync-files no
dir ./
replica-serve-stale-data yes
replica-read-only yes
repl-diskless-sync yes
repl-diskless-sync-delay 5
repl-diskless-sync-max-replicas 0
repl-diskless-load disabled
repl-disable-tcp-nodelay no
replica-priority 100
acllog-max-len 128
lazyfree-lazy-eviction no
lazyfree-lazy-expire no
lazyfree-lazy-server-del no
replica-lazy-flush no
lazyfree-lazy-user-del no
lazyfree-lazy-user-flush no
oom-score-adj no
oom-score-adj-values 0 200 800
disable-thp yes
appendonly no
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-load-truncated yes
aof-use-rdb-preamble yes
aof-timestamp-enabled no
 
slowlog-log-slower-than 10000
slowlog-max-len 128
latency-monitor-threshold 0
notify-keyspace-events ""
hash-max-listpack-entries 512
hash-max-listpack-value 64
list-max-listpack-size -2
list-compress-depth 0
set-max-intset-entries 512
zset-max-listpack-entries 128
zset-max-listpack-value 64
hll-sparse-max-bytes 3000
stream-node-max-bytes 4096
stream-node-max-entries 100
activerehashing yes
client-output-buffer-limit normal 0 0 0
client-output-buffer-limit replica 256mb 64mb 60
client-output-buffer-limit pubsub 32mb 8mb 60
hz 10
dynamic-hz yes
aof-rewrite-incremental-fsync yes
rdb-save-incremental-fsync yes
jemalloc-bg-thread yes
"#;
    let c = Config::parse_str(stock).expect("stock redis.conf loads");
    assert_eq!(c.bind, vec!["127.0.0.1", "-::1"]);
    assert_eq!(c.pidfile, "/var/run/redis_6379.pid");
    let expected = Config {
        bind: c.bind.clone(),
        pidfile: c.pidfile.clone(),
        dir: c.dir.clone(),
        ..Config::default()
    };
    assert_eq!(c, expected, "every other stock value is our default");
}

#[test]
fn file_errors_match_redis() {
    let e = |t: &str| Config::parse_str(t).expect_err("must fail");
    assert_eq!(
        e("# comment\n\nport 0\n  foo bar  \n"),
        fatal(4, "foo bar", "Bad directive or wrong number of arguments")
    );
    assert_eq!(
        e("port 0\nport \"abc\n"),
        fatal(2, "port \"abc", "Unbalanced quotes in configuration line")
    );
    assert_eq!(
        e("port 0 # x\n"),
        fatal(1, "port 0 # x", "wrong number of arguments")
    );
    assert_eq!(
        e("maxmemory 1zz"),
        fatal(1, "maxmemory 1zz", "argument must be a memory value")
    );
    assert_eq!(
        e("port 70000"),
        fatal(
            1,
            "port 70000",
            "argument must be between 0 and 65535 inclusive"
        )
    );
    assert_eq!(
        e("port abc"),
        fatal(1, "port abc", "argument couldn't be parsed into an integer")
    );
    assert_eq!(e("port"), fatal(1, "port", "wrong number of arguments"));
    assert_eq!(
        e("protected-mode maybe"),
        fatal(1, "protected-mode maybe", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        e("maxmemory-policy lru"),
        fatal(
            1,
            "maxmemory-policy lru",
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, \
             volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        )
    );
    assert_eq!(
        e("loglevel loud"),
        fatal(
            1,
            "loglevel loud",
            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
        )
    );
    assert_eq!(
        e("save 3600"),
        fatal(1, "save 3600", "Invalid save parameters")
    );
    assert_eq!(
        e("save 0 1"),
        fatal(1, "save 0 1", "Invalid save parameters")
    );
    // The first `save` line replaces the default points; later ones add.
    let c = Config::parse_str("save 3600 1\nsave 60 5").expect("save points");
    assert_eq!(c.save, vec![(3600, 1), (60, 5)]);
    // The AOF exists: `appendonly yes` is a valid directive.
    assert!(
        Config::parse_str("appendonly yes")
            .expect("appendonly")
            .appendonly
    );
    assert!(
        Config::parse_str("daemonize yes")
            .expect("daemonize")
            .daemonize
    );
    assert_eq!(
        Config::parse_str("unixsocket /tmp/x.sock")
            .expect("unixsocket")
            .unixsocket,
        "/tmp/x.sock"
    );
    assert_eq!(
        e("include"),
        fatal(1, "include", "Bad directive or wrong number of arguments")
    );
    // Checked against the command table when the server starts.
    assert_eq!(
        Config::parse_str("rename-command FLUSHALL \"\"\nrename-command config cfg")
            .expect("rename-command")
            .rename_command,
        vec![
            (b"FLUSHALL".to_vec(), Vec::new()),
            (b"config".to_vec(), b"cfg".to_vec())
        ]
    );
    assert_eq!(
        e("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"),
        fatal(
            1,
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
            "Too many bind addresses specified."
        )
    );
    assert_eq!(
        e("dbfilename a/b.rdb"),
        fatal(
            1,
            "dbfilename a/b.rdb",
            "dbfilename can't be a path, just a filename"
        )
    );
    assert_eq!(
        e("oom-score-adj-values 0 200 9000"),
        fatal(
            1,
            "oom-score-adj-values 0 200 9000",
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
        )
    );
    assert_eq!(
        e("unixsocketperm 800"),
        fatal(
            1,
            "unixsocketperm 800",
            "argument couldn't be parsed as an octal number"
        )
    );
    assert_eq!(
        e("unixsocketperm 1000"),
        fatal(
            1,
            "unixsocketperm 1000",
            "argument must be between 0 and 777 inclusive"
        )
    );
    assert_eq!(
        e("dir /nonexistent/ember"),
        fatal(1, "dir /nonexistent/ember", "No such file or directory")
    );
    assert_eq!(
        e("client-output-buffer-limit master 1 2 3"),
        fatal(
            1,
            "client-output-buffer-limit master 1 2 3",
            "Invalid client class specified in buffer limit configuration."
        )
    );
    // A NUL byte ends the line, as in C.
    assert_eq!(Config::default().apply_bytes(b"port 1\0garbage\n"), Ok(()));
}

#[test]
fn deprecated_and_multi_arg_forms() {
    // Deprecated names are ignored only with exactly one argument.
    assert!(Config::parse_str("lua-replicate-commands yes").is_ok());
    assert!(Config::parse_str("lua-replicate-commands").is_err());
    // One quoted argument of a multi-arg directive is split again.
    let c = Config::parse_str("bind \"10.0.0.1 10.0.0.2\"").expect("valid");
    assert_eq!(c.bind, vec!["10.0.0.1", "10.0.0.2"]);
    // No argument at all means "none".
    let c = Config::parse_str("bind").expect("valid");
    assert!(c.bind.is_empty());
    let c = Config::parse_str("bind \"\"").expect("valid");
    assert!(c.bind.is_empty());
    let c = Config::parse_str("oom-score-adj-values \"1 2 3\"").expect("valid");
    assert_eq!(get1(&c, "oom-score-adj-values"), "1 2 3");
}

#[test]
fn apply_str_is_atomic() {
    let mut c = Config::default();
    let err = c.apply_str("port 7000\nbogus\n").expect_err("bad line");
    assert!(err.contains("at line 2"));
    assert_eq!(c.port, 6379, "nothing applied");
    c.apply_str("port 7000").expect("valid");
    assert_eq!(c.port, 7000);
}

#[test]
fn include_files_and_globs() {
    let dir = scratch();
    let inner = write(&dir, "inner.conf", "maxmemory 1mb\nport 7001\n");
    let main = write(
        &dir,
        "main.conf",
        &format!("port 7000\ninclude {inner}\ntimeout 5\n"),
    );
    let c = Config::from_args_with_stdin(&args(&[&main]), &mut no_stdin).expect("valid");
    assert_eq!(c.port, 7001, "include applies in place");
    assert_eq!(c.maxmemory, 1 << 20);
    assert_eq!(c.timeout, 5);
    assert_eq!(c.config_file, main);

    // An error inside an included file reports the included file's line.
    let bad = write(&dir, "bad.conf", "port 1\n\nnope\n");
    let err = Config::parse_str(&format!("port 0\ninclude {bad}\n")).expect_err("bad include");
    assert_eq!(
        err,
        fatal(3, "nope", "Bad directive or wrong number of arguments")
    );

    // Missing include: Redis's message, no line info.
    let missing = dir.join("missing.conf").to_string_lossy().into_owned();
    let err = Config::parse_str(&format!("include {missing}")).expect_err("missing");
    assert_eq!(
        err,
        format!("Fatal error, can't open config file '{missing}': No such file or directory")
    );

    // Wildcards: sorted, concatenated; no match is fine.
    let confd = dir.join("conf.d");
    fs::create_dir(&confd).expect("mkdir");
    write(&confd, "b.conf", "timeout 20\n");
    write(&confd, "a.conf", "timeout 10\ntcp-keepalive 7\n");
    write(&confd, ".hidden.conf", "timeout 99\n");
    let c = Config::parse_str(&format!("include {}/*.conf", confd.display())).expect("glob");
    assert_eq!((c.timeout, c.tcp_keepalive), (20, 7));
    let c = Config::parse_str(&format!("include {}/zz*.conf\nport 5", confd.display()))
        .expect("no match");
    assert_eq!(c.port, 5);
    // Line numbers continue across the concatenated files, like Redis.
    write(&confd, "c.conf", "oops\n");
    let err = Config::parse_str(&format!("include {}/*.conf", confd.display())).expect_err("bad");
    assert_eq!(
        err,
        fatal(4, "oops", "Bad directive or wrong number of arguments")
    );

    // A file including itself is an error, not a stack overflow.
    let selfinc = dir.join("self.conf");
    fs::write(&selfinc, format!("include {}\n", selfinc.display())).expect("write");
    let err = Config::parse_str(&format!("include {}", selfinc.display())).expect_err("loop");
    assert!(err.contains("include nesting too deep"), "{err}");

    // Relative includes resolve against `dir` once it is set (Redis chdir()s).
    let c =
        Config::parse_str(&format!("dir {}\ninclude inner.conf", dir.display())).expect("relative");
    assert_eq!(c.port, 7001);
    let _ = fs::remove_dir_all(&dir);
}

// ---- command line ----

#[test]
fn command_line_overrides_file() {
    let dir = scratch();
    let conf = write(&dir, "ok.conf", "port 7000\nmaxmemory 1mb\n");
    let c = Config::from_args_with_stdin(
        &args(&[&conf, "--port", "7002", "--maxmemory-policy", "allkeys-lfu"]),
        &mut no_stdin,
    )
    .expect("valid");
    assert_eq!(c.port, 7002);
    assert_eq!(c.maxmemory, 1 << 20);
    assert_eq!(c.maxmemory_policy, "allkeys-lfu");

    let c = Config::from_args_with_stdin(
        &args(&[
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "::1",
            "--save",
            "",
            "--requirepass",
            "--secret",
        ]),
        &mut no_stdin,
    )
    .expect("valid");
    assert_eq!(c.port, 0);
    assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
    assert_eq!(
        c.requirepass, "--secret",
        "a lone --name takes the next arg as value"
    );

    // `--save` with no value, mid-line or last.
    assert!(Config::from_args_with_stdin(&args(&["--save", "--port", "1"]), &mut no_stdin).is_ok());
    assert!(Config::from_args_with_stdin(&args(&["--port", "1", "--save"]), &mut no_stdin).is_ok());
    // Name and value in one argument.
    let c = Config::from_args_with_stdin(&args(&["--port 6380"]), &mut no_stdin).expect("valid");
    assert_eq!(c.port, 6380);
    // Values with quotes and spaces survive the round trip.
    let c = Config::from_args_with_stdin(&args(&["--requirepass", "a \"b\" c\\"]), &mut no_stdin)
        .expect("valid");
    assert_eq!(c.requirepass, "a \"b\" c\\");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn command_line_error_line_numbers_match_redis() {
    let dir = scratch();
    let conf = write(&dir, "ok.conf", "port 0\n");
    let noeol = write(&dir, "noeol.conf", "port 0");
    let run =
        |a: &[&str]| Config::from_args_with_stdin(&args(a), &mut no_stdin).expect_err("must fail");
    // Redis appends "\n" + options to the file text.
    assert_eq!(
        run(&[&conf, "--foo", "bar"]),
        fatal(
            3,
            "foo \"bar\"",
            "Bad directive or wrong number of arguments"
        )
    );
    assert_eq!(
        run(&[&noeol, "--foo", "bar"]),
        fatal(
            2,
            "foo \"bar\"",
            "Bad directive or wrong number of arguments"
        )
    );
    assert_eq!(
        run(&["--foo", "bar"]),
        fatal(
            2,
            "foo \"bar\"",
            "Bad directive or wrong number of arguments"
        )
    );
    assert_eq!(
        run(&["--port", "0", "--foo"]),
        fatal(3, "foo", "Bad directive or wrong number of arguments")
    );
    assert_eq!(
        run(&[&conf, "--port", "0", "--maxmemory", "1", "2", "3"]),
        fatal(
            4,
            "maxmemory \"1\" \"2\" \"3\"",
            "wrong number of arguments"
        )
    );
    assert_eq!(
        run(&["--port", "0", "--requirepass", "--foo", "--bar", "1"]),
        fatal(4, "bar \"1\"", "Bad directive or wrong number of arguments")
    );
    // Not starting with "-" means a config file.
    let missing = dir.join("nope.conf").to_string_lossy().into_owned();
    assert_eq!(
        run(&[&missing]),
        format!("Fatal error, can't open config file '{missing}': No such file or directory")
    );
    // `-v` that main() did not intercept is just a bad directive.
    assert!(run(&["-v"]).contains("Bad directive"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn stdin_config() {
    let dir = scratch();
    let conf = write(&dir, "ok.conf", "port 0\n");
    let mut stdin = || Ok(b"port 7003\nmaxmemory 2mb\n".to_vec());
    let c = Config::from_args_with_stdin(&args(&["-"]), &mut stdin).expect("valid");
    assert_eq!((c.port, c.maxmemory), (7003, 2 << 20));
    // File, then stdin, then options.
    let c = Config::from_args_with_stdin(&args(&[&conf, "--timeout", "9", "-"]), &mut stdin)
        .expect("valid");
    assert_eq!((c.port, c.timeout), (7003, 9));
    let mut bad = || Ok(b"port 0\nfoo\n".to_vec());
    let err = Config::from_args_with_stdin(&args(&[&conf, "-"]), &mut bad).expect_err("bad");
    assert_eq!(
        err,
        fatal(3, "foo", "Bad directive or wrong number of arguments")
    );
    // A "-" in the middle is a value, not stdin.
    let err = Config::from_args_with_stdin(
        &args(&["--port", "1", "-", "--timeout", "2"]),
        &mut no_stdin,
    )
    .expect_err("extra arg");
    assert!(err.contains("port \"1\" \"-\""), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn logfile_is_checked_at_startup() {
    let dir = scratch();
    let log = dir.join("ember.log").to_string_lossy().into_owned();
    let c =
        Config::from_args_with_stdin(&args(&["--logfile", &log]), &mut no_stdin).expect("valid");
    assert_eq!(c.logfile, log);
    assert!(Path::new(&log).exists());
    let err = Config::from_args_with_stdin(
        &args(&["--logfile", "/nonexistent/dir/x.log"]),
        &mut no_stdin,
    )
    .expect_err("unwritable");
    assert_eq!(
        err,
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nCan't open the log file: No such file or directory"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn cli_actions() {
    assert_eq!(Config::cli_action(&args(&["-v"])), Some(CliAction::Version));
    assert_eq!(
        Config::cli_action(&args(&["--version"])),
        Some(CliAction::Version)
    );
    assert_eq!(Config::cli_action(&args(&["-h"])), Some(CliAction::Help));
    assert_eq!(
        Config::cli_action(&args(&["--help", "x"])),
        Some(CliAction::Help)
    );
    assert_eq!(Config::cli_action(&args(&["--port", "-v"])), None);
    assert_eq!(Config::cli_action(&[]), None);
}

// ---- CONFIG GET ----

fn get(c: &Config, pats: &[&str]) -> Vec<(String, String)> {
    let pats: Vec<&[u8]> = pats.iter().map(|p| p.as_bytes()).collect();
    c.get(&pats)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn config_get_exact_and_formats() {
    let mut c = Config::default();
    c.apply_str(
        "maxmemory 1gb\nbind 127.0.0.1 ::1\nnotify-keyspace-events KEA\nrequirepass s3cret",
    )
    .expect("valid");
    assert_eq!(
        get(&c, &["maxmemory"]),
        pairs(&[("maxmemory", "1073741824")])
    );
    // Exact names answer with the client's spelling.
    assert_eq!(
        get(&c, &["MAXMEMORY"]),
        pairs(&[("MAXMEMORY", "1073741824")])
    );
    assert_eq!(get(&c, &["PORT", "port"]), pairs(&[("PORT", "6379")]));
    assert_eq!(
        get(&c, &["lua-time-limit"]),
        pairs(&[("lua-time-limit", "5000")])
    );
    assert_eq!(get(&c, &["bind"]), pairs(&[("bind", "127.0.0.1 ::1")]));
    assert_eq!(
        get(&c, &["notify-keyspace-events"]),
        pairs(&[("notify-keyspace-events", "AKE")])
    );
    assert_eq!(
        get(&c, &["protected-mode", "maxmemory-policy"]),
        pairs(&[
            ("protected-mode", "yes"),
            ("maxmemory-policy", "noeviction")
        ])
    );
    assert_eq!(
        get(&c, &["requirepass"]),
        pairs(&[("requirepass", "s3cret")])
    );
    assert_eq!(
        get(&c, &["save", "appendonly", "pidfile"]),
        pairs(&[
            ("save", "3600 1 300 100 60 10000"),
            ("appendonly", "no"),
            ("pidfile", "")
        ])
    );
    assert_eq!(
        get(&c, &["proto-max-bulk-len"]),
        pairs(&[("proto-max-bulk-len", "536870912")])
    );
    assert_eq!(
        get(&c, &["client-output-buffer-limit"]),
        pairs(&[(
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        )])
    );
    assert_eq!(
        get(&c, &["unixsocketperm", "oom-score-adj-values"]),
        pairs(&[
            ("unixsocketperm", "0"),
            ("oom-score-adj-values", "0 200 800")
        ])
    );
    assert_eq!(get(&c, &["nonexistent"]), vec![]);
    assert_eq!(get(&c, &["loadmodule", "include"]), vec![], "not configs");
    // dir is shown absolute, like Redis's getcwd().
    let dir = get1(&c, "dir");
    assert!(dir.starts_with('/'), "{dir}");
}

#[test]
fn config_get_globs() {
    let c = Config::default();
    let names = |v: Vec<(String, String)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let mut max = names(get(&c, &["MAX*"]));
    max.sort();
    assert_eq!(
        max,
        vec![
            "maxclients",
            "maxmemory",
            "maxmemory-clients",
            "maxmemory-eviction-tenacity",
            "maxmemory-policy",
            "maxmemory-samples"
        ]
    );
    // Overlapping patterns: each name once.
    let both = names(get(&c, &["maxmemory", "max*", "*memory*"]));
    assert_eq!(both.iter().filter(|n| *n == "maxmemory").count(), 1);
    assert_eq!(both[0], "maxmemory");
    // Globs see aliases too.
    let mut busy = names(get(&c, &["*time-limit*", "busy*"]));
    busy.sort();
    assert_eq!(
        busy,
        vec!["busy-reply-threshold", "lua-time-limit", "wasm-time-limit"]
    );
    let all = get(&c, &["*"]);
    assert_eq!(
        all.len(),
        SPECS
            .iter()
            .filter(|s| s.flags & HIDDEN == 0)
            .map(|s| 1 + usize::from(s.alias.is_some()))
            .sum::<usize>()
    );
    assert!(all
        .iter()
        .any(|(n, v)| n == "slave-read-only" && v == "yes"));
    assert_eq!(names(get(&c, &["hz", "h?"])), vec!["hz"]);
    assert_eq!(names(get(&c, &["[ph]ort"])), vec!["port"]);
    assert_eq!(get(&c, &[]), vec![]);
}

// ---- CONFIG SET ----

fn set(c: &mut Config, kv: &[(&str, &str)]) -> Result<(), String> {
    let kv: Vec<(&[u8], &[u8])> = kv
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    c.set(&kv)
}

fn failed(name: &str, reason: &str) -> Result<(), String> {
    Err(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
    ))
}

#[test]
fn config_set_values() {
    let mut c = Config::default();
    set(
        &mut c,
        &[
            ("maxmemory", "10mb"),
            ("MAXMEMORY-POLICY", "Volatile-TTL"),
            ("timeout", "30"),
        ],
    )
    .expect("ok");
    assert_eq!(
        (c.maxmemory, c.maxmemory_policy.as_str(), c.timeout),
        (10 << 20, "volatile-ttl", 30)
    );
    set(&mut c, &[("hz", "1000")]).expect("ok");
    assert_eq!(c.hz, 500);
    set(&mut c, &[("hz", "0")]).expect("ok");
    assert_eq!(c.hz, 1);
    set(&mut c, &[("requirepass", "pw")]).expect("ok");
    assert_eq!(c.requirepass, "pw");
    set(&mut c, &[("requirepass", "")]).expect("ok");
    assert_eq!(c.requirepass, "");
    let kv: Vec<(&[u8], &[u8])> = vec![(b"requirepass", b"\xff")];
    assert_eq!(
        c.set(&kv),
        failed("requirepass", "argument must be valid UTF-8")
    );
    set(&mut c, &[("appendonly", "NO"), ("save", "")]).expect("ok");
    set(&mut c, &[("notify-keyspace-events", "AKEnm")]).expect("ok");
    assert_eq!(get1(&c, "notify-keyspace-events"), "AKEm");
    set(
        &mut c,
        &[(
            "client-output-buffer-limit",
            "normal 1 2 3 replica 10mb 5mb 9",
        )],
    )
    .expect("ok");
    assert_eq!(
        get1(&c, "client-output-buffer-limit"),
        "normal 1 2 3 slave 10485760 5242880 9 pubsub 33554432 8388608 60"
    );
    set(&mut c, &[("oom-score-adj", "relative")]).expect("ok");
    assert_eq!(
        get1(&c, "oom-score-adj"),
        "yes",
        "Redis shows the first name of a value"
    );
    set(&mut c, &[("hash-max-ziplist-value", "1kb")]).expect("ok");
    assert_eq!(get1(&c, "hash-max-listpack-value"), "1024");
    // Alias and primary are separate entries: no duplicate, last wins.
    set(
        &mut c,
        &[("lua-time-limit", "1"), ("busy-reply-threshold", "2")],
    )
    .expect("ok");
    assert_eq!(c.busy_reply_threshold, 2);
    set(&mut c, &[("maxmemory", "")]).expect("Redis takes an empty memory value as 0");
    assert_eq!(c.maxmemory, 0);
    set(&mut c, &[]).expect("nothing to do");
}

#[test]
fn config_set_errors_match_redis() {
    let mut c = Config::default();
    assert_eq!(
        set(&mut c, &[("foo", "bar")]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
    );
    assert_eq!(
        set(&mut c, &[("port", "abc")]),
        failed("port", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        set(&mut c, &[("DATABASES", "3")]),
        failed("DATABASES", "can't set immutable config")
    );
    // bind and port are settable as in Redis 7 (the listeners re-bind:
    // server/listen.rs); the config layer only validates.
    let mut b = Config::default();
    set(&mut b, &[("bind", "0.0.0.0")]).expect("bind is mutable");
    assert_eq!(b.bind, vec!["0.0.0.0".to_string()]);
    assert_eq!(
        set(&mut c, &[("dir", "/tmp")]),
        failed("dir", "can't set protected config")
    );
    assert_eq!(
        set(&mut c, &[("dbfilename", "x.rdb")]),
        failed("dbfilename", "can't set protected config")
    );
    assert_eq!(
        set(&mut c, &[("Maxmemory", "1"), ("MAXMEMORY", "2")]),
        failed("MAXMEMORY", "duplicate parameter")
    );
    assert_eq!(
        set(&mut c, &[("timeout", "x")]),
        failed("timeout", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        set(&mut c, &[("timeout", "2147483648")]),
        failed(
            "timeout",
            "argument must be between 0 and 2147483647 inclusive"
        )
    );
    assert_eq!(
        set(&mut c, &[("maxclients", "0")]),
        failed(
            "maxclients",
            "argument must be between 1 and 4294967295 inclusive"
        )
    );
    assert_eq!(
        set(&mut c, &[("MAXMEMORY", "1zz")]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        set(&mut c, &[("maxmemory", "-1")]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        set(&mut c, &[("proto-max-bulk-len", "1k")]),
        failed(
            "proto-max-bulk-len",
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(
        set(&mut c, &[("lua-time-limit", "abc")]),
        failed(
            "lua-time-limit",
            "argument couldn't be parsed into an integer"
        )
    );
    assert_eq!(
        set(&mut c, &[("appendonly", "maybe")]),
        failed("appendonly", "argument must be 'yes' or 'no'")
    );
    assert_eq!(
        set(&mut c, &[("loglevel", "xx")]),
        failed(
            "loglevel",
            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"
        )
    );
    assert_eq!(
        set(&mut c, &[("save", "3600 1 300")]),
        failed("save", "Invalid save parameters")
    );
    assert_eq!(
        set(&mut c, &[("save", "  3600   1  ")]),
        failed("save", "Invalid save parameters")
    );
    set(&mut c, &[("save", "3600 1")]).expect("save points are settable");
    assert_eq!(c.save, vec![(3600, 1)]);
    set(&mut c, &[("save", "3600 1 300 100 60 10000")]).expect("back to the default");
    assert_eq!(
        set(&mut c, &[("notify-keyspace-events", "Q")]),
        failed(
            "notify-keyspace-events",
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        )
    );
    assert_eq!(
        set(&mut c, &[("client-output-buffer-limit", "normal 1 2")]),
        failed(
            "client-output-buffer-limit",
            "Wrong number of arguments in buffer limit configuration."
        )
    );
    assert_eq!(
        set(&mut c, &[("client-output-buffer-limit", "normal 1x 2 3")]),
        failed(
            "client-output-buffer-limit",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        )
    );
    // Error replies never contain line breaks.
    assert_eq!(
        set(&mut c, &[("a\r\nb", "1")]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'a  b'".to_string())
    );
    assert_eq!(c, Config::default(), "no failed call changed anything");
}

#[test]
fn config_set_is_all_or_nothing_and_ordered() {
    let mut c = Config::default();
    // A bad value after good ones: nothing applied.
    assert_eq!(
        set(
            &mut c,
            &[("maxmemory", "1mb"), ("timeout", "5"), ("hz", "xx")]
        ),
        failed("hz", "argument couldn't be parsed into an integer")
    );
    assert_eq!(c, Config::default());
    // Name checks come before any value check, first problem wins.
    assert_eq!(
        set(&mut c, &[("hz", "xx"), ("foo", "bar")]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
    );
    assert_eq!(
        set(&mut c, &[("foo", "bar"), ("databases", "3")]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string())
    );
    assert_eq!(
        set(&mut c, &[("databases", "3"), ("foo", "bar")]),
        failed("databases", "can't set immutable config")
    );
    assert_eq!(
        set(&mut c, &[("timeout", "1"), ("timeout", "x"), ("port", "1")]),
        failed("timeout", "duplicate parameter")
    );
    // First bad value wins.
    assert_eq!(
        set(&mut c, &[("timeout", "x"), ("hz", "y")]),
        failed("timeout", "argument couldn't be parsed into an integer")
    );
    assert_eq!(c, Config::default());
}

#[test]
fn protected_configs_follow_enable_protected_configs() {
    let dir = scratch();
    let mut c = Config::parse_str("enable-protected-configs local").expect("valid");
    let kv: Vec<(&[u8], &[u8])> = vec![(b"dbfilename", b"x.rdb")];
    assert_eq!(
        c.set_from(&kv, false),
        failed("dbfilename", "can't set protected config")
    );
    c.set_from(&kv, true).expect("local client may");
    assert_eq!(c.dbfilename, "x.rdb");
    let mut c = Config::parse_str("enable-protected-configs yes").expect("valid");
    let d = dir.to_string_lossy().into_owned();
    set(&mut c, &[("dir", &d)]).expect("existing dir");
    assert_eq!(
        c.dir,
        fs::canonicalize(&dir).expect("canon").to_string_lossy()
    );
    assert_eq!(
        set(&mut c, &[("dir", "no-such-subdir")]),
        failed("dir", "No such file or directory")
    );
    write(&dir, "file", "");
    assert_eq!(
        set(&mut c, &[("dir", "file")]),
        failed("dir", "Not a directory")
    );
    assert_eq!(
        set(&mut c, &[("dbfilename", "a/b")]),
        failed("dbfilename", "dbfilename can't be a path, just a filename")
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn equality_ignores_setting_order() {
    let mut a = Config::default();
    let mut b = Config::default();
    set(&mut a, &[("lfu-log-factor", "3"), ("activedefrag", "yes")]).expect("ok");
    set(&mut b, &[("activedefrag", "yes"), ("lfu-log-factor", "3")]).expect("ok");
    assert_eq!(a, b);
    set(&mut a, &[("lfu-log-factor", "10")]).expect("back to default");
    set(&mut b, &[("lfu-log-factor", "10")]).expect("back to default");
    assert_eq!(a, b);
}

#[test]
fn sensitive_directives() {
    assert!(is_sensitive(b"requirepass"));
    assert!(is_sensitive(b"MASTERAUTH"));
    assert!(!is_sensitive(b"port"));
    assert!(!is_sensitive(b"nope"));
}

#[test]
fn hostile_input_does_not_panic() {
    let junk: &[&[u8]] = &[
        b"",
        b"\0",
        b"\xff\xfe",
        b"\"",
        b"'",
        b"\\",
        b"\"\\x",
        b"\"\\xf",
        b"--",
        b"-",
        b"*",
        b"[",
        b"\\x00",
    ];
    for &a in junk {
        for &b in junk {
            let mut line = a.to_vec();
            line.push(b' ');
            line.extend_from_slice(b);
            let _ = split_args(&line);
            let _ = Config::default().apply_bytes(&line);
            for spec in SPECS {
                let mut l = spec.name.as_bytes().to_vec();
                l.push(b' ');
                l.extend_from_slice(&line);
                let _ = Config::default().apply_bytes(&l);
                let mut c = Config::default();
                let _ = c.set_from(&[(spec.name.as_bytes(), &line)], true);
            }
            let c = Config::default();
            let _ = c.get(&[a, b]);
            let _ = memtoull(&line);
            let _ = strtoll(&line);
            let _ = keyspace_events_from_bytes(&line);
        }
    }
    let strs = ["", "-", "--", "--save", "--port", "\u{0}", "--\"", "--'x"];
    for a in strs {
        for b in strs {
            let _ =
                Config::from_args_with_stdin(&args(&["--port", "0", a, b]), &mut || Ok(Vec::new()));
            let _ = options_to_config_text(&args(&[a, b]), true);
        }
    }
}

#[test]
fn redis_7_0_directives_beyond_the_stock_file() {
    let mut c = Config::default();
    // Memory-or-percent values (maxmemory-clients), Redis's texts.
    set(&mut c, &[("maxmemory-clients", "10%")]).expect("percent");
    assert_eq!(get1(&c, "maxmemory-clients"), "10%");
    set(&mut c, &[("maxmemory-clients", "1mb")]).expect("memory");
    assert_eq!(get1(&c, "maxmemory-clients"), "1048576");
    assert_eq!(
        set(&mut c, &[("maxmemory-clients", "101%")]),
        failed(
            "maxmemory-clients",
            "percentage argument must be less or equal to 100"
        )
    );
    assert_eq!(
        set(&mut c, &[("maxmemory-clients", "x%")]),
        failed(
            "maxmemory-clients",
            "argument must be a memory or percent value"
        )
    );
    // Multi-argument enum flags.
    set(&mut c, &[("shutdown-on-sigterm", "now SAVE")]).expect("flags");
    assert_eq!(get1(&c, "shutdown-on-sigterm"), "save now");
    assert_eq!(c.shutdown_on_sigterm, SHUTDOWN_SAVE | SHUTDOWN_NOW);
    assert_eq!(
        set(&mut c, &[("shutdown-on-sigint", "save nosave")]),
        failed(
            "shutdown-on-sigint",
            "shutdown options SAVE and NOSAVE can't be used simultaneously"
        )
    );
    assert_eq!(
        set(&mut c, &[("shutdown-on-sigint", "later")]),
        failed(
            "shutdown-on-sigint",
            "argument(s) must be one of the following: default, save, nosave, now, force"
        )
    );
    // Percentiles print like Redis's %f with trailing zeros trimmed.
    set(
        &mut c,
        &[("latency-tracking-info-percentiles", "50.0 99.99 100")],
    )
    .expect("pct");
    assert_eq!(
        get1(&c, "latency-tracking-info-percentiles"),
        "50 99.99 100"
    );
    assert_eq!(
        set(&mut c, &[("latency-tracking-info-percentiles", "101")]),
        failed(
            "latency-tracking-info-percentiles",
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        )
    );
    // What Ember cannot do is refused, after Redis's own validation.
    let e = |t: &str| Config::parse_str(t).expect_err("must fail");
    Config::parse_str("cluster-enabled yes").expect("cluster mode is supported");
    assert!(e("cluster-enabled maybe").contains("argument must be 'yes' or 'no'"));
    assert_eq!(
        get1(
            &Config::parse_str("tls-port 6380").expect("tls-port"),
            "tls-port"
        ),
        "6380"
    );
    assert!(e("tls-replication yes").contains("replication over TLS is not supported"));
    let r = Config::parse_str("replicaof 127.0.0.1 6380").expect("a primary");
    assert_eq!(r.replicaof, Some(("127.0.0.1".to_string(), 6380)));
    assert_eq!(get1(&r, "replicaof"), "127.0.0.1 6380");
    assert!(e("replicaof 127.0.0.1 x").contains("Invalid master port"));
    assert!(e("slaveof a").contains("wrong number of arguments"));
    Config::parse_str("replicaof no one\ncluster-enabled no\ntls-port 0\nsyslog-facility local7")
        .expect("defaults are fine");
    // Hidden directives: exact names only.
    assert_eq!(get1(&c, "rdb-key-save-delay"), "0");
    assert!(get(&c, &["rdb-key-*"]).is_empty());
    set(&mut c, &[("key-load-delay", "-10")]).expect("hidden set");
    assert_eq!(c.key_load_delay, -10);
}

#[test]
fn rewrite_keeps_the_file_and_updates_it_like_redis() {
    let mut c = Config::parse_str("maxmemory 1gb\nslave-read-only no").expect("parse");
    set(&mut c, &[("maxmemory", "2147483648"), ("hz", "20")]).expect("set");
    let old = b"# top\n  maxmemory 1gb\nmaxmemory 5\nbind 127.0.0.1\nslave-read-only no\n\n\n\nfoo bar\ninclude x.conf\nlist-max-ziplist-entries 512\n";
    let out = String::from_utf8(c.rewrite_text(old, &[])).expect("utf8");
    let (kept, added) = out
        .split_once(&format!("{REWRITE_SIGNATURE}\n"))
        .expect("signature");
    assert_eq!(
        kept,
        "# top\nmaxmemory 2gb\n\nreplica-read-only no\n\n# ??? foo bar\ninclude x.conf\n\
         # ??? list-max-ziplist-entries 512\n\n"
    );
    let added: Vec<&str> = added.lines().collect();
    assert!(added.contains(&"hz 20"), "{added:?}");
    // Redis always writes its save points (here the defaults).
    assert!(added.contains(&"save 3600 1"), "{added:?}");
    assert!(added.contains(&"save 60 10000"), "{added:?}");
    assert!(added.iter().any(|l| l.starts_with("dir \"/")), "{added:?}");
    assert!(
        !added.iter().any(|l| l.starts_with("bind")),
        "default bind is left out"
    );
    // A second rewrite adds no second signature; like Redis's (whose line split keeps the
    // empty line after the final newline) it gains one trailing blank line, then is stable.
    let again = String::from_utf8(c.rewrite_text(out.as_bytes(), &[])).expect("utf8");
    assert_eq!(again, format!("{out}\n"));
    let third = String::from_utf8(c.rewrite_text(again.as_bytes(), &[])).expect("utf8");
    assert_eq!(third, again);
    // Empty strings: left out unless the directive allows "" (Redis's two kinds).
    let mut c = Config::default();
    set(&mut c, &[("requirepass", "")]).expect("set");
    let out =
        String::from_utf8(c.rewrite_text(b"requirepass x\nlogfile \"\"\n", &[])).expect("utf8");
    assert!(out.starts_with("\nlogfile \"\"\n"), "{out}");
    // Modules loaded from files are kept.
    let m = LoadModule {
        path: "/m/bf.wasm".to_string(),
        args: vec![b"a".to_vec()],
    };
    let out = String::from_utf8(Config::default().rewrite_text(b"loadmodule /old.wasm\n", &[m]))
        .expect("utf8");
    assert!(out.starts_with("loadmodule /m/bf.wasm a\n"), "{out}");
}

#[test]
fn proc_title_template_is_validated_like_redis() {
    let mut c = Config::default();
    for ok in [
        "{title} {listen-addr}",
        "x",
        "{port}",
        "{{literal {config-file}",
    ] {
        set(&mut c, &[("proc-title-template", ok)]).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(get1(&c, "proc-title-template"), ok);
    }
    // An empty title alone expands to nothing: Redis refuses it too.
    for bad in ["{title}", "{nope}", "{title", "x {", " {server-mode} "] {
        assert_eq!(
            set(&mut c, &[("proc-title-template", bad)]),
            failed(
                "proc-title-template",
                "template format is invalid or contains unknown variables"
            ),
            "{bad}"
        );
    }
}
