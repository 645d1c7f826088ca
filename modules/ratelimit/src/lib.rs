//! `ember-ratelimit`: the rate-limiter module Ember loads at start-up (module name `ratelimit`).
//!
//! - `CL.THROTTLE` — redis-cell's command, reply for reply: [`gcra`] holds the algorithm.
//! - `RL.TOKENBUCKET` — a continuously refilling token bucket: [`token_bucket`].
//! - `RL.SLIDING` — an exact sliding-window log: [`sliding`].
//!
//! The algorithms are pure functions; `commands.rs` registers the commands and moves state
//! between them and the keyspace. Both are unit-tested natively (`tests.rs` runs the commands
//! against the SDK's simulated host and a small in-memory keyspace). See README.md for the
//! commands' arguments, replies and storage.

mod commands;
pub mod gcra;
pub mod sliding;
pub mod token_bucket;

pub use commands::EMBER_MODULE;

#[cfg(test)]
#[path = "../../testkit/keyspace.rs"]
mod keyspace;
#[cfg(test)]
mod tests;
