//! The multi-part AOF's manifest (`appendonly.aof.manifest`), in Redis 7.0's
//! syntax: one line per file, `file <name> seq <n> type <b|h|i>`, the base
//! first, then history files awaiting deletion, then the incremental files
//! in order. Names are quoted like Redis's sdscatrepr when they need it.

/// What a file of the AOF is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The base: a snapshot (RDB preamble or AOF commands).
    Base,
    /// A file of an older generation, deleted once the new manifest is safe.
    History,
    /// Commands appended after the base, in `seq` order.
    Incr,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::History => 'h',
            Kind::Incr => 'i',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Entry>,
    pub incrs: Vec<Entry>,
    pub history: Vec<Entry>,
    /// Highest sequence numbers used so far (the next file takes +1).
    pub base_seq: u64,
    pub incr_seq: u64,
}

/// The manifest's file name for `appendfilename`.
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

impl Manifest {
    /// Parses a manifest. Errors read like Redis's (the caller adds the path).
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for raw in text.split(|&b| b == b'\n') {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = trim(line);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let words = split_args(line).ok_or("Invalid AOF manifest file format")?;
            if words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for kv in words.chunks(2) {
                match kv[0].as_slice() {
                    b"file" => name = Some(String::from_utf8_lossy(&kv[1]).into_owned()),
                    b"seq" => {
                        seq = std::str::from_utf8(&kv[1])
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                    }
                    b"type" => {
                        kind = match kv[1].as_slice() {
                            b"b" => Some(Kind::Base),
                            b"h" => Some(Kind::History),
                            b"i" => Some(Kind::Incr),
                            _ => None,
                        }
                    }
                    // Redis ignores keys it does not know (forward compatibility).
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if name.contains('/') {
                return Err("File can't be a path, just a filename".into());
            }
            let e = Entry { name, seq, kind };
            match kind {
                Kind::Base => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base_seq = seq;
                    m.base = Some(e);
                }
                Kind::History => m.history.push(e),
                Kind::Incr => {
                    if seq <= m.incr_seq && !m.incrs.is_empty() {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incr_seq = seq;
                    m.incrs.push(e);
                }
            }
        }
        if m.base.is_none() && m.incrs.is_empty() && m.history.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text, as Redis writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let all = self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter());
        for e in all {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                quote(&e.name),
                e.seq,
                e.kind.letter()
            ));
        }
        out
    }

    /// Names of the base and incremental files, in load order.
    pub fn load_order(&self) -> impl Iterator<Item = &Entry> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// Starts a new incremental file, returning its name.
    pub fn new_incr(&mut self, prefix: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{prefix}.{}.incr.aof", self.incr_seq);
        self.incrs.push(Entry {
            name: name.clone(),
            seq: self.incr_seq,
            kind: Kind::Incr,
        });
        name
    }

    /// The name the next base file takes.
    pub fn next_base_name(&self, prefix: &str, rdb: bool) -> (String, u64) {
        let seq = self.base_seq + 1;
        let ext = if rdb { "rdb" } else { "aof" };
        (format!("{prefix}.{seq}.base.{ext}"), seq)
    }

    /// After a rewrite: `base` becomes the base, the incremental files up to
    /// and including `last_old_incr` (those the base covers) and the old base
    /// become history.
    pub fn install_base(&mut self, name: String, seq: u64, covered_incrs: usize) {
        if let Some(mut old) = self.base.take() {
            old.kind = Kind::History;
            self.history.push(old);
        }
        let n = covered_incrs.min(self.incrs.len());
        for mut e in self.incrs.drain(..n) {
            e.kind = Kind::History;
            self.history.push(e);
        }
        self.base_seq = seq;
        self.base = Some(Entry {
            name,
            seq,
            kind: Kind::Base,
        });
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

/// Quotes a name the way sdscatrepr does when it holds a space, a quote or
/// a non-printable byte; plain names stay plain (as Redis writes them).
fn quote(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Splits a line into words like sdssplitargs: blanks separate, double
/// quotes allow escapes, single quotes are literal. None if unbalanced.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut w = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = *line.get(i)?;
                            i += 1;
                            match e {
                                b'n' => w.push(b'\n'),
                                b'r' => w.push(b'\r'),
                                b't' => w.push(b'\t'),
                                b'a' => w.push(0x07),
                                b'b' => w.push(0x08),
                                b'x' => {
                                    let hex = std::str::from_utf8(line.get(i..i + 2)?).ok()?;
                                    w.push(u8::from_str_radix(hex, 16).ok()?);
                                    i += 2;
                                }
                                other => w.push(other),
                            }
                        }
                        c => w.push(c),
                    }
                }
                if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    return None;
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    i += 1;
                    if c == b'\'' {
                        break;
                    }
                    w.push(c);
                }
                if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    w.push(line[i]);
                    i += 1;
                }
            }
        }
        words.push(w);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_redis_manifest() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\n\
                     file appendonly.aof.1.incr.aof seq 1 type i\n\
                     file appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render().as_bytes(), text);
    }

    #[test]
    fn quoted_names_and_errors() {
        let m = Manifest::parse(b"file \"a b.aof\" seq 3 type i\n").unwrap();
        assert_eq!(m.incrs[0].name, "a b.aof");
        assert_eq!(m.render(), "file \"a b.aof\" seq 3 type i\n");
        assert!(Manifest::parse(b"file x seq 1\n").is_err());
        assert!(Manifest::parse(b"file \"x seq 1 type b\n").is_err());
        assert!(Manifest::parse(b"").is_err());
    }

    #[test]
    fn rewrite_moves_old_files_to_history() {
        let mut m = Manifest::default();
        m.new_incr("appendonly.aof");
        let (name, seq) = m.next_base_name("appendonly.aof", false);
        m.new_incr("appendonly.aof");
        m.install_base(name, seq, 1);
        assert_eq!(
            m.render(),
            "file appendonly.aof.1.base.aof seq 1 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }
}
