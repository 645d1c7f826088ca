//! Runs the scenario of every program under examples/ against a fresh ember-server (and, to
//! prove the examples themselves right, against redis-server, except for the programs that need
//! Ember's modules and wasm scripts). Each example file is included as a module, so the test
//! calls the same `run_scenario` its `main` does, without spawning `cargo run --example`.
//! The patterns with a script run it as Lua on both servers and as WebAssembly on Ember; the
//! leaderboard also runs with `appendonly yes` and must survive a SIGKILL and restart.

// Every example is a standalone program that includes examples/support/mod.rs itself; included
// here as modules, each brings its own copy (their `Engine` types are distinct, so each
// example re-exports the one it takes).
#![allow(clippy::duplicate_mod)]

#[path = "common/mod.rs"]
mod common;

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/chat_gateway.rs"]
mod chat_gateway;

#[allow(dead_code)]
#[path = "../examples/cache_invalidation.rs"]
mod cache_invalidation;

#[allow(dead_code)]
#[path = "../examples/job_queue.rs"]
mod job_queue;

#[allow(dead_code)]
#[path = "../examples/url_dedup.rs"]
mod url_dedup;

#[allow(dead_code)]
#[path = "../examples/rate_limited_api.rs"]
mod rate_limited_api;

#[allow(dead_code)]
#[path = "../examples/cache_aside.rs"]
mod cache_aside;

#[allow(dead_code)]
#[path = "../examples/distributed_lock.rs"]
mod distributed_lock;

#[allow(dead_code)]
#[path = "../examples/session_store.rs"]
mod session_store;

#[allow(dead_code)]
#[path = "../examples/presence.rs"]
mod presence;

#[allow(dead_code)]
#[path = "../examples/counter_flush.rs"]
mod counter_flush;

#[allow(dead_code)]
#[path = "../examples/leaderboard.rs"]
mod leaderboard;

#[allow(dead_code)]
#[path = "../examples/timelines.rs"]
mod timelines;

#[allow(dead_code)]
#[path = "../examples/ticket_booking.rs"]
mod ticket_booking;

#[allow(dead_code)]
#[path = "../examples/ad_clicks.rs"]
mod ad_clicks;

use common::{ServerKind, ServerProcess};

fn addr(server: &ServerProcess) -> String {
    server.addr().to_string()
}

fn run_on(kind: ServerKind, name: &str, scenario: fn(&str) -> Result<String, String>) {
    let server = ServerProcess::start(kind, &[]);
    if let Err(e) = scenario(&addr(&server)) {
        panic!(
            "example {name} failed against {}: {e}\n{}",
            kind.name(),
            server.output()
        );
    }
}

fn chat(addr: &str) -> Result<String, String> {
    chat_gateway::run_scenario(addr)
        .map(|s| format!("{s:?}"))
        .map_err(|e| e.to_string())
}

fn cache(addr: &str) -> Result<String, String> {
    cache_invalidation::run_scenario(addr)
        .map(|s| format!("{s:?}"))
        .map_err(|e| e.to_string())
}

#[test]
fn chat_gateway_on_ember() {
    run_on(ServerKind::Ember, "chat_gateway", chat);
}

#[test]
fn chat_gateway_on_redis() {
    run_on(ServerKind::Redis, "chat_gateway", chat);
}

#[test]
fn cache_invalidation_on_ember() {
    run_on(ServerKind::Ember, "cache_invalidation", cache);
}

#[test]
fn cache_invalidation_on_redis() {
    run_on(ServerKind::Redis, "cache_invalidation", cache);
}

fn jobs(addr: &str) -> Result<String, String> {
    job_queue::run_scenario(addr)
        .map(|s| format!("{s:?}"))
        .map_err(|e| e.to_string())
}

#[test]
fn job_queue_on_ember() {
    run_on(ServerKind::Ember, "job_queue", jobs);
}

#[test]
fn job_queue_on_redis() {
    run_on(ServerKind::Redis, "job_queue", jobs);
}

fn crawl(addr: &str) -> Result<String, String> {
    let s = url_dedup::run_scenario(addr).map_err(|e| e.to_string())?;
    // Every page of the synthetic site was fetched (the scenario itself checks "at most once"
    // and allows up to 1% Bloom false positives; at this fill a skip is very unlikely).
    if s.crawled + s.skipped_new != s.pages || s.crawled < s.pages * 99 / 100 {
        return Err(format!("{s:?}"));
    }
    Ok(format!("{s:?}"))
}

fn api(addr: &str) -> Result<String, String> {
    let s = rate_limited_api::run_scenario(addr).map_err(|e| e.to_string())?;
    // 8 + 3 + 3 + 3 + 1 requests; refused: 3 of alice's burst, 1 after the wait, dave's export.
    if (s.admitted, s.refused) != (13, 5) {
        return Err(format!("{s:?}"));
    }
    Ok(format!("{s:?}"))
}

/// The crawler on the `url_dedup` wasm script and the bundled Bloom filter module (Ember only).
#[test]
fn url_dedup_on_ember() {
    run_on(ServerKind::Ember, "url_dedup", crawl);
}

/// The API handler loop on CL.THROTTLE and the `token_bucket` wasm script (Ember only).
#[test]
fn rate_limited_api_on_ember() {
    run_on(ServerKind::Ember, "rate_limited_api", api);
}

// ---------------------------------------------------------------------------------------------
// The system-design patterns (issue 18). Each runs against both servers; the scripts of the
// patterns with an atomic read-modify-write run as Lua on both and as WebAssembly on Ember.
// ---------------------------------------------------------------------------------------------

/// Runs `scenario` against a fresh server of each kind.
fn on_both(name: &str, scenario: fn(&str) -> Result<String, String>) {
    for kind in [ServerKind::Ember, ServerKind::Redis] {
        run_on(kind, name, scenario);
    }
}

fn shown<T: std::fmt::Debug>(
    r: Result<T, Box<dyn std::error::Error + Send + Sync>>,
) -> Result<String, String> {
    r.map(|o| format!("{o:?}")).map_err(|e| e.to_string())
}

/// 100 concurrent readers of a cold key: about 100 origin calls without the stampede lock,
/// exactly one with it (the scenario asserts the 1, the serving of stale copies and the
/// refresh ahead); here the measurement itself must show the stampede.
#[test]
fn cache_aside_on_both() {
    on_both("cache_aside", |addr| {
        let o = cache_aside::run_scenario(addr).map_err(|e| e.to_string())?;
        if o.origin_hits_with_lock != 1 || o.origin_hits_without_lock < 50 {
            return Err(format!("origin hits: {o:?}"));
        }
        Ok(format!("{o:?}"))
    });
}

#[test]
fn distributed_lock_lua_on_both() {
    on_both("distributed_lock", |addr| {
        shown(distributed_lock::run_scenario(
            addr,
            distributed_lock::Engine::Lua,
        ))
    });
}

#[test]
fn distributed_lock_wasm_on_ember() {
    run_on(ServerKind::Ember, "distributed_lock", |addr| {
        shown(distributed_lock::run_scenario(
            addr,
            distributed_lock::Engine::Wasm,
        ))
    });
}

#[test]
fn session_store_on_both() {
    on_both("session_store", |addr| {
        shown(session_store::run_scenario(addr))
    });
}

/// Presence needs expired-key events: the scenario turns them on with CONFIG SET.
#[test]
fn presence_on_both() {
    on_both("presence", |addr| shown(presence::run_scenario(addr)));
}

#[test]
fn counter_flush_rename_and_lua_on_both() {
    on_both("counter_flush", |addr| {
        let a = shown(counter_flush::run_scenario(
            addr,
            counter_flush::Swap::Rename,
        ))?;
        let b = shown(counter_flush::run_scenario(
            addr,
            counter_flush::Swap::Script(counter_flush::Engine::Lua),
        ))?;
        Ok(format!("{a}\n{b}"))
    });
}

#[test]
fn counter_flush_wasm_on_ember() {
    run_on(ServerKind::Ember, "counter_flush", |addr| {
        shown(counter_flush::run_scenario(
            addr,
            counter_flush::Swap::Script(counter_flush::Engine::Wasm),
        ))
    });
}

/// The board is the source of truth: with `appendonly yes` and `appendfsync always`, every
/// acknowledged ZINCRBY survives the server being killed (SIGKILL, no shutdown) and restarted.
#[test]
fn leaderboard_survives_kill_and_restart() {
    for kind in [ServerKind::Ember, ServerKind::Redis] {
        let dir = common::unique_temp_dir("leaderboard");
        let dir_s = dir.to_string_lossy().into_owned();
        let mut server = ServerProcess::start(
            kind,
            &[
                ("dir", &dir_s),
                ("appendonly", "yes"),
                ("appendfsync", "always"),
            ],
        );
        let prefix = format!("leaderboard:{}:", std::process::id());
        let model = leaderboard::build(&addr(&server), &prefix)
            .unwrap_or_else(|e| panic!("leaderboard on {}: {e}\n{}", kind.name(), server.output()));
        let before = leaderboard::verify(&addr(&server), &model)
            .unwrap_or_else(|e| panic!("leaderboard on {}: {e}", kind.name()));
        server.restart();
        let after = leaderboard::verify(&addr(&server), &model).unwrap_or_else(|e| {
            panic!(
                "leaderboard after a restart of {}: {e}\n{}",
                kind.name(),
                server.output()
            )
        });
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn leaderboard_on_both() {
    on_both("leaderboard", |addr| shown(leaderboard::run_scenario(addr)));
}

#[test]
fn timelines_on_both() {
    on_both("timelines", |addr| shown(timelines::run_scenario(addr)));
}

/// 200 concurrent buyers for 60 seats (and on Ember, 80 GA tickets): no seat sold twice, every
/// seat sold, abandoned holds returned; the scenario asserts it all.
#[test]
fn ticket_booking_lua_on_both() {
    on_both("ticket_booking", |addr| {
        shown(ticket_booking::run_scenario(
            addr,
            ticket_booking::Engine::Lua,
            false,
        ))
    });
}

#[test]
fn ticket_booking_wasm_and_ga_on_ember() {
    run_on(ServerKind::Ember, "ticket_booking", |addr| {
        let o = ticket_booking::run_scenario(addr, ticket_booking::Engine::Wasm, true)
            .map_err(|e| e.to_string())?;
        if o.ga_sold != Some(80) || o.seats_sold != 60 {
            return Err(format!("{o:?}"));
        }
        Ok(format!("{o:?}"))
    });
}

#[test]
fn ad_clicks_on_both() {
    on_both("ad_clicks", |addr| {
        let o = ad_clicks::run_scenario(addr).map_err(|e| e.to_string())?;
        if o.reclaimed == 0 {
            return Err(format!("nothing was reclaimed: {o:?}"));
        }
        Ok(format!("{o:?}"))
    });
}
