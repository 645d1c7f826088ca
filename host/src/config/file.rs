//! The config file and the command line: redis-server's argv convention,
//! stdin, `include` (with globs), `loadmodule`, and the fatal error text that
//! names the offending line.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::*;
use crate::util::glob::glob_match;

/// `--help` text, shaped like redis-server's.
pub const USAGE: &str = "Usage: ./ember-server [/path/to/redis.conf] [options] [-]
       ./ember-server - (read config from stdin)
       ./ember-server -v or --version
       ./ember-server -h or --help

Examples:
       ./ember-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./ember-server -
       ./ember-server /etc/redis/6379.conf
       ./ember-server --port 7777
       ./ember-server /etc/myredis.conf --loglevel verbose -
       ./ember-server /etc/myredis.conf --loglevel verbose
";

/// Include nesting limit. Redis has none and overflows its stack on a config
/// that includes itself; we report a config error instead.
pub(super) const MAX_INCLUDE_DEPTH: usize = 32;

impl Config {
    // -----------------------------------------------------------------------
    // Command line and files
    // -----------------------------------------------------------------------

    /// `-v`/`--version` or `-h`/`--help` as the first argument (the only place
    /// redis-server looks). `main` checks this before [`Config::from_args`];
    /// `args` excludes the program name, as in `from_args`.
    pub fn cli_action(args: &[String]) -> Option<CliAction> {
        match args.first().map(String::as_str) {
            Some("-v" | "--version") => Some(CliAction::Version),
            Some("-h" | "--help") => Some(CliAction::Help),
            _ => None,
        }
    }

    /// Builds the configuration from redis-server style arguments, *without*
    /// the program name (`std::env::args().skip(1)`): an optional config file
    /// first (any first argument not starting with `-`), then
    /// `--directive value...` options, which override the file; `-` as the
    /// first or last argument reads config text from stdin (after the file).
    ///
    /// Like Redis, the options are turned into config lines appended to the
    /// file's text after a newline, so error line numbers count the same way.
    /// The error is the complete text to print on stderr before exiting 1.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        Self::from_args_with_stdin(args, &mut || {
            let mut buf = Vec::new();
            io::stdin().read_to_end(&mut buf).map(|_| buf)
        })
    }

    pub(super) fn from_args_with_stdin(
        args: &[String],
        read_stdin: &mut dyn FnMut() -> io::Result<Vec<u8>>,
    ) -> Result<Config, String> {
        let mut cfg = Config::default();
        if args.is_empty() {
            return Ok(cfg);
        }
        let mut text = Vec::new();
        let mut first_option = 0;
        if !args[0].starts_with('-') {
            let path = absolute_path(&args[0]);
            cfg.config_file = path.clone();
            text = read_config_files(&path, Path::new(""))?;
            first_option = 1;
        }
        let (options, from_stdin) =
            options_to_config_text(&args[first_option..], first_option == 0);
        if from_stdin {
            match read_stdin() {
                Ok(bytes) => text.extend_from_slice(&bytes),
                Err(e) => return Err(format!("Can't read config from stdin: {}", strerror(&e))),
            }
        }
        text.push(b'\n');
        text.extend_from_slice(&options);
        cfg.load_text(&text, 0)?;
        cfg.check_logfile()?;
        Ok(cfg)
    }

    /// Parses redis.conf text on top of the defaults.
    pub fn parse_str(text: &str) -> Result<Config, String> {
        let mut cfg = Config::default();
        cfg.apply_str(text)?;
        Ok(cfg)
    }

    /// Applies redis.conf text on top of `self`; all-or-nothing. `include`
    /// paths are relative to the process's cwd (or to `dir` once set).
    pub fn apply_str(&mut self, text: &str) -> Result<(), String> {
        self.apply_bytes(text.as_bytes())
    }

    /// [`Config::apply_str`] for text that need not be UTF-8 (raw bytes and
    /// `"\xff"`-style escapes are legal in some values, e.g. module arguments).
    pub fn apply_bytes(&mut self, text: &[u8]) -> Result<(), String> {
        let mut next = self.clone();
        next.load_text(text, 0)?;
        *self = next;
        Ok(())
    }

    /// Redis's loadServerConfigFromString: one directive per line.
    pub(super) fn load_text(&mut self, text: &[u8], depth: usize) -> Result<(), String> {
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let linenum = i + 1;
            let mut line = trim(raw, b" \t\r\n");
            // Redis parses lines as C strings: a NUL ends the line.
            if let Some(nul) = line.iter().position(|&b| b == 0) {
                line = &line[..nul];
            }
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fatal = |err: &str| fatal_error(Some((linenum, line)), err);
            let argv =
                split_args(line).ok_or_else(|| fatal("Unbalanced quotes in configuration line"))?;
            let Some(name) = argv.first() else { continue };
            let name = name.to_ascii_lowercase();

            if let Some((idx, _)) = lookup(&name) {
                let spec = &SPECS[idx];
                let multi = spec.flags & MULTI_ARG != 0;
                if !multi && argv.len() != 2 {
                    return Err(fatal("wrong number of arguments"));
                }
                // `bind "a b"` / `--save "3600 1 60 10"`: a single argument of a
                // multi-argument directive is split again (unless empty, so
                // `save ""` still means "no save points").
                let resplit;
                let args: Vec<&[u8]> = if multi && argv.len() == 2 && !argv[1].is_empty() {
                    resplit = split_args(&argv[1]).unwrap_or_default();
                    resplit.iter().map(Vec::as_slice).collect()
                } else {
                    argv[1..].iter().map(Vec::as_slice).collect()
                };
                self.set_spec(idx, &args, true).map_err(|e| fatal(&e))?;
                continue;
            }
            if argv.len() == 2 && DEPRECATED.iter().any(|d| d.as_bytes() == name.as_slice()) {
                continue;
            }
            match (name.as_slice(), argv.len()) {
                (b"include", 2) => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(fatal(&format!(
                            "include nesting too deep (more than {MAX_INCLUDE_DEPTH} levels)"
                        )));
                    }
                    let path = utf8(&argv[1]).map_err(|e| fatal(&e))?;
                    let content = read_config_files(&path, Path::new(&self.dir))?;
                    self.load_text(&content, depth + 1)?;
                }
                (b"loadmodule", n) if n >= 2 => {
                    let path = utf8(&argv[1]).map_err(|e| fatal(&e))?;
                    self.loadmodule.push(LoadModule {
                        path,
                        args: argv[2..].to_vec(),
                    });
                }
                // Checked against the command table when the server starts
                // (the config layer does not know the commands).
                (b"rename-command", 3) => {
                    self.rename_command
                        .push((argv[1].to_vec(), argv[2].to_vec()));
                }
                // Checked against the command table once it exists (acl/).
                (b"user", n) if n >= 2 => self.users.push(argv[1..].to_vec()),
                (b"sentinel", n) if n >= 2 => {
                    return Err(fatal("sentinel directive while not in sentinel mode"))
                }
                _ => return Err(fatal("Bad directive or wrong number of arguments")),
            }
        }
        Ok(())
    }

    /// Redis checks at the end of loading that the log file can be opened
    /// for appending, so a typo fails at startup rather than silently.
    pub(super) fn check_logfile(&self) -> Result<(), String> {
        if self.logfile.is_empty() {
            return Ok(());
        }
        let path = Path::new(&self.dir).join(&self.logfile);
        fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.flush())
            .map_err(|e| fatal_error(None, &format!("Can't open the log file: {}", strerror(&e))))
    }
}

/// Turns `--name value...` arguments into config lines exactly as
/// redis-server's main() does (so line numbers in errors match), and reports
/// whether `-` asked for stdin. `first_is_argv1` says whether `args[0]` is the
/// very first command-line argument (`-` counts there or as the last one).
pub(super) fn options_to_config_text(args: &[String], first_is_argv1: bool) -> (Vec<u8>, bool) {
    let mut options = Vec::new();
    let mut from_stdin = false;
    // False right after a lone `--name`: the next argument is its value even
    // if it starts with `--` (`--requirepass --secret`).
    let mut handled_last = true;
    let n = args.len();
    for (j, arg) in args.iter().enumerate() {
        let next_is_option = args.get(j + 1).is_some_and(|a| a.starts_with("--"));
        if arg == "-" && ((j == 0 && first_is_argv1) || j + 1 == n) {
            from_stdin = true;
        } else if handled_last && arg.starts_with("--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg.as_bytes()[2..]);
            options.push(b' ');
            let words = split_args(arg.as_bytes()).map_or(0, |w| w.len());
            if words == 1 {
                handled_last = false;
                // `--save` with no value (followed by another option or at the
                // end) means `save ""`, for pre-7.0 compatibility.
                if arg.eq_ignore_ascii_case("--save") && (j + 1 == n || next_is_option) {
                    options.extend_from_slice(b"\"\"");
                    handled_last = true;
                }
            } else {
                // `"--port 6380"` as one argument carries its own value.
                handled_last = true;
            }
        } else {
            repr(arg.as_bytes(), &mut options);
            options.push(b' ');
            handled_last = true;
        }
    }
    (options, from_stdin)
}

/// The text redis-server prints before exiting on a bad config.
pub(super) fn fatal_error(at: Option<(usize, &[u8])>, err: &str) -> String {
    let mut s = format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_COMPAT_VERSION}) ***\n");
    if let Some((linenum, line)) = at {
        s.push_str(&format!(
            "Reading the configuration file, at line {linenum}\n>>> '{}'\n",
            lossy(line)
        ));
    }
    s.push_str(err);
    s
}

/// io::Error as C's strerror text ("No such file or directory"), without
/// Rust's " (os error N)" suffix.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => s[..i].to_string(),
        _ => s,
    }
}

pub(super) fn absolute_path(p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => p.to_string(),
    }
}

pub(super) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Reads a config file, or every file a wildcard pattern matches (sorted,
/// concatenated; no match is not an error, so an empty conf.d is fine), as
/// Redis's loadServerConfig does. Relative paths resolve against `base`.
pub(super) fn read_config_files(path: &str, base: &Path) -> Result<Vec<u8>, String> {
    let cant_open = |shown: &str, e: &io::Error| {
        format!(
            "Fatal error, can't open config file '{shown}': {}",
            strerror(e)
        )
    };
    if !has_wildcard(path) {
        return read_one_config(&base.join(path)).map_err(|e| cant_open(path, &e));
    }
    let mut text = Vec::new();
    for file in glob_paths(path, base) {
        let content = read_one_config(&file).map_err(|e| cant_open(&file.to_string_lossy(), &e))?;
        text.extend_from_slice(&content);
    }
    Ok(text)
}

/// A directory opens fine in C and reads as nothing; match that.
pub(super) fn read_one_config(path: &Path) -> io::Result<Vec<u8>> {
    if fs::metadata(path)?.is_dir() {
        return Ok(Vec::new());
    }
    fs::read(path)
}

/// A small glob(3): wildcards may appear in any path component, hidden names
/// need a pattern starting with '.', results are sorted. Component patterns
/// use Redis's matcher, with POSIX's `[!...]` negation translated.
pub(super) fn glob_paths(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let mut current: Vec<PathBuf> = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    }];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        if !has_wildcard(comp) {
            next = current.iter().map(|p| p.join(comp)).collect();
        } else {
            let pat = comp.replace("[!", "[^");
            for dir in &current {
                let listing = if dir.as_os_str().is_empty() {
                    fs::read_dir(".")
                } else {
                    fs::read_dir(dir)
                };
                let Ok(entries) = listing else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || comp.starts_with('.'))
                    .filter(|n| glob_match(pat.as_bytes(), n.as_bytes(), false))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|n| dir.join(n)));
            }
        }
        current = next;
    }
    current.retain(|p| p.exists());
    current.sort();
    current
}
