//! Set commands (Redis's t_set.c).

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
