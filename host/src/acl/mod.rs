//! Access control lists as in Redis 7.0: the users (name, on/off, SHA-256
//! passwords, selectors of commands, keys and channels), the permission
//! check the dispatcher, MULTI/EXEC, scripts and modules call, the ACL LOG,
//! and the `user` lines of the config file and the `aclfile`.
//!
//! Command names and categories come from the one command table
//! ([`crate::commands::table`]); this module keeps no list of its own. The
//! ACL commands themselves (replies, killing clients of a deleted user)
//! live in `commands/acl.rs`.

pub mod log;
pub mod selector;
pub mod user;

pub use selector::{Denied, SetError};
pub use user::{hash_password, Rules, User};

use crate::commands::table::CommandTable;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Redis's reply to a command from an unauthenticated client.
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// Redis's reply to a failed AUTH / HELLO AUTH.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// The reason text of a refused command as the client sees it (Redis's
/// processCommand rejections).
pub fn noperm_text(reason: Denied, cmd_name: &str) -> String {
    match reason {
        Denied::Command => {
            format!("NOPERM this user has no permissions to run the '{cmd_name}' command")
        }
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
        Denied::Auth => "NOPERM no permission".into(),
    }
}

/// Redis's getAclErrorMessage (scripts' and modules' errors).
pub fn reason_message(reason: Denied) -> &'static str {
    match reason {
        Denied::Command => "can't run this command or subcommand",
        Denied::Key => "can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => "can't publish to the channel mentioned in the command",
        Denied::Auth => "lacking the permissions for the command",
    }
}

/// Whether a user name is acceptable (no spaces, no NULs).
pub fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b == 0 || crate::config::is_c_space(b))
}

/// Joins selector rules split across arguments (`(~a` `+get)`) into one,
/// as Redis's ACLMergeSelectorArguments; Err(index) of an unclosed `(`.
pub fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, op) in args.iter().enumerate() {
        if let Some((_, sel)) = &mut open {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.clone()));
            continue;
        }
        out.push(op.clone());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

/// An error in one rule: the merged rule and why.
pub struct RuleError {
    pub rule: Vec<u8>,
    pub error: SetError,
}

/// The users and the log.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    default: Arc<User>,
    pub log: log::AclLog,
    /// The `requirepass` last applied to the default user.
    requirepass: Mutex<Option<String>>,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new()
    }
}

/// The default user's rules: on, nopass, everything permitted.
fn default_rules() -> Rules {
    let mut r = Rules::new(true);
    r.enabled = true;
    r.nopass = true;
    r.selectors[0].permit_all();
    r
}

impl Acl {
    pub fn new() -> Self {
        let default = Arc::new(User::new(b"default", default_rules()));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
            log: log::AclLog::default(),
            requirepass: Mutex::new(None),
        }
    }

    /// The `default` user, which new connections start as.
    #[inline]
    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    /// Whether the default user requires a password (or is off), so new
    /// connections start unauthenticated (Redis's authRequired; protected
    /// mode also asks this).
    pub fn default_user_requires_password(&self) -> bool {
        self.default.requires_auth()
    }

    /// Whether the default user has `nopass`: Redis's protected mode refuses
    /// remote clients then, whether or not the user is `off`.
    pub fn default_user_nopass(&self) -> bool {
        self.default.nopass()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Applies `requirepass` to the default user when it changed (Redis's
    /// ACLUpdateDefaultUserPassword: a password, or nopass when empty).
    pub fn apply_requirepass(&self, table: &CommandTable, pass: &str) {
        let mut last = self.requirepass.lock();
        if last.as_deref() == Some(pass) {
            return;
        }
        let first = last.is_none();
        *last = Some(pass.to_string());
        if first && pass.is_empty() {
            return;
        }
        let mut rules = self.default.rules();
        let _ = rules.apply(table, b"resetpass", false);
        if pass.is_empty() {
            let _ = rules.apply(table, b"nopass", false);
        } else {
            let _ = rules.apply(table, &[b">", pass.as_bytes()].concat(), false);
        }
        self.default.set_rules(rules);
    }

    /// The rules `name` would have after `args` (ACL SETUSER staging: all
    /// or nothing), starting from the user's current rules or a new user's.
    pub fn staged_rules(
        &self,
        table: &CommandTable,
        name: &[u8],
        args: &[Vec<u8>],
        allchannels: bool,
    ) -> Result<Rules, RuleError> {
        let mut rules = match self.get(name) {
            Some(u) => u.rules(),
            None => Rules::new(allchannels),
        };
        for op in args {
            rules
                .apply(table, op, allchannels)
                .map_err(|error| RuleError {
                    rule: op.clone(),
                    error,
                })?;
        }
        Ok(rules)
    }

    /// Sets a user's rules, creating it if needed; returns the user.
    pub fn set_user(&self, name: &[u8], rules: Rules) -> Arc<User> {
        let mut users = self.users.write();
        match users.get(name) {
            Some(u) => {
                u.set_rules(rules);
                u.clone()
            }
            None => {
                let u = Arc::new(User::new(name, rules));
                users.insert(name.to_vec(), u.clone());
                u
            }
        }
    }

    /// Removes users (never `default`); returns the removed ones, whose
    /// clients the caller disconnects.
    pub fn delete_users(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        names
            .iter()
            .filter(|n| **n != b"default")
            .filter_map(|n| users.remove(*n))
            .collect()
    }

    /// Replaces every user but `default` (whose rules are updated in place,
    /// so its clients keep it); returns the replaced users.
    pub fn replace_all(&self, mut new: BTreeMap<Vec<u8>, Rules>) -> Vec<Arc<User>> {
        let default_rules = new.remove(&b"default"[..]).unwrap_or_else(default_rules);
        self.default.set_rules(default_rules);
        let mut users = self.users.write();
        let old = std::mem::take(&mut *users);
        users.insert(b"default".to_vec(), self.default.clone());
        for (name, rules) in new {
            users.insert(name.clone(), Arc::new(User::new(&name, rules)));
        }
        old.into_iter()
            .filter(|(n, _)| n != b"default")
            .map(|(_, u)| u)
            .collect()
    }

    /// The ACL file text (ACL SAVE, Redis's ACLSaveToFile format).
    pub fn file_text(&self, table: &CommandTable) -> Vec<u8> {
        let mut out = Vec::new();
        for u in self.users() {
            out.extend_from_slice(b"user ");
            out.extend_from_slice(&u.name);
            out.push(b' ');
            out.extend_from_slice(&u.rules().describe(table));
            out.push(b'\n');
        }
        out
    }

    /// Parses an ACL file (Redis's ACLLoadFromFile), all or nothing: the
    /// users it defines, or every error found in one line of text.
    pub fn parse_file(
        table: &CommandTable,
        filename: &str,
        text: &[u8],
        allchannels: bool,
    ) -> Result<BTreeMap<Vec<u8>, Rules>, String> {
        let mut errors = String::new();
        let mut users = BTreeMap::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let linenum = i + 1;
            let line = crate::config::trim_bytes(raw, b" \t\r\n");
            if line.is_empty() {
                continue;
            }
            let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            if argv[0] != b"user" || argv.len() < 2 {
                errors.push_str(&format!(
                    "{filename}:{linenum} should start with user keyword followed by the username. "
                ));
                continue;
            }
            let name = argv[1];
            if !valid_name(name) {
                errors.push_str(&format!(
                    "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            if users.contains_key(name) {
                errors.push_str(&format!(
                    "WARNING: Duplicate user '{}' found on line {linenum}. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            let args: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_vec()).collect();
            let merged = match merge_selector_args(&args) {
                Ok(m) => m,
                Err(_) => {
                    errors.push_str(&format!(
                        "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                    ));
                    Vec::new()
                }
            };
            let mut rules = Rules::new(allchannels);
            let mut syntax_error = false;
            for op in merged {
                let op = crate::config::trim_bytes(&op, b"\t\r\n");
                if let Err(e) = rules.apply(table, op, allchannels) {
                    if e == SetError::Unknown {
                        errors.push_str(&format!(
                            "{filename}:{linenum}: Error in applying operation '{}': {}. ",
                            String::from_utf8_lossy(op),
                            e.text()
                        ));
                    } else if !syntax_error {
                        errors.push_str(&format!("{filename}:{linenum}: {}. ", e.text()));
                        syntax_error = true;
                    }
                }
            }
            users.insert(name.to_vec(), rules);
        }
        if errors.is_empty() {
            Ok(users)
        } else {
            errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            );
            Err(errors)
        }
    }

    /// Applies the config file's `user` lines at start-up (Redis's
    /// ACLLoadConfiguredUsers), or the first error.
    pub fn load_config_users(
        &self,
        table: &CommandTable,
        lines: &[Vec<Vec<u8>>],
        allchannels: bool,
    ) -> Result<(), String> {
        let mut seen: Vec<&[u8]> = Vec::new();
        for line in lines {
            let Some((name, args)) = line.split_first() else {
                continue;
            };
            if seen.contains(&name.as_slice()) {
                return Err(format!(
                    "Error in user declaration '{}': {}",
                    String::from_utf8_lossy(name),
                    "Duplicate user found. A user can only be defined once in config files"
                ));
            }
            seen.push(name);
            if !valid_name(name) {
                return Err("Spaces not allowed in ACL usernames".into());
            }
            let merged = merge_selector_args(args).map_err(|i| {
                format!(
                    "Unmatched parenthesis in acl selector starting at '{}'.",
                    String::from_utf8_lossy(&args[i])
                )
            })?;
            let mut rules = Rules::new(allchannels);
            if name == b"default" {
                // The existing default user is reset, not created.
                let _ = rules.apply(table, b"reset", allchannels);
            }
            for op in &merged {
                rules.apply(table, op, allchannels).map_err(|e| {
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(op),
                        String::from_utf8_lossy(name),
                        e.text()
                    )
                })?;
            }
            if !rules.enabled {
                crate::log::notice(&format!(
                    "The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.",
                    String::from_utf8_lossy(name)
                ));
            }
            self.set_user(name, rules);
        }
        Ok(())
    }
}
