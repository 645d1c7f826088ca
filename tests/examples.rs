//! Runs the scenario of every program under examples/ against a fresh ember-server (and, to
//! prove the examples themselves right, against redis-server, except for the programs that need
//! Ember's modules and wasm scripts). Each example file is included as a module, so the test
//! calls the same `run_scenario` its `main` does, without spawning `cargo run --example`.

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
