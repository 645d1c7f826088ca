//! The one command table (DESIGN.md): name, arity, flags, key positions, ACL
//! categories and handler of every command. Dispatch, arity errors, COMMAND,
//! lock planning, MULTI/EXEC key sets and INFO commandstats all read it, and
//! nothing else re-derives that information.
//!
//! Each family file (strings.rs, keys.rs, ...) declares its commands in a
//! `pub const COMMANDS: &[CommandSpec]` next to their code, so a command's
//! metadata sits beside its implementation; [`CommandTable::new`] collects them.

use super::{CmdResult, Ctx};
use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A command's implementation: reads `argv` (argv[0] is the name), writes its
/// reply into `ctx.out`, or returns an error for the dispatcher to send.
pub type Handler = for<'a, 'b, 'c> fn(&'c mut Ctx<'a, 'b>, &[&[u8]]) -> CmdResult;

/// Custom key finder for commands whose key positions depend on their
/// arguments (numkeys-style commands). Returns argument indexes.
pub type KeyFinder = fn(&[&[u8]]) -> Vec<usize>;

/// For key finders of `numkeys key [key ...]` commands: appends the
/// positions of the keys counted by `argv[numkeys_idx]`, bounded by argv;
/// none when numkeys is not a positive integer (the command then fails
/// before touching a key).
pub fn numkeys_keys(argv: &[&[u8]], numkeys_idx: usize, out: &mut Vec<usize>) {
    let Some(n) = argv
        .get(numkeys_idx)
        .and_then(|a| crate::util::num::parse_i64(a))
        .filter(|&n| n >= 1)
    else {
        return;
    };
    let first = numkeys_idx + 1;
    let last = (first as u64)
        .saturating_add(n as u64)
        .min(argv.len() as u64) as usize;
    out.extend(first..last);
}

pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    /// Keys found by parsing the arguments (SORT's BY/GET/STORE); set
    /// implicitly for commands with a key finder.
    pub const MOVABLEKEYS: u32 = 1 << 17;
    /// Ember-internal, not shown by COMMAND: holds every shard of the client's db.
    pub const WHOLE_DB: u32 = 1 << 24;
    /// Ember-internal: holds every shard of every db.
    pub const ALL_DBS: u32 = 1 << 25;

    /// Names COMMAND shows, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        // MAY_REPLICATE is not shown: Redis hides it on purpose.
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Command groups, as COMMAND DOCS names them; each implies an ACL category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Connection,
    Server,
    Transactions,
    Hash,
    List,
    Set,
    SortedSet,
    HyperLogLog,
    Bitmap,
    Geo,
    PubSub,
    Scripting,
    Stream,
    Cluster,
    /// Commands registered by wasm modules.
    Module,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Transactions => "transactions",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::HyperLogLog => "hyperloglog",
            Group::Bitmap => "bitmap",
            Group::Geo => "geo",
            Group::PubSub => "pubsub",
            Group::Scripting => "scripting",
            Group::Stream => "stream",
            Group::Cluster => "cluster",
            Group::Module => "module",
        }
    }

    fn acl_category(self) -> Option<&'static str> {
        Some(match self {
            Group::Generic => "keyspace",
            Group::String => "string",
            Group::Connection => "connection",
            Group::Transactions => "transaction",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sortedset",
            Group::HyperLogLog => "hyperloglog",
            Group::Bitmap => "bitmap",
            Group::Geo => "geo",
            Group::PubSub => "pubsub",
            Group::Scripting => "scripting",
            Group::Stream => "stream",
            Group::Server | Group::Cluster | Group::Module => return None,
        })
    }
}

/// Redis's ACL categories in the order COMMAND and ACL CAT list them; a
/// category's position is its bit in [`Command::acl_mask`].
pub const ACL_ORDER: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The static description of a command.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub key_finder: Option<KeyFinder>,
    pub group: Group,
    /// Extra ACL categories beyond those implied by flags and group (e.g. "dangerous").
    pub acl: &'static [&'static str],
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// Argument synopsis as Redis documents it, e.g. "key value [NX | XX]";
    /// used for COMMAND DOCS and the generated command list.
    pub syntax: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    /// For commands a wasm module registered: (module name, handler number
    /// for `ember_invoke`).
    pub module: Option<(&'static str, i32)>,
    /// Which arguments are Pub/Sub channels that ACL `&` rules govern
    /// (Redis's commands_with_channels table).
    pub channels: Channels,
}

/// The Pub/Sub channel arguments of a command, for ACL channel rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    None,
    /// argv[1] is a channel published to (PUBLISH, SPUBLISH).
    Publish,
    /// argv[1..] are channels subscribed to (SUBSCRIBE, SSUBSCRIBE).
    Subscribe,
    /// argv[1..] are channel patterns subscribed to (PSUBSCRIBE): an ACL
    /// rule must name them literally.
    SubscribePatterns,
}

impl Channels {
    /// (argument index, is a pattern) of each channel in `argv`.
    pub fn positions(self, argc: usize) -> (std::ops::Range<usize>, bool) {
        match self {
            Channels::None => (0..0, false),
            Channels::Publish => (1..2.min(argc), false),
            Channels::Subscribe => (1..argc, false),
            Channels::SubscribePatterns => (1..argc, true),
        }
    }
}

impl CommandSpec {
    pub const fn new(name: &'static str, arity: i32, group: Group, handler: Handler) -> Self {
        CommandSpec {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            key_step: 0,
            key_finder: None,
            group,
            acl: &[],
            since: "1.0.0",
            summary: "",
            complexity: "",
            syntax: "",
            handler,
            subcommands: &[],
            module: None,
            channels: Channels::None,
        }
    }
    pub const fn channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }
    pub const fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }
    /// Keys at positions first..=last (negative last counts from the end) every `step`.
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.key_step = step;
        self
    }
    pub const fn key_finder(mut self, f: KeyFinder) -> Self {
        self.key_finder = Some(f);
        self
    }
    pub const fn acl(mut self, acl: &'static [&'static str]) -> Self {
        self.acl = acl;
        self
    }
    pub const fn doc(
        mut self,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Self {
        self.since = since;
        self.summary = summary;
        self.complexity = complexity;
        self
    }
    pub const fn syntax(mut self, syntax: &'static str) -> Self {
        self.syntax = syntax;
        self
    }
    pub const fn subcommands(mut self, subs: &'static [CommandSpec]) -> Self {
        self.subcommands = subs;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Argument indexes of the keys in `argv`.
    pub fn key_indexes(&self, argv: &[&[u8]]) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_key_index(argv, |i| out.push(i));
        out
    }

    /// Calls `f` with each key's argument index, without allocating for the
    /// common first/last/step case (this runs for every command).
    #[inline]
    pub fn for_each_key_index(&self, argv: &[&[u8]], mut f: impl FnMut(usize)) {
        if let Some(finder) = self.key_finder {
            finder(argv).into_iter().for_each(f);
            return;
        }
        if self.first_key <= 0 {
            return;
        }
        let argc = argv.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key
        };
        let step = self.key_step.max(1);
        let mut i = self.first_key;
        while i <= last && i < argc {
            f(i as usize);
            i += step;
        }
    }

    /// The ACL categories as a bit set over [`ACL_ORDER`].
    pub fn acl_mask(&self) -> u32 {
        self.acl_categories()
            .iter()
            .filter_map(|c| ACL_ORDER.iter().position(|o| o == c))
            .fold(0, |m, i| m | 1 << i)
    }

    /// ACL categories: the explicit ones plus those Redis implies from flags and group.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut cats: Vec<&'static str> = self.acl.to_vec();
        if self.has(flags::WRITE) {
            cats.push("write");
        }
        if self.has(flags::READONLY) && self.group != Group::Scripting {
            cats.push("read");
        }
        if self.has(flags::ADMIN) {
            cats.push("admin");
            cats.push("dangerous");
        }
        if self.has(flags::PUBSUB) {
            cats.push("pubsub");
        }
        if self.has(flags::FAST) {
            cats.push("fast");
        }
        if self.has(flags::BLOCKING) {
            cats.push("blocking");
        }
        if !self.has(flags::FAST) {
            cats.push("slow");
        }
        // Containers (CONFIG, CLIENT ...) carry only @slow; their subcommands
        // carry the real categories.
        if let (Some(c), true) = (self.group.acl_category(), self.subcommands.is_empty()) {
            cats.push(c);
        }
        cats.sort_by_key(|c| ACL_ORDER.iter().position(|o| o == c).unwrap_or(usize::MAX));
        cats.dedup();
        cats
    }

    /// Flag names as COMMAND shows them. Commands whose keys depend on their
    /// arguments (a key finder) also show `movablekeys`, in Redis's position.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = flags::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if self.key_finder.is_some() || self.has(flags::MOVABLEKEYS) {
            let at = names
                .iter()
                .position(|n| *n == "allow_busy")
                .unwrap_or(names.len());
            names.insert(at, "movablekeys");
        }
        names
    }
}

/// Per-command counters for INFO commandstats.
#[derive(Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Durations in nanoseconds, for `latency-tracking` (INFO latencystats,
    /// LATENCY HISTOGRAM).
    pub latency: crate::util::histogram::Histogram,
}

impl CommandStats {
    pub fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            c.store(0, Ordering::Relaxed);
        }
        self.latency.reset();
    }
}

/// A command as registered: its spec, its full name ("config|get") and counters.
pub struct Command {
    pub spec: CommandSpec,
    /// Index into the table's name list (CLIENT LIST's cmd= without a lock).
    pub id: u32,
    pub full_name: String,
    pub stats: CommandStats,
    pub subcommands: HashMap<Vec<u8>, Arc<Command>>,
    /// [`CommandSpec::acl_mask`], computed once for ACL rules; none for
    /// module commands (Redis 7.0 modules cannot declare categories, so
    /// only `+@all` or their names grant them).
    pub acl_mask: u32,
    /// A subcommand (its full name has a `|`).
    pub is_sub: bool,
}

impl Command {
    fn new(spec: CommandSpec, parent: Option<&str>, names: &mut Vec<String>) -> Arc<Command> {
        let full_name = match parent {
            Some(p) => format!("{p}|{}", spec.name),
            None => spec.name.to_string(),
        };
        let id = names.len() as u32;
        names.push(full_name.clone());
        let subcommands = spec
            .subcommands
            .iter()
            .map(|s| {
                (
                    s.name.as_bytes().to_vec(),
                    Command::new(*s, Some(spec.name), names),
                )
            })
            .collect();
        Arc::new(Command {
            spec,
            id,
            acl_mask: if spec.module.is_some() {
                0
            } else {
                spec.acl_mask()
            },
            is_sub: parent.is_some(),
            full_name,
            stats: CommandStats::default(),
            subcommands,
        })
    }

    /// Arity check as Redis does it.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.spec.arity;
        if a >= 0 {
            argc as i32 == a
        } else {
            argc as i32 >= -a
        }
    }
}

/// Name → command, with lookups that ignore case without allocating.
///
/// Built-in commands are fixed at start-up and looked up without a lock (the
/// hot path); commands registered by wasm modules live in `dynamic`, behind a
/// lock taken only for names that are not built in.
pub struct CommandTable {
    commands: HashMap<Vec<u8>, Arc<Command>>,
    /// Every command and subcommand, indexed by `Command::id`.
    by_id: Vec<Arc<Command>>,
    dynamic: parking_lot::RwLock<Dynamic>,
}

#[derive(Default)]
struct Dynamic {
    by_name: HashMap<Vec<u8>, Arc<Command>>,
    by_id: HashMap<u32, Arc<Command>>,
    next_id: u32,
}

/// A resolved command: borrowed from the built-in table, or shared with the
/// dynamic part (which may change while the command runs).
pub enum CmdRef<'t> {
    Builtin(&'t Arc<Command>),
    Dynamic(Arc<Command>),
}

impl std::ops::Deref for CmdRef<'_> {
    type Target = Arc<Command>;
    fn deref(&self) -> &Arc<Command> {
        match self {
            CmdRef::Builtin(c) => c,
            CmdRef::Dynamic(c) => c,
        }
    }
}

impl CommandTable {
    pub fn new(families: &[&'static [CommandSpec]]) -> Self {
        let mut commands = HashMap::new();
        let mut names = Vec::new();
        for family in families {
            for spec in *family {
                let cmd = Command::new(*spec, None, &mut names);
                let prev = commands.insert(spec.name.as_bytes().to_vec(), cmd);
                assert!(prev.is_none(), "command {} declared twice", spec.name);
            }
        }
        let mut by_id: Vec<Arc<Command>> = Vec::with_capacity(names.len());
        for c in commands.values() {
            by_id.push(c.clone());
            by_id.extend(c.subcommands.values().cloned());
        }
        by_id.sort_by_key(|c| c.id);
        let dynamic = parking_lot::RwLock::new(Dynamic {
            next_id: by_id.len() as u32,
            ..Dynamic::default()
        });
        CommandTable {
            commands,
            by_id,
            dynamic,
        }
    }

    /// `rename-command from to`, as Redis applies it while loading its
    /// config: the command answers to `to` only (everywhere a name is
    /// looked up: clients, MULTI, scripts, the AOF), or to nothing when `to`
    /// is empty. Its own name (COMMAND INFO, commandstats) is unchanged.
    pub fn rename(&mut self, from: &[u8], to: &[u8]) -> Result<(), String> {
        let from = from.to_ascii_lowercase();
        let to = to.to_ascii_lowercase();
        let Some(cmd) = self.commands.remove(&from) else {
            return Err("No such command in rename-command".into());
        };
        if to.is_empty() {
            return Ok(());
        }
        if self.commands.contains_key(&to) {
            self.commands.insert(from, cmd);
            return Err("Target command name already exists".into());
        }
        self.commands.insert(to, cmd);
        Ok(())
    }

    /// Full name of the command with this id.
    pub fn name_of(&self, id: u32) -> String {
        let mut name = String::from("NULL");
        self.with_id(id, |c| name.clone_from(&c.full_name));
        name
    }

    /// Calls `f` with the command (or subcommand) with this id, if any.
    #[inline]
    pub fn with_id(&self, id: u32, f: impl FnOnce(&Command)) {
        match self.by_id.get(id as usize) {
            Some(c) => f(c),
            None => {
                if let Some(c) = self.dynamic.read().by_id.get(&id) {
                    f(c)
                }
            }
        }
    }

    /// Adds a command registered at run time (a wasm module's); refused when
    /// the name is taken.
    pub fn register(&self, spec: CommandSpec) -> Result<Arc<Command>, String> {
        let name = spec.name.to_ascii_lowercase();
        let mut dynamic = self.dynamic.write();
        if self.commands.contains_key(name.as_bytes())
            || dynamic.by_name.contains_key(name.as_bytes())
        {
            return Err(format!("ERR command '{name}' already exists"));
        }
        let mut names = Vec::new();
        let mut cmd = Command::new(spec, None, &mut names);
        if let Some(c) = Arc::get_mut(&mut cmd) {
            c.id = dynamic.next_id;
        }
        dynamic.next_id += 1;
        dynamic.by_id.insert(cmd.id, cmd.clone());
        dynamic.by_name.insert(name.into_bytes(), cmd.clone());
        Ok(cmd)
    }

    /// Removes a run-time command (MODULE UNLOAD).
    pub fn unregister(&self, name: &str) {
        let mut dynamic = self.dynamic.write();
        if let Some(c) = dynamic.by_name.remove(name.to_ascii_lowercase().as_bytes()) {
            dynamic.by_id.remove(&c.id);
        }
    }

    /// Finds a command by name, built-in or registered at run time.
    pub fn resolve_name(&self, name: &[u8]) -> Option<CmdRef<'_>> {
        if let Some(c) = self.get(name) {
            return Some(CmdRef::Builtin(c));
        }
        let mut buf = [0u8; 64];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.dynamic
            .read()
            .by_name
            .get(&*lower)
            .cloned()
            .map(CmdRef::Dynamic)
    }

    /// Finds a built-in command by name, case-insensitively.
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Command>> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.commands.get(&*lower)
    }

    pub fn len(&self) -> usize {
        self.commands.len() + self.dynamic.read().by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Every command, sorted by name (stable output for COMMAND and docs).
    pub fn all(&self) -> Vec<Arc<Command>> {
        let mut v: Vec<_> = self.commands.values().cloned().collect();
        v.extend(self.dynamic.read().by_name.values().cloned());
        v.sort_by(|a, b| a.spec.name.cmp(b.spec.name));
        v
    }

    /// The built-in commands only, sorted by name (the README's list).
    pub fn builtin(&self) -> Vec<&Arc<Command>> {
        let mut v: Vec<_> = self.commands.values().collect();
        v.sort_by(|a, b| a.spec.name.cmp(b.spec.name));
        v
    }
}

impl CommandTable {
    /// The README's list of implemented commands, generated from this table so
    /// it cannot drift from what the server answers (tests/readme.rs checks it).
    pub fn markdown(&self) -> String {
        let mut groups: Vec<Group> = Vec::new();
        for c in self.builtin() {
            if !groups.contains(&c.spec.group) {
                groups.push(c.spec.group);
            }
        }
        groups.sort_by_key(|g| g.name());
        let mut out = String::new();
        for g in groups {
            out.push_str(&format!(
                "\n**{}**\n\n| Command | Syntax | Summary |\n|---|---|---|\n",
                g.name()
            ));
            for c in self.builtin().into_iter().filter(|c| c.spec.group == g) {
                let mut rows = vec![(c.spec.name.to_ascii_uppercase(), c.spec)];
                let mut subs: Vec<_> = c.subcommands.values().collect();
                subs.sort_by(|a, b| a.spec.name.cmp(b.spec.name));
                for s in subs {
                    rows.push((
                        format!(
                            "{} {}",
                            c.spec.name.to_ascii_uppercase(),
                            s.spec.name.to_ascii_uppercase()
                        ),
                        s.spec,
                    ));
                }
                for (name, spec) in rows {
                    let syntax = spec.syntax.replace('|', "\\|");
                    out.push_str(&format!("| {name} | `{syntax}` | {} |\n", spec.summary));
                }
            }
        }
        out.replace("``", "")
    }
}
