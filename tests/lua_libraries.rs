//! Real client libraries whose features are Redis Lua scripts, driven against a real
//! `ember-server`: redis-py's `Lock` (tests/lua_libraries/redis_py_lock.py: acquire, release,
//! extend, reacquire, expiry, SCRIPT FLUSH fallback, six threads contending) and the Node queue
//! BullMQ (tests/node_bullmq/queue.mjs: a worker processing plain, delayed, retried, failing and
//! prioritised jobs).
//!
//! Each driver runs against redis-server first: it must pass there, so a failure on Ember is an
//! Ember bug. The drivers need `python3` with the `redis` package (`pip install redis`) and `node`
//! with `npm ci` run in tests/node_bullmq; `.ci/run` installs both. When one is missing
//! locally the test says so and skips it; under CI (`CI` set) a missing tool is a failure.

#[path = "common/mod.rs"]
mod common;

use common::{ServerKind, ServerProcess};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tests_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests"))
}

/// Skip (with the reason printed) outside CI; fail under CI, where .ci/run installs the tools.
fn missing(what: &str) {
    let message = format!("SKIPPED: {what}");
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI installs it in .ci/run: this must not happen there)");
    }
    eprintln!("{message}");
    println!("{message}");
}

/// Whether `program args..` runs and exits 0 (used to probe for tools).
fn works(program: &str, args: &[&str], dir: &Path) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a driver with the server's port as its last argument, at most `limit`; panics with its
/// output unless it exits 0. Returns its stdout.
fn run_driver(
    program: &str,
    args: &[&str],
    dir: &Path,
    server: &ServerProcess,
    limit: Duration,
) -> String {
    let port = server.port().to_string();
    let mut child = Command::new(program)
        .args(args)
        .arg(&port)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("driver output");
                panic!(
                    "{program} {args:?} against {} did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    server.kind().name(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(e) => panic!("waiting for {program}: {e}"),
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("driver output");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "{program} {args:?} against {} failed ({status})\nstdout:\n{stdout}\nstderr:\n{}\n{}",
        server.kind().name(),
        String::from_utf8_lossy(&stderr),
        if server.kind() == ServerKind::Ember {
            format!("ember-server output:\n{}", server.output())
        } else {
            String::new()
        }
    );
    println!("{}: {}", server.kind().name(), stdout.trim());
    stdout
}

/// Runs the driver against a fresh redis-server (it must pass there) and then ember-server.
fn on_redis_then_ember(program: &str, args: &[&str], dir: &Path) {
    for kind in [ServerKind::Redis, ServerKind::Ember] {
        let server = ServerProcess::start(kind, &[]);
        let out = run_driver(program, args, dir, &server, Duration::from_secs(120));
        assert!(out.contains("checks passed"), "{out}");
    }
}

#[test]
fn redis_py_lock_works_against_ember() {
    let dir = tests_dir().join("lua_libraries");
    if !works("python3", &["-c", "import redis"], &dir) {
        missing("python3 with the redis package is not installed (pip install redis)");
        return;
    }
    on_redis_then_ember("python3", &["redis_py_lock.py"], &dir);
}

#[test]
fn bullmq_processes_jobs_against_ember() {
    let dir = tests_dir().join("node_bullmq");
    if !works("node", &["--version"], &dir) {
        missing("node is not installed");
        return;
    }
    if !dir.join("node_modules/bullmq/package.json").is_file() {
        missing("BullMQ is not installed (run `npm ci` in tests/node_bullmq)");
        return;
    }
    on_redis_then_ember("node", &["queue.mjs"], &dir);
}
