//! Helpers of the replication tests that drive replicas through commands
//! and INFO (replica.rs, failover.rs): running commands that must succeed,
//! INFO as a map, waiting for a replica to catch up. Included next to
//! `common` with `#[path = "common/repl.rs"] mod repl;`.
#![allow(dead_code)]

use super::common::{escape, is_error, RespConn, ServerProcess};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// These tests start up to seven servers each; on a 2-core machine they
/// run one at a time, so that start-up and sync deadlines hold.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn serial() -> (
    MutexGuard<'static, ()>,
    std::sync::RwLockReadGuard<'static, ()>,
) {
    let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    (one, super::common::shared())
}

pub fn run(c: &mut RespConn, args: &[&str]) -> Vec<u8> {
    c.command(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn ok(c: &mut RespConn, args: &[&str]) {
    let r = run(c, args);
    assert!(!is_error(&r), "{args:?} -> {}", escape(&r));
}

/// INFO `section` as field -> value.
pub fn info(c: &mut RespConn, section: &str) -> HashMap<String, String> {
    let r = run(c, &["INFO", section]);
    let text =
        String::from_utf8_lossy(super::common::string_value(&r).unwrap_or_default()).into_owned();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the replica's link is up and it applied everything the
/// primary has sent (offsets equal).
pub fn wait_synced(primary: &mut RespConn, replica: &mut RespConn, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = info(primary, "replication");
        let r = info(replica, "replication");
        let po = p.get("master_repl_offset").cloned().unwrap_or_default();
        let ro = r.get("slave_repl_offset").cloned().unwrap_or_default();
        if r.get("master_link_status").map(String::as_str) == Some("up") && po == ro {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: replica not in sync (primary offset {po}, replica {ro}; replica INFO {r:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Points `replica` at `primary` and waits until it has synced with `top`
/// (the primary itself, or the head of its chain).
pub fn follow(replica: &mut RespConn, primary: &ServerProcess, top: &mut RespConn) {
    let port = primary.port().to_string();
    assert_eq!(run(replica, &["REPLICAOF", "127.0.0.1", &port]), b"+OK\r\n");
    wait_synced(top, replica, &format!("replica of {port}"));
}
