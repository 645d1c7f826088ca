//! Helpers shared by the tests that drive guests (the hand-written WAT guests of
//! tests/wasm_guests/, and Lua scripts): reading a guest, building the RESP request a guest
//! forwards to `call`, sending commands with a readable panic, asserting raw replies, and
//! probing that a server keeps serving while a long script runs. Included next to `common` with
//! `#[path = "common/guests.rs"] mod guests;`.
#![allow(dead_code)]

use super::common::{encode_command, escape, RespConn};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Path of tests/wasm_guests/<name>.wat.
pub fn guest_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/wasm_guests/{name}.wat"))
}

/// The WAT text of tests/wasm_guests/<name>.wat.
pub fn guest(name: &str) -> String {
    let path = guest_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One command as the RESP array of bulk strings `call` takes.
pub fn req(args: &[&str]) -> String {
    String::from_utf8(encode_command(args)).expect("utf-8 arguments")
}

/// Sends one command of byte-string arguments and returns the raw reply.
#[macro_export]
macro_rules! cmd {
    ($c:expr; $($a:expr),+ $(,)?) => {
        $c.run(&[$(AsRef::<[u8]>::as_ref(&$a)),+])
    };
}

/// Runs a command, panicking with the (shortened) request when the connection fails.
pub trait Run {
    fn run(&mut self, args: &[&[u8]]) -> Vec<u8>;
}

impl Run for RespConn {
    fn run(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.command(args)
            .unwrap_or_else(|e| panic!("{}: {e}", short(&encode_command(args))))
    }
}

/// Escaped, and cut to 300 characters (scripts are long).
pub fn short(bytes: &[u8]) -> String {
    let s = escape(bytes);
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Asserts a raw reply exactly, showing both sides escaped.
pub fn expect(reply: &[u8], want: &str, what: &str) {
    assert_eq!(escape(reply), escape(want.as_bytes()), "{what}");
}

/// While `job` runs (at most 8 s): PING, SET and GET on connection `p`, each answered within
/// `max_each`. Returns how many rounds ran.
pub fn probe_while_running<T>(mut p: RespConn, job: &JoinHandle<T>, max_each: Duration) -> usize {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut rounds = 0;
    while !job.is_finished() && Instant::now() < deadline {
        let value = rounds.to_string();
        for (args, want) in [
            (vec!["PING"], "+PONG\r\n".to_string()),
            (vec!["SET", "probe", &value], "+OK\r\n".to_string()),
            (
                vec!["GET", "probe"],
                format!("${}\r\n{value}\r\n", value.len()),
            ),
        ] {
            let started = Instant::now();
            let reply = p.command(&args).expect("probe");
            let took = started.elapsed();
            expect(&reply, &want, &format!("{args:?} during a long script"));
            if !job.is_finished() {
                assert!(
                    took < max_each,
                    "{args:?} took {took:?} while a script was looping"
                );
            }
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    rounds
}
