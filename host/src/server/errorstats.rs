//! Error reply counters for INFO stats (`total_error_replies`) and INFO
//! errorstats (`errorstat_<PREFIX>:count=N`), as Redis 7.0 keeps them.
//!
//! [`Out::error`](super::reply::Out::error) notes the prefix of each error it
//! writes; the connection hands the noted prefixes here once per batch (one
//! emptiness check when there were none), so counting costs nothing on the
//! success path.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Redis's ERROR_STATS_NUMBER: past this many distinct prefixes (a sign of
/// errors with variable first words) Redis stops tracking them by prefix.
const MAX_PREFIXES: usize = 128;

#[derive(Default)]
pub struct ErrorStats {
    total: AtomicU64,
    by_prefix: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    counts: BTreeMap<String, u64>,
    /// Set when MAX_PREFIXES was reached; cleared by CONFIG RESETSTAT.
    disabled: bool,
}

/// The errorstats prefix of an error text (what follows the `-`): its first
/// word when a space comes within Redis's 32-byte window, else "ERR".
pub fn prefix(text: &str) -> &str {
    // Redis searches the first 32 bytes of "-TEXT", so 31 of the text.
    let window = &text.as_bytes()[..text.len().min(31)];
    match window.iter().position(|&b| b == b' ') {
        Some(i) => &text[..i],
        None => "ERR",
    }
}

impl ErrorStats {
    /// Counts error replies by their prefixes.
    pub fn record<'a>(&self, prefixes: impl IntoIterator<Item = &'a str>) {
        let mut table = self.by_prefix.lock();
        for p in prefixes {
            self.total.fetch_add(1, Ordering::Relaxed);
            if table.disabled {
                continue;
            }
            if let Some(n) = table.counts.get_mut(p) {
                *n += 1;
            } else if table.counts.len() >= MAX_PREFIXES {
                // As Redis: drop the table and stop tracking until RESETSTAT.
                table.counts.clear();
                table.disabled = true;
                crate::log::warning(&format!(
                    "Errorstats stopped adding new errors because the number of different errors reached {MAX_PREFIXES}; use CONFIG RESETSTAT to reset the errors"
                ));
            } else {
                table.counts.insert(p.to_string(), 1);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The `# Errorstats` lines, sorted by prefix as Redis's radix tree is.
    pub fn info_lines(&self) -> String {
        let table = self.by_prefix.lock();
        table
            .counts
            .iter()
            .map(|(p, n)| format!("errorstat_{p}:count={n}\r\n"))
            .collect()
    }

    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        *self.by_prefix.lock() = Table::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_redis() {
        assert_eq!(prefix("WRONGTYPE Operation against a key"), "WRONGTYPE");
        assert_eq!(prefix("ERR syntax error"), "ERR");
        assert_eq!(prefix("NOSPACEHERE"), "ERR");
        assert_eq!(prefix(&format!("{} x", "A".repeat(30))), "A".repeat(30));
        assert_eq!(prefix(&format!("{} x", "A".repeat(31))), "ERR");
    }

    #[test]
    fn table_is_bounded() {
        let s = ErrorStats::default();
        let names: Vec<String> = (0..200).map(|i| format!("E{i}")).collect();
        s.record(names.iter().map(|n| n.as_str()));
        assert_eq!(s.total(), 200);
        assert_eq!(s.info_lines(), "");
        s.reset();
        s.record(["ERR", "ERR", "WRONGTYPE"]);
        assert_eq!(
            s.info_lines(),
            "errorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
    }
}
