//! CONFIG GET (patterns, aliases, spelling of the reply) and CONFIG SET
//! (checks in Redis's order, all-or-nothing, multi-argument values).

use super::*;
use crate::util::glob::glob_match;

impl Config {
    // -----------------------------------------------------------------------
    // CONFIG GET / CONFIG SET
    // -----------------------------------------------------------------------

    /// CONFIG GET with one or more patterns (Redis 7.0). A pattern without
    /// `*`, `?` or `[` is an exact, case-insensitive lookup and the reply uses
    /// the name as the client spelled it (`CONFIG GET MAXMEMORY` answers
    /// `MAXMEMORY`). A glob pattern matches case-insensitively against every
    /// name *and* alias, so `*` lists both `busy-reply-threshold` and
    /// `lua-time-limit`. Each name appears once (case-insensitively).
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &[(String, String)], name: &[u8]| {
            out.iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        };
        for &pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if seen(&out, pattern) {
                    continue;
                }
                if let Some((idx, _)) = lookup(pattern) {
                    out.push((lossy(pattern), self.value(idx)));
                }
                continue;
            }
            for (idx, spec) in SPECS.iter().enumerate() {
                if spec.flags & HIDDEN != 0 {
                    continue;
                }
                for name in std::iter::once(spec.name).chain(spec.alias) {
                    if !seen(&out, name.as_bytes()) && glob_match(pattern, name.as_bytes(), true) {
                        out.push((name.to_string(), self.value(idx)));
                    }
                }
            }
        }
        out
    }

    /// The CONFIG GET value of one directive by exact name or alias.
    pub fn get_one(&self, name: &str) -> Option<String> {
        lookup(name.as_bytes()).map(|(idx, _)| self.value(idx))
    }

    /// CONFIG SET from a client that is not local (see [`Config::set_from`]).
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        self.set_from(pairs, false)
    }

    /// CONFIG SET name value [name value ...], all-or-nothing, with Redis
    /// 7.0's checks in its order: first every name (unknown, immutable,
    /// protected, duplicate; the first problem wins), then every value in
    /// order. `client_is_local` matters only for `enable-protected-configs
    /// local`. The error is the full reply text after the `-`.
    ///
    /// An odd argument count is the caller's to reject ("ERR syntax error").
    pub fn set_from(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        client_is_local: bool,
    ) -> Result<(), String> {
        let failed = |name: &str, reason: &str| {
            reply_error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ))
        };
        let mut chosen: Vec<(usize, bool)> = Vec::with_capacity(pairs.len());
        for &(name, _) in pairs {
            let Some((idx, via_alias)) = lookup(name) else {
                return Err(reply_error(&format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    lossy(name)
                )));
            };
            let flags = SPECS[idx].flags;
            if flags & IMMUTABLE != 0 {
                return Err(failed(&lossy(name), "can't set immutable config"));
            }
            if flags & PROTECTED != 0 && !self.enable_protected_configs.allows(client_is_local) {
                return Err(failed(&lossy(name), "can't set protected config"));
            }
            // An alias and its primary name are distinct entries in Redis, so
            // `lua-time-limit 1 busy-reply-threshold 2` is not a duplicate.
            if chosen.contains(&(idx, via_alias)) {
                return Err(failed(&lossy(name), "duplicate parameter"));
            }
            chosen.push((idx, via_alias));
        }
        let mut next = self.clone();
        for (&(idx, via_alias), &(_, value)) in chosen.iter().zip(pairs) {
            // CONFIG SET splits multi-argument values on single spaces (not
            // like a config line): `save "3600 "` is ["3600", ""].
            let args: Vec<&[u8]> = if SPECS[idx].flags & MULTI_ARG != 0 {
                if value.is_empty() {
                    Vec::new()
                } else {
                    value.split(|&b| b == b' ').collect()
                }
            } else {
                vec![value]
            };
            next.set_spec(idx, &args, false)
                .map_err(|e| failed(entry_name(idx, via_alias), &e))?;
        }
        *self = next;
        Ok(())
    }

    pub(super) fn value(&self, idx: usize) -> String {
        let spec = &SPECS[idx];
        match spec.access {
            Access::Field(get, _) => get(self),
            Access::Stored(_, default) => self
                .stored
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| default.to_string()),
        }
    }

    pub(super) fn set_spec(
        &mut self,
        idx: usize,
        args: &[&[u8]],
        from_file: bool,
    ) -> Result<(), String> {
        let spec = &SPECS[idx];
        match spec.access {
            Access::Field(_, set) => set(self, args, from_file),
            Access::Stored(kind, default) => {
                let value = normalize(kind, args)?;
                if let Some(why) = unsupported(spec.name, &value, default) {
                    return Err(format!("'{} {value}': {why}", spec.name));
                }
                self.stored.retain(|(n, _)| *n != spec.name);
                if value != default {
                    // Kept sorted so equal configs compare equal whatever
                    // order they were set in.
                    let at = self.stored.partition_point(|(n, _)| *n < spec.name);
                    self.stored.insert(at, (spec.name, value));
                }
                Ok(())
            }
        }
    }
}
