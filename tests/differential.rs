//! Differential test: Ember against the real Redis, command by command, on the corpus of
//! `tests/corpus/*.txt` (one file per command family). The engine and the corpus format are in
//! `tests/common/corpus.rs`; the Lua scripting corpus runs from tests/lua_differential.rs.

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
mod corpus;

use common::Protocol;
use corpus::{compare, parse_corpus, run_differential, split_args, Action, Check, Step};
use std::path::Path;
use std::time::Duration;

#[test]
fn differential_corpus() {
    run_differential(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus")),
        &[],
    );
}

// ---------------------------------------------------------------------------------------------
// Tests of the harness itself (no servers)
// ---------------------------------------------------------------------------------------------

#[test]
fn split_args_follows_redis_cli_quoting() {
    let v = |s: &str| split_args(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        v("SET k v"),
        vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]
    );
    assert_eq!(v("  a   b  "), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(
        v(r#"SET "a b" 'c d'"#)[1..],
        [b"a b".to_vec(), b"c d".to_vec()]
    );
    assert_eq!(
        v(r#""\x00\xff\n\r\t\\\"""#),
        vec![b"\x00\xff\n\r\t\\\"".to_vec()]
    );
    assert_eq!(
        v(r#"'it\'s' '\n'"#),
        vec![b"it's".to_vec(), b"\\n".to_vec()]
    );
    assert_eq!(v(r#""" ''"#), vec![Vec::new(), Vec::new()]);
    assert_eq!(v(r#"a\*b"#), vec![b"a\\*b".to_vec()]);
    assert_eq!(v(r#""\xZZ""#), vec![b"xZZ".to_vec()]);
    assert!(split_args(r#""open"#).is_err());
    assert!(split_args(r#"'open"#).is_err());
    assert!(split_args(r#""a"b"#).is_err());
}

#[test]
fn corpus_annotations_parse() {
    let text = "# c\nSET k v\n~type TIME\n\n@2 ~range 1 5 TTL k\n---\n~sorted KEYS *\n~sleep 10\n~scan SCAN 0 COUNT 2\n";
    let seqs = parse_corpus("t.txt", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seqs.len(), 3);
    assert_eq!(seqs[0].steps.len(), 2);
    assert_eq!(seqs[0].line, 2);
    assert_eq!(seqs[1].steps[0].conn, 2);
    let check = |s: &Step| match &s.action {
        Action::Command { check, .. } => Some(check.clone()),
        Action::Sleep(_) => None,
    };
    assert_eq!(check(&seqs[0].steps[1]), Some(Check::Type));
    assert_eq!(check(&seqs[1].steps[0]), Some(Check::Range(1, 5)));
    assert_eq!(check(&seqs[2].steps[0]), Some(Check::Sorted));
    assert_eq!(
        seqs[2].steps[1].action,
        Action::Sleep(Duration::from_millis(10))
    );
    assert_eq!(check(&seqs[2].steps[2]), Some(Check::Scan));
    assert!(parse_corpus("t", "~bogus PING").is_err());
    assert!(parse_corpus("t", "~type ~sorted PING").is_err());
    assert!(parse_corpus("t", "~scan SCAN 5").is_err());
    assert!(parse_corpus("t", "@0 PING").is_err());
    assert!(parse_corpus("t", "~type").is_err());
}

#[test]
fn compare_detects_differences() {
    let r2 = Protocol::Resp2;
    assert!(compare(&Check::Exact, b"+OK\r\n", r2, b"+OK\r\n", r2).is_none());
    assert!(compare(&Check::Exact, b"+OK\r\n", r2, b"+Ok\r\n", r2).is_some());
    assert!(compare(&Check::Exact, b"-ERR a\r\n", r2, b"-ERR b\r\n", r2).is_some());
    assert!(compare(&Check::Type, b":1\r\n", r2, b":2\r\n", r2).is_none());
    assert!(compare(&Check::Type, b":1\r\n", r2, b"$1\r\n1\r\n", r2).is_some());
    assert!(compare(&Check::Ignore, b":1\r\n", r2, b"-ERR\r\n", r2).is_none());
    assert!(compare(&Check::Range(1, 3), b":1\r\n", r2, b":3\r\n", r2).is_none());
    assert!(compare(&Check::Range(1, 3), b":1\r\n", r2, b":4\r\n", r2).is_some());
    assert!(compare(&Check::Range(1, 3), b"$1\r\n1\r\n", r2, b":1\r\n", r2).is_some());
    let ab = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n";
    let ba = b"*2\r\n$1\r\nb\r\n$1\r\na\r\n";
    let aa = b"*2\r\n$1\r\na\r\n$1\r\na\r\n";
    assert!(compare(&Check::Sorted, ab, r2, ba, r2).is_none());
    assert!(compare(&Check::Sorted, ab, r2, aa, r2).is_some());
    assert!(compare(&Check::Exact, ab, r2, ba, r2).is_some());
    let r3 = Protocol::Resp3;
    let m1 = b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n";
    let m2 = b"%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n";
    let m3 = b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n";
    assert!(compare(&Check::Sorted, m1, r3, m2, r3).is_none());
    assert!(compare(&Check::Sorted, m1, r3, m3, r3).is_some());
}
