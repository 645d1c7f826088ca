//! Sorted-set commands (Redis's t_zset.c).

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
