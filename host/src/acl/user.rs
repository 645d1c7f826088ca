//! An ACL user: on/off, passwords (SHA-256 hex, never the clear text), the
//! root selector and the `(...)` selectors; the rule language of ACL
//! SETUSER and `user` lines (Redis's ACLSetUser), and the description
//! ACL LIST / GETUSER print.

use super::selector::{Denied, Selector, SetError};
use crate::commands::table::{Command, CommandTable};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};

/// The SHA-256 of a password in lowercase hex, as ACL users store it.
pub fn hash_password(clear: &[u8]) -> String {
    let digest = Sha256::digest(clear);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        hex.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    hex
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// A user's rules: what ACL SETUSER changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` (Some(true)) / `sanitize-payload` (Some(false)).
    pub skip_sanitize: Option<bool>,
    /// SHA-256 hex of each password, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then the `(...)` ones.
    pub selectors: Vec<Selector>,
}

impl Rules {
    /// A new user's rules: off, no password, nothing permitted.
    pub fn new(allchannels: bool) -> Self {
        Rules {
            enabled: false,
            nopass: false,
            skip_sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(allchannels)],
        }
    }

    /// Applies one rule (Redis's ACLSetUser); `allchannels` is
    /// `acl-pubsub-default`, which `reset` and new selectors start from.
    pub fn apply(
        &mut self,
        table: &CommandTable,
        op: &[u8],
        allchannels: bool,
    ) -> Result<(), SetError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.skip_sanitize = Some(true);
        } else if is("sanitize-payload") {
            self.skip_sanitize = Some(false);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(SetError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(SetError::BadHash);
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(SetError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(allchannels);
            let inner = &op[1..op.len() - 1];
            for rule in crate::config::split_args(inner).ok_or(SetError::Syntax)? {
                s.apply(table, &rule)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.allkeys = false;
            root.patterns.clear();
            root.allchannels = allchannels;
            root.channels.clear();
            self.enabled = false;
            self.skip_sanitize = Some(false);
            self.selectors.truncate(1);
            self.selectors[0].apply(table, b"-@all")?;
        } else {
            self.selectors[0].apply(table, op)?;
        }
        Ok(())
    }

    /// The user as ACL LIST shows it after `user <name> ` (Redis's ACLDescribeUser).
    pub fn describe(&self, table: &CommandTable) -> Vec<u8> {
        let mut out = Vec::new();
        for (on, name) in [
            (self.enabled, "on"),
            (!self.enabled, "off"),
            (self.nopass, "nopass"),
            (self.skip_sanitize == Some(true), "skip-sanitize-payload"),
            (self.skip_sanitize == Some(false), "sanitize-payload"),
        ] {
            if on {
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
            }
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(&s.describe(table));
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe(table));
                out.push(b')');
            }
        }
        out
    }

    /// The flags ACL GETUSER lists.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.skip_sanitize {
            Some(true) => v.push("skip-sanitize-payload"),
            Some(false) => v.push("sanitize-payload"),
            None => {}
        }
        v
    }

    fn unrestricted(&self) -> bool {
        self.selectors.iter().any(Selector::unrestricted)
    }
}

/// A user as clients hold it: rules that ACL SETUSER changes in place (so
/// its authenticated clients see the change at their next command).
#[derive(Debug)]
pub struct User {
    /// Binary-safe, without spaces or NULs.
    pub name: Vec<u8>,
    /// Some selector permits every command, key and channel: the
    /// dispatcher's check is this one flag (the default user's case).
    unrestricted: AtomicBool,
    /// Off, or has no `nopass`: [`User::requires_auth`] without a lock.
    needs_auth: AtomicBool,
    rules: RwLock<Rules>,
}

impl User {
    pub fn new(name: &[u8], rules: Rules) -> Self {
        User {
            name: name.to_vec(),
            unrestricted: AtomicBool::new(rules.unrestricted()),
            needs_auth: AtomicBool::new(!rules.nopass || !rules.enabled),
            rules: RwLock::new(rules),
        }
    }

    /// The name as text (CLIENT LIST's `user=`).
    pub fn name_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }

    /// A copy of the rules.
    pub fn rules(&self) -> Rules {
        self.rules.read().clone()
    }

    pub fn set_rules(&self, rules: Rules) {
        let free = rules.unrestricted();
        let needs_auth = !rules.nopass || !rules.enabled;
        *self.rules.write() = rules;
        self.unrestricted.store(free, Ordering::Release);
        self.needs_auth.store(needs_auth, Ordering::Release);
    }

    /// Whether the user may run `cmd` with `argv`; on refusal the reason and
    /// the argument index at fault (Redis's ACLCheckAllUserCommandPerm: when
    /// no selector allows it, the highest reason, then the last position).
    #[inline]
    pub fn check(&self, cmd: &Command, argv: &[&[u8]]) -> Result<(), (Denied, usize)> {
        if self.unrestricted.load(Ordering::Acquire) {
            return Ok(());
        }
        self.check_slow(cmd, argv)
    }

    fn check_slow(&self, cmd: &Command, argv: &[&[u8]]) -> Result<(), (Denied, usize)> {
        let rules = self.rules.read();
        let mut worst = (Denied::Command, 0);
        for s in &rules.selectors {
            match s.check(cmd, argv) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                        worst = e;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether some selector grants access to a key (scripts' and modules'
    /// direct key access).
    pub fn key_allowed(&self, key: &[u8], read: bool, write: bool) -> bool {
        self.unrestricted.load(Ordering::Acquire)
            || self
                .rules
                .read()
                .selectors
                .iter()
                .any(|s| s.key_allowed(key, read, write))
    }

    /// Whether some selector grants a channel (or, literally, a pattern).
    pub fn channel_allowed(&self, channel: &[u8], pattern: bool) -> bool {
        self.unrestricted.load(Ordering::Acquire)
            || self
                .rules
                .read()
                .selectors
                .iter()
                .any(|s| s.channel_allowed(channel, pattern))
    }

    /// Checks a password (Redis's ACLCheckUserCredentials): disabled users
    /// never pass, nopass users always do.
    pub fn password_ok(&self, password: &[u8]) -> bool {
        let rules = self.rules.read();
        if !rules.enabled {
            return false;
        }
        if rules.nopass {
            return true;
        }
        let hash = hash_password(password);
        rules.passwords.iter().any(|p| same_hash(p, &hash))
    }

    /// `nopass` is set (AUTH with only a password is refused then).
    pub fn nopass(&self) -> bool {
        self.rules.read().nopass
    }

    /// Whether connections start unauthenticated as this user (for the
    /// default user: a password is required).
    #[inline]
    pub fn requires_auth(&self) -> bool {
        self.needs_auth.load(Ordering::Acquire)
    }
}
