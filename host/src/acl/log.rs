//! The ACL security log (ACL LOG): refused commands, keys, channels and
//! failed AUTHs, newest first, similar events within a minute folded into
//! one entry with a count, as Redis's addACLLogEntry does.

use super::selector::Denied;
use parking_lot::Mutex;
use std::collections::VecDeque;

/// Where the refused command ran (Redis's ACL_LOG_CTX_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    /// Inside a script (Lua or wasm) or function: Redis's "lua".
    Script,
    Module,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Script => "lua",
            Context::Module => "module",
        }
    }
}

/// One ACL LOG entry, every field Redis records.
#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    pub reason: Denied,
    pub context: Context,
    /// The command, key, channel or (for AUTH) the command name.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix milliseconds of the last occurrence.
    pub ctime_ms: i64,
    /// CLIENT LIST line of the (last) client.
    pub client_info: String,
}

impl Entry {
    pub fn reason_name(&self) -> &'static str {
        match self.reason {
            Denied::Command => "command",
            Denied::Key => "key",
            Denied::Channel => "channel",
            Denied::Auth => "auth",
        }
    }
}

/// Entries closer than this in time are folded into one.
const GROUPING_MS: i64 = 60_000;
/// How many recent entries are compared with a new one.
const SCAN: usize = 10;

#[derive(Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
}

impl AclLog {
    /// Records an event, keeping at most `max_len` entries.
    pub fn add(&self, e: Entry, max_len: usize) {
        let mut entries = self.entries.lock();
        let found = entries.iter().take(SCAN).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && (o.ctime_ms - e.ctime_ms).abs() <= GROUPING_MS
                && o.object == e.object
                && o.username == e.username
        });
        if let Some(i) = found {
            if let Some(mut old) = entries.remove(i) {
                old.count += 1;
                old.ctime_ms = e.ctime_ms;
                old.client_info = e.client_info;
                entries.push_front(old);
            }
            return;
        }
        entries.push_front(e);
        entries.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}
