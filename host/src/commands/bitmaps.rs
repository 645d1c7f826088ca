//! Bitmap commands on string values (Redis's bitops.c).

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
