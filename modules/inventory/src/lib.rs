//! `ember-inventory`: the general-admission inventory module Ember loads at start-up (module
//! name `inventory`) — stock for flash sales that is held, confirmed or released atomically and
//! never oversold, with holds that expire and return their units on their own.
//!
//! - [`stock`]: the hash layout and every state transition, as pure functions.
//! - `commands.rs`: the `INV.*` commands (registration, hash reads and writes, replies).
//! - `tests.rs`: the commands run natively against the SDK's simulated host and a small
//!   in-memory keyspace.
//!
//! See README.md for the commands, their replies and errors.

mod commands;
pub mod stock;

pub use commands::EMBER_MODULE;

#[cfg(test)]
#[path = "../../testkit/keyspace.rs"]
mod keyspace;
#[cfg(test)]
mod tests;
