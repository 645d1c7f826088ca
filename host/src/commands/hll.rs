//! HyperLogLog commands (Redis's hyperloglog.c), byte-compatible with Redis's HLL strings.

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
