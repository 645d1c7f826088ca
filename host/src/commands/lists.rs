//! List commands (Redis's t_list.c), blocking pops included.

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
