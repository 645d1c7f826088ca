//! Hash commands (Redis's t_hash.c).

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
