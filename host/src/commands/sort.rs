//! SORT and SORT_RO (Redis's sort.c).

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
