//! Runs the scenario of every program under examples/ against a fresh ember-server (and, to
//! prove the examples themselves right, against redis-server). Each example file is included
//! as a module, so the test calls the same `run_scenario` its `main` does, without spawning
//! `cargo run --example`.

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
