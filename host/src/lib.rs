//! Ember: a Redis-compatible in-memory data store. docs/architecture.md is the map:
//! `server` speaks RESP, `commands` holds the command table and one file per
//! command family, `store` is the sharded keyspace, `config` the directives.

pub mod acl;
pub mod alloc;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod effects;
pub mod log;
pub mod lua;
pub mod persist;
pub mod process;
pub mod repl;
pub mod server;
pub mod store;
pub mod util;
pub mod wasm;
