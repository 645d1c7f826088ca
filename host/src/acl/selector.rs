//! One ACL selector (Redis 7's aclSelector): which commands, keys and
//! channels it permits. A user has a root selector (the rules written
//! outside parentheses) and any number of `(...)` selectors; a command is
//! allowed when one of them allows it.
//!
//! Command permissions are a bit per command id of the one command table
//! (subcommands have their own ids); categories come from the table's ACL
//! categories, so there is no second list of commands here.

use crate::commands::table::{flags, Command, CommandTable, ACL_ORDER};
use crate::util::glob::glob_match;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a command was refused; the order is Redis's (ACL_DENIED_*): when no
/// selector allows a command, the highest reason is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key,
    Auth,
    Channel,
}

/// An error applying one rule; [`SetError::text`] is Redis's
/// ACLSetUserStringError text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    /// Unknown command or category (ENOENT).
    Unknown,
    /// Not a rule, or a pattern with spaces (EINVAL).
    Syntax,
    /// A key pattern after `allkeys` (EEXIST).
    AfterAllKeys,
    /// A channel pattern after `allchannels` (EISDIR).
    AfterAllChannels,
    /// `<pass` / `!hash` of a password the user lacks (ENODEV).
    NoSuchPassword,
    /// `#hash` that is not 64 lowercase hex digits (EBADMSG).
    BadHash,
    /// `+cmd|sub|arg`: first-args of subcommands (ECHILD).
    SubcommandFirstArg,
}

impl SetError {
    pub fn text(self) -> &'static str {
        match self {
            SetError::Unknown => "Unknown command or category name in ACL",
            SetError::Syntax => "Syntax error",
            SetError::AfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            SetError::AfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            SetError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            SetError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            SetError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// A bit per command id; ids past the stored words read as `fill`, which
/// is what `+@all` sets: a user who started from `+@all` may also run
/// commands registered later by modules (Redis's reserved last bit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandBits {
    words: Vec<u64>,
    fill: bool,
}

impl CommandBits {
    fn all(on: bool) -> Self {
        CommandBits {
            words: Vec::new(),
            fill: on,
        }
    }

    #[inline]
    pub fn get(&self, id: u32) -> bool {
        match self.words.get(id as usize / 64) {
            Some(w) => w & (1 << (id % 64)) != 0,
            None => self.fill,
        }
    }

    fn set(&mut self, id: u32, on: bool) {
        let word = id as usize / 64;
        if word >= self.words.len() {
            if on == self.fill {
                return;
            }
            let fill = if self.fill { u64::MAX } else { 0 };
            self.words.resize(word + 1, fill);
        }
        if on {
            self.words[word] |= 1 << (id % 64);
        } else {
            self.words[word] &= !(1 << (id % 64));
        }
    }

    /// Whether the bits started from `+@all` (future commands allowed).
    pub fn future(&self) -> bool {
        self.fill
    }
}

/// A key pattern with the access it grants (`~` both, `%R~` read, `%W~` write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    /// The rule that recreates it (`~p`, `%R~p`, `%W~p`).
    pub fn describe(&self) -> Vec<u8> {
        let mut s = match (self.read, self.write) {
            (true, false) => b"%R~".to_vec(),
            (false, true) => b"%W~".to_vec(),
            _ => b"~".to_vec(),
        };
        s.extend_from_slice(&self.pattern);
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub allkeys: bool,
    pub allchannels: bool,
    /// `+@all` / `allcommands` with nothing removed since: no bit test.
    pub allcommands: bool,
    pub bits: CommandBits,
    /// Allowed first arguments of otherwise denied commands (`+select|0`),
    /// by command id, in the order they were added.
    pub firstargs: BTreeMap<u32, Vec<String>>,
    pub patterns: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

/// Looks a command up by its ACL name (`get`, `config|get`), as Redis's
/// ACLLookupCommand does: case-insensitive, at most one `|`.
pub fn lookup(table: &CommandTable, name: &[u8]) -> Option<Arc<Command>> {
    let mut parts = name.splitn(3, |&b| b == b'|');
    let top = parts.next()?;
    let cmd: Arc<Command> = (*table.resolve_name(top)?).clone();
    match (parts.next(), parts.next()) {
        (None, _) => Some(cmd),
        (Some(sub), None) => cmd.subcommands.get(&sub.to_ascii_lowercase()).cloned(),
        _ => None,
    }
}

fn has_spaces(s: &[u8]) -> bool {
    !super::valid_name(s)
}

/// Every command and subcommand of the table, sorted by full name (the
/// order rules are described in; Redis walks its hash table instead).
pub fn all_commands(table: &CommandTable) -> Vec<Arc<Command>> {
    let mut out = Vec::new();
    for c in table.all() {
        let mut subs: Vec<Arc<Command>> = c.subcommands.values().cloned().collect();
        subs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        out.push(c);
        out.extend(subs);
    }
    out
}

/// A category's bit in [`Command::acl_mask`], by name (case-insensitive).
pub fn category_bit(name: &[u8]) -> Option<u32> {
    ACL_ORDER
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

impl Selector {
    /// A new selector: nothing allowed but the channels `acl-pubsub-default`
    /// grants.
    pub fn new(allchannels: bool) -> Self {
        Selector {
            allkeys: false,
            allchannels,
            allcommands: false,
            bits: CommandBits::all(false),
            firstargs: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Permits everything (the default user's root selector).
    pub fn permit_all(&mut self) {
        self.allkeys = true;
        self.allchannels = true;
        self.allcommands = true;
        self.bits = CommandBits::all(true);
        self.firstargs.clear();
        self.patterns.clear();
        self.channels.clear();
    }

    pub fn unrestricted(&self) -> bool {
        self.allkeys && self.allchannels && self.allcommands
    }

    fn set_bit(&mut self, id: u32, on: bool) {
        self.bits.set(id, on);
        if !on {
            self.allcommands = false;
        }
    }

    /// Redis's ACLChangeSelectorPerm: the command and all its subcommands.
    fn change(&mut self, cmd: &Command, on: bool) {
        self.set_bit(cmd.id, on);
        self.firstargs.remove(&cmd.id);
        for sub in cmd.subcommands.values() {
            self.set_bit(sub.id, on);
        }
    }

    fn change_category(&mut self, table: &CommandTable, bit: u32, on: bool) {
        for c in table.all() {
            if c.spec.module.is_some() {
                continue;
            }
            if c.acl_mask & bit != 0 {
                self.change(&c, on);
            }
            for sub in c.subcommands.values() {
                if sub.acl_mask & bit != 0 {
                    self.change(sub, on);
                }
            }
        }
    }

    /// Applies one selector rule (Redis's ACLSetSelector).
    pub fn apply(&mut self, table: &CommandTable, op: &[u8]) -> Result<(), SetError> {
        let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.allkeys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.patterns.clear();
        } else if is("allchannels") || op == b"&*" {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.bits = CommandBits::all(true);
            self.allcommands = true;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.bits = CommandBits::all(false);
            self.allcommands = false;
            self.firstargs.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.allkeys {
                return Err(SetError::AfterAllKeys);
            }
            let (read, write, rest) = if op[0] == b'%' {
                let (mut read, mut write) = (false, false);
                let mut i = 1;
                loop {
                    match op.get(i).map(u8::to_ascii_uppercase) {
                        Some(b'R') if !read => read = true,
                        Some(b'W') if !write => write = true,
                        Some(b'~') => {
                            i += 1;
                            break;
                        }
                        // Redis stops at the end without a `~` and takes
                        // the (empty) rest as the pattern.
                        None => break,
                        _ => return Err(SetError::Syntax),
                    }
                    i += 1;
                }
                if !read && !write {
                    // `%~p` grants nothing (Redis 7.0 accepts it, then
                    // cannot describe it).
                    return Err(SetError::Syntax);
                }
                (read, write, &op[i.min(op.len())..])
            } else {
                (true, true, &op[1..])
            };
            if has_spaces(rest) {
                return Err(SetError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == rest) {
                Some(p) => {
                    p.read |= read;
                    p.write |= write;
                }
                None => self.patterns.push(KeyPattern {
                    pattern: rest.to_vec(),
                    read,
                    write,
                }),
            }
            self.allkeys = false;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(SetError::AfterAllChannels);
            }
            let rest = &op[1..];
            if has_spaces(rest) {
                return Err(SetError::Syntax);
            }
            if !self.channels.iter().any(|c| c == rest) {
                self.channels.push(rest.to_vec());
            }
            self.allchannels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let cmd = lookup(table, name).ok_or(SetError::Unknown)?;
                    self.change(&cmd, true);
                }
                Some(bar) => {
                    let cmd = lookup(table, &name[..bar]).ok_or(SetError::Unknown)?;
                    if cmd.is_sub {
                        return Err(SetError::SubcommandFirstArg);
                    }
                    let sub = &name[bar + 1..];
                    if sub.is_empty() {
                        return Err(SetError::Syntax);
                    }
                    if !cmd.subcommands.is_empty() {
                        let cmd = lookup(table, name).ok_or(SetError::Unknown)?;
                        self.change(&cmd, true);
                    } else {
                        // Redis's deprecated first-arg rule (+select|0).
                        let sub = String::from_utf8_lossy(sub).into_owned();
                        let list = self.firstargs.entry(cmd.id).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(&sub)) {
                            list.push(sub);
                        }
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let cmd = lookup(table, &op[1..]).ok_or(SetError::Unknown)?;
            self.change(&cmd, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(SetError::Unknown)?;
            self.change_category(table, bit, op[0] == b'+');
        } else {
            return Err(SetError::Syntax);
        }
        Ok(())
    }

    /// Whether this selector lets `cmd` run with `argv`; on refusal, the
    /// reason and the argument index at fault (Redis's ACLSelectorCheckCmd).
    pub fn check(&self, cmd: &Command, argv: &[&[u8]]) -> Result<(), (Denied, usize)> {
        if !self.allcommands && !cmd.spec.has(flags::NO_AUTH) && !self.bits.get(cmd.id) {
            let idx = if cmd.is_sub { 2 } else { 1 };
            let allowed = argv.len() >= 2
                && self.firstargs.get(&cmd.id).is_some_and(|list| {
                    argv.get(idx)
                        .is_some_and(|a| list.iter().any(|f| a.eq_ignore_ascii_case(f.as_bytes())))
                });
            if !allowed {
                return Err((Denied::Command, 0));
            }
        }
        if !self.allkeys && (cmd.spec.first_key > 0 || cmd.spec.key_finder.is_some()) {
            let positions = cmd.spec.key_indexes(argv);
            if self.patterns.iter().all(|p| p.read && p.write) {
                // Every pattern grants both accesses: no need for key flags.
                for pos in positions {
                    if !self.key_allowed(argv[pos], false, false) {
                        return Err((Denied::Key, pos));
                    }
                }
            } else {
                for (pos, kflags) in crate::commands::keyflags::key_access(cmd, &positions, argv) {
                    let read = kflags.contains(&"access");
                    let write = kflags
                        .iter()
                        .any(|f| matches!(*f, "insert" | "delete" | "update"));
                    if !self.key_allowed(argv[pos], read, write) {
                        return Err((Denied::Key, pos));
                    }
                }
            }
        }
        if !self.allchannels {
            let (range, pattern) = cmd.spec.channels.positions(argv.len());
            for pos in range {
                if !self.channel_allowed(argv[pos], pattern) {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }

    /// Whether a key may be accessed for reading and/or writing.
    pub fn key_allowed(&self, key: &[u8], read: bool, write: bool) -> bool {
        self.allkeys
            || self.patterns.iter().any(|p| {
                (p.read || !read) && (p.write || !write) && glob_match(&p.pattern, key, false)
            })
    }

    /// Whether a channel (or, for PSUBSCRIBE, a pattern, matched literally)
    /// may be used.
    pub fn channel_allowed(&self, channel: &[u8], pattern: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if pattern {
                    p == channel
                } else {
                    glob_match(p, channel, false)
                }
            })
    }

    /// The command rules as ACL GETUSER shows them (Redis's
    /// ACLDescribeSelectorCommandRules): `+@all` or `-@all`, then the
    /// categories that fit best, then single commands to make up the rest.
    pub fn describe_commands(&self, table: &CommandTable) -> String {
        let all = all_commands(table);
        let additive = !self.bits.future();
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(false);
        fake.bits = CommandBits::all(!additive);
        let mut temp = self.clone();
        temp.firstargs.clear();
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0u64);
            for (j, _) in ACL_ORDER.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (mut on, mut off) = (0u64, 0u64);
                for c in &all {
                    if c.acl_mask & (1 << j) != 0 {
                        if temp.bits.get(c.id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.change_category(table, 1 << j, additive);
            temp.change_category(table, 1 << j, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(ACL_ORDER[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for c in &all {
            let userbit = self.bits.get(c.id);
            if userbit != fake.bits.get(c.id) {
                rules.push(if userbit { '+' } else { '-' });
                rules.push_str(&c.full_name);
                rules.push(' ');
                fake.change(c, userbit);
            }
            if !userbit {
                for arg in self.firstargs.get(&c.id).into_iter().flatten() {
                    rules.push('+');
                    rules.push_str(&c.full_name);
                    rules.push('|');
                    rules.push_str(arg);
                    rules.push(' ');
                }
            }
        }
        rules.pop();
        rules
    }

    /// Key patterns as ACL GETUSER's `keys` field shows them.
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        join(self.patterns.iter().map(KeyPattern::describe))
    }

    /// Channel patterns as ACL GETUSER's `channels` field shows them.
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        join(self.channels.iter().map(|c| [b"&", &c[..]].concat()))
    }

    /// The whole selector as ACL LIST shows it (Redis's ACLDescribeSelector).
    pub fn describe(&self, table: &CommandTable) -> Vec<u8> {
        let mut out = Vec::new();
        if self.allkeys {
            out.extend_from_slice(b"~* ");
        } else {
            for p in &self.patterns {
                out.extend_from_slice(&p.describe());
                out.push(b' ');
            }
        }
        if self.allchannels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands(table).as_bytes());
        out
    }
}

fn join(parts: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in parts.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&p);
    }
    out
}
