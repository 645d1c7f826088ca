//! Stream commands (Redis's t_stream.c): XADD, XRANGE, XREAD, consumer groups.

use super::table::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
