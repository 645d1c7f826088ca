//! What the pattern examples (examples/*.rs) share: the server address from the command line,
//! a key prefix unique to the run and its cleanup, `ensure` for the examples' own checks,
//! whether the server is Ember, and loading a script as Lua or as WebAssembly.
//!
//! Each example includes this file with `#[path = "support/mod.rs"] mod support;` and uses part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use redis::Commands;
use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

pub type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// `Err(msg)` unless `cond`: how an example checks its own outcome.
pub fn ensure(cond: bool, msg: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

/// The server address: the first argument that is not a flag, else `EMBER_ADDR`, else
/// 127.0.0.1:6379.
pub fn addr_from_args() -> String {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .or_else(|| std::env::var("EMBER_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:6379".into())
}

/// A key prefix no other run uses: `<name>:<pid>:<nanos>:`.
pub fn unique_prefix(name: &str) -> Res<String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    Ok(format!("{name}:{}:{nanos}:", std::process::id()))
}

/// Deletes every key under `prefix` (SCAN, not KEYS: it does not block the server).
pub fn cleanup(con: &mut redis::Connection, prefix: &str) -> Res<()> {
    let keys: Vec<String> = con.scan_match(format!("{prefix}*"))?.collect();
    for chunk in keys.chunks(500) {
        let _: usize = con.del(chunk)?;
    }
    Ok(())
}

/// True when the server is Ember (its INFO server section has `ember_version`).
pub fn is_ember(con: &mut redis::Connection) -> Res<bool> {
    let info: String = redis::cmd("INFO").arg("server").query(con)?;
    Ok(info.contains("ember_version:"))
}

/// The language a script is written in. Redis runs Lua; Ember runs Lua and WebAssembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Lua,
    Wasm,
}

/// One script in both languages: the same keys, arguments and replies.
pub struct Script {
    pub lua: &'static str,
    pub wasm: &'static [u8],
}

impl Script {
    /// `SCRIPT LOAD`s the script in `engine`'s language and returns its SHA1, for EVALSHA.
    pub fn load(&self, con: &mut redis::Connection, engine: Engine) -> Res<String> {
        let body: &[u8] = match engine {
            Engine::Lua => self.lua.as_bytes(),
            Engine::Wasm => self.wasm,
        };
        Ok(redis::cmd("SCRIPT").arg("LOAD").arg(body).query(con)?)
    }
}

/// The engines `main` runs an example with: Lua everywhere, WebAssembly too on Ember.
pub fn engines_at(addr: &str) -> Res<Vec<Engine>> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    Ok(if is_ember(&mut client.get_connection()?)? {
        vec![Engine::Lua, Engine::Wasm]
    } else {
        vec![Engine::Lua]
    })
}

/// A multi-threaded tokio runtime for the async examples (their `run_scenario` is a plain
/// function so that `main` and tests/examples.rs call it the same way).
pub fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?)
}

/// Runs `scenario` with a client of the server at `addr` and a fresh key prefix, then deletes
/// every key under the prefix, whether the scenario succeeded or not.
pub fn with_prefix<T>(
    addr: &str,
    name: &str,
    scenario: impl FnOnce(&redis::Client, &str) -> Res<T>,
) -> Res<T> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let prefix = unique_prefix(name)?;
    let outcome = scenario(&client, &prefix);
    cleanup(&mut client.get_connection()?, &prefix)?;
    outcome
}

/// An example's `main`: runs `run` against the address from the command line and prints what
/// it returns, or the error, exiting with status 1.
pub fn main(name: &str, run: impl FnOnce(&str) -> Res<String>) {
    let addr = addr_from_args();
    match run(&addr) {
        Ok(text) => println!("{name} against {addr}: {text}"),
        Err(e) => {
            eprintln!("{name} FAILED against {addr}: {e}");
            std::process::exit(1);
        }
    }
}
