//! Which key-spec flags apply to each key of a concrete command line
//! (COMMAND GETKEYSANDFLAGS), from the key specs in [`meta`](super::meta).
//!
//! The key positions come from the command table (the one source of truth
//! for keys, which also handles commands whose keys need parsing); the specs
//! only say which flags each position carries, as Redis's
//! getKeysUsingKeySpecs would find them.

use super::meta::{BeginSearch, FindKeys, KeySpec};
use super::table::{flags::WRITE, Command};

/// The key spec of a command Redis lacks (no recorded metadata): its
/// first/last/step range, read-write if it writes.
pub fn derived_spec(cmd: &Command) -> Option<KeySpec> {
    let spec = &cmd.spec;
    if spec.first_key <= 0 {
        return None;
    }
    let flags: &'static [&'static str] = if spec.has(WRITE) {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    };
    let last = if spec.last_key < 0 {
        spec.last_key as i64
    } else {
        (spec.last_key - spec.first_key) as i64
    };
    Some(KeySpec {
        notes: "",
        flags,
        begin: BeginSearch::Index(spec.first_key as i64),
        find: FindKeys::Range {
            lastkey: last,
            keystep: spec.key_step as i64,
            limit: 0,
        },
    })
}

/// Each key of a command line with its key-spec flags: the recorded specs
/// of a Redis command, or [`derived_spec`] for one Redis lacks (COMMAND
/// GETKEYSANDFLAGS, and ACL rules that grant only read or write access).
pub fn key_access(
    cmd: &Command,
    key_positions: &[usize],
    argv: &[&[u8]],
) -> Vec<(usize, &'static [&'static str])> {
    match super::meta::lookup(&cmd.full_name) {
        Some(m) => keys_and_flags(m.key_specs, key_positions, argv),
        None => keys_and_flags(derived_spec(cmd).as_slice(), key_positions, argv),
    }
}

/// The positions one key spec selects in `argv` (empty when it finds none).
fn positions(ks: &KeySpec, argv: &[&[u8]]) -> Vec<usize> {
    let argc = argv.len() as i64;
    let first = match ks.begin {
        BeginSearch::Index(i) => i,
        BeginSearch::Unknown => return Vec::new(),
        BeginSearch::Keyword { keyword, startfrom } => {
            let (start, end, step) = if startfrom >= 0 {
                (startfrom, argc, 1)
            } else {
                (argc + startfrom, 0, -1)
            };
            let mut i = start;
            let mut found = None;
            while i != end && (1..argc).contains(&i) {
                if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                    found = Some(i + 1);
                    break;
                }
                i += step;
            }
            match found {
                Some(f) => f,
                None => return Vec::new(),
            }
        }
    };
    if first <= 0 || first >= argc {
        return Vec::new();
    }
    let (first, last, step) = match ks.find {
        FindKeys::Unknown => return Vec::new(),
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit <= 1 {
                argc + lastkey
            } else {
                first + (argc - first) / limit + lastkey
            };
            (first, last, keystep.max(1))
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let Some(n) = argv
                .get((first + keynumidx) as usize)
                .and_then(|a| crate::util::num::parse_i64(a))
            else {
                return Vec::new();
            };
            let start = first + firstkey;
            (start, start + (n - 1) * keystep.max(1), keystep.max(1))
        }
    };
    (first..=last.min(argc - 1))
        .step_by(step as usize)
        .map(|i| i as usize)
        .collect()
}

/// Each key position of `argv` with its flags, in Redis's order: spec by
/// spec, or positional when a spec is incomplete (Redis then asks the
/// command's own key finder, as the table did for `key_positions`).
pub fn keys_and_flags(
    specs: &[KeySpec],
    key_positions: &[usize],
    argv: &[&[u8]],
) -> Vec<(usize, &'static [&'static str])> {
    let found: Vec<Vec<usize>> = specs.iter().map(|s| positions(s, argv)).collect();
    let incomplete = specs
        .iter()
        .any(|s| matches!(s.begin, BeginSearch::Unknown));
    let fallback = specs
        .iter()
        .rev()
        .find(|s| matches!(s.begin, BeginSearch::Unknown))
        .map(|s| s.flags)
        .unwrap_or(&[]);
    let mut out: Vec<(usize, usize, &'static [&'static str])> = key_positions
        .iter()
        .map(|&pos| match found.iter().position(|f| f.contains(&pos)) {
            Some(i) => (i, pos, specs[i].flags),
            None => (specs.len(), pos, fallback),
        })
        .collect();
    if !incomplete {
        out.sort_by_key(|&(spec, pos, _)| (spec, pos));
    }
    out.into_iter()
        .map(|(_, pos, f)| (pos, variable_flags(f, argv)))
        .collect()
}

/// Flags of a `variable_flags` spec for this command line, as the
/// command's getkeys function in Redis 7.0 decides them.
fn variable_flags(flags: &'static [&'static str], argv: &[&[u8]]) -> &'static [&'static str] {
    if !flags.contains(&"variable_flags") {
        return flags;
    }
    let any = |names: &[&str]| {
        argv.iter()
            .skip(2)
            .any(|a| names.iter().any(|n| super::eq_ic(a, n)))
    };
    if super::eq_ic(argv[0], "set") {
        // SET ... GET reads the old value; plain SET overwrites.
        if any(&["get"]) {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        }
    } else if super::eq_ic(argv[0], "bitfield") {
        // Read-only unless a SET or INCRBY operation is present.
        if any(&["set", "incrby"]) {
            &["RW", "access", "update"]
        } else {
            &["RO", "access"]
        }
    } else {
        flags
    }
}
