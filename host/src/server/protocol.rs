//! Request parsing: RESP multibulk arrays and inline commands, incrementally,
//! with Redis's limits and Redis's error texts.
//!
//! Multibulk arguments are not copied: the parser records byte ranges into the
//! connection's read buffer, and the command sees slices of it. The parser is
//! resumable, so a 100 MB value or a million-argument MSET arriving in small
//! reads is scanned once, not once per read.

/// Longest inline command or `*`/`$` header line Redis accepts (PROTO_INLINE_MAX_SIZE).
const INLINE_MAX: usize = 64 * 1024;
/// Longest multibulk count (Redis: INT_MAX).
const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// Limits that come from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub proto_max_bulk_len: u64,
    /// Redis refuses big requests before authentication (CVE-2021-32675).
    pub authenticated: bool,
}

/// One complete request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A multibulk command: argument ranges are in [`RequestParser::ranges`].
    Multibulk,
    /// An inline command (telnet style), unescaped into owned arguments.
    Inline(Vec<Vec<u8>>),
    /// Nothing to run (`*0`, `*-1`, an empty line).
    Empty,
}

#[derive(Default, Debug)]
pub struct RequestParser {
    /// Where parsing resumes, as an offset into the buffer.
    pos: usize,
    /// Arguments still expected of the multibulk being read, once its header is in.
    remaining: Option<usize>,
    /// Length of the bulk whose `$` header has been read but not its payload.
    bulk_len: Option<usize>,
    ranges: Vec<(usize, usize)>,
    /// Where the request being read began, so `consumed` never cuts one in half.
    request_start: usize,
}

/// A protocol error: the text goes back as `-ERR <text>` and the connection closes.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

fn find_crlf(buf: &[u8]) -> Option<usize> {
    memchr(b'\r', buf)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Redis's string2ll for header numbers.
fn parse_len(s: &[u8]) -> Option<i64> {
    crate::util::num::parse_i64(s)
}

impl RequestParser {
    /// Byte ranges of the arguments of the last [`Request::Multibulk`].
    pub fn ranges(&self) -> &[(usize, usize)] {
        &self.ranges
    }

    /// Offset just past the last complete request.
    pub fn consumed(&self) -> usize {
        if self.remaining.is_none() && self.bulk_len.is_none() {
            self.pos
        } else {
            self.request_start
        }
    }

    /// How many bytes the next read should at least make room for: a large bulk
    /// (32 KiB and up, Redis's PROTO_MBULK_BIG_ARG) is read into one
    /// allocation of its declared size instead of growing the buffer by
    /// doubling, which cost a transient copy and up to twice the bulk in
    /// capacity. The allocation is virtual until the bytes arrive, so a
    /// declared-but-unsent size costs no resident memory.
    pub fn wanted(&self, buffered: usize) -> usize {
        match self.bulk_len {
            Some(len) if len >= 32 * 1024 => (self.pos + len + 2).saturating_sub(buffered),
            Some(len) => (self.pos + len + 2).saturating_sub(buffered).min(1 << 20),
            None => 0,
        }
    }

    /// Forgets the first `n` bytes of the buffer (the caller drained them).
    pub fn shift(&mut self, n: usize) {
        self.pos = self.pos.saturating_sub(n);
        if self.remaining.is_none() && self.bulk_len.is_none() {
            // No request in progress: the ranges belonged to one already run.
            self.ranges.clear();
            self.request_start = self.pos;
            return;
        }
        self.request_start = self.request_start.saturating_sub(n);
        for r in &mut self.ranges {
            r.0 = r.0.saturating_sub(n);
            r.1 = r.1.saturating_sub(n);
        }
    }

    /// Parses the next request starting at the current position. `Ok(None)`
    /// means more bytes are needed.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<Request>, ProtocolError> {
        if self.remaining.is_none() {
            if self.pos >= buf.len() {
                return Ok(None);
            }
            self.request_start = self.pos;
            if buf[self.pos] != b'*' {
                return self.parse_inline(buf);
            }
            let rest = &buf[self.pos..];
            let Some(cr) = find_crlf(rest) else {
                if rest.len() > INLINE_MAX {
                    return Err(ProtocolError(
                        "Protocol error: too big mbulk count string".into(),
                    ));
                }
                return Ok(None);
            };
            if cr + 2 > rest.len() {
                return Ok(None);
            }
            let count = match parse_len(&rest[1..cr]) {
                Some(n) if n <= MULTIBULK_MAX => n,
                _ => {
                    return Err(ProtocolError(
                        "Protocol error: invalid multibulk length".into(),
                    ))
                }
            };
            if !limits.authenticated && count > 10 {
                return Err(ProtocolError(
                    "Protocol error: unauthenticated multibulk length".into(),
                ));
            }
            self.pos += cr + 2;
            if count <= 0 {
                return Ok(Some(Request::Empty));
            }
            self.ranges.clear();
            // Reserve modestly: a hostile header must not make us allocate gigabytes.
            self.ranges.reserve((count as usize).min(1024));
            self.remaining = Some(count as usize);
        }
        while let Some(remaining) = self.remaining {
            if remaining == 0 {
                self.remaining = None;
                return Ok(Some(Request::Multibulk));
            }
            if self.bulk_len.is_none() {
                let rest = &buf[self.pos..];
                let Some(cr) = find_crlf(rest) else {
                    if rest.len() > INLINE_MAX {
                        return Err(ProtocolError(
                            "Protocol error: too big bulk count string".into(),
                        ));
                    }
                    return Ok(None);
                };
                if cr + 2 > rest.len() {
                    return Ok(None);
                }
                if rest[0] != b'$' {
                    return Err(ProtocolError(format!(
                        "Protocol error: expected '$', got '{}'",
                        rest[0] as char
                    )));
                }
                let len = match parse_len(&rest[1..cr]) {
                    Some(n) if n >= 0 && (n as u64) <= limits.proto_max_bulk_len => n,
                    _ => return Err(ProtocolError("Protocol error: invalid bulk length".into())),
                };
                if !limits.authenticated && len > 16384 {
                    return Err(ProtocolError(
                        "Protocol error: unauthenticated bulk length".into(),
                    ));
                }
                self.pos += cr + 2;
                self.bulk_len = Some(len as usize);
            }
            let len = self.bulk_len.unwrap_or(0);
            // Like Redis, the two bytes after the payload are skipped, not checked.
            if buf.len() - self.pos < len + 2 {
                return Ok(None);
            }
            self.ranges.push((self.pos, self.pos + len));
            self.pos += len + 2;
            self.bulk_len = None;
            self.remaining = Some(remaining - 1);
        }
        Ok(None)
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
        let rest = &buf[self.pos..];
        // Redis finds the end of an inline line with strchr, which stops at a
        // NUL byte: a line with a NUL before its newline never completes, and
        // the connection waits until the inline size limit is passed. Match it
        // (rather than parse a line Redis would not), so clients see the same.
        let nl = rest
            .iter()
            .position(|&b| b == b'\n' || b == 0)
            .filter(|&i| rest[i] == b'\n');
        let Some(nl) = nl else {
            if rest.len() > INLINE_MAX {
                return Err(ProtocolError(
                    "Protocol error: too big inline request".into(),
                ));
            }
            return Ok(None);
        };
        let mut line = &rest[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let args = split_args(line)
            .ok_or_else(|| ProtocolError("Protocol error: unbalanced quotes in request".into()))?;
        self.pos += nl + 1;
        if args.is_empty() {
            return Ok(Some(Request::Empty));
        }
        Ok(Some(Request::Inline(args)))
    }
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Splits a line like Redis's sdssplitargs: spaces separate arguments,
/// "double quotes" take \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' take
/// \'. A closing quote must be followed by a space or the end. None when the
/// quotes are unbalanced.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_c_space() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_c_space() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_c_space() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// C's isspace: Redis splits inline commands with it (\v and \f included).
trait CSpace {
    fn is_c_space(&self) -> bool;
}

impl CSpace for u8 {
    fn is_c_space(&self) -> bool {
        matches!(self, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        while let Some(req) = p.parse(input, &LIMITS)? {
            match req {
                Request::Multibulk => out.push(
                    p.ranges()
                        .iter()
                        .map(|&(a, b)| input[a..b].to_vec())
                        .collect(),
                ),
                Request::Inline(args) => out.push(args),
                Request::Empty => {}
            }
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\nset a \"b c\\x41\"\n*0\r\n")
                .unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a".to_vec(), b"b cA".to_vec()]
        );
    }

    #[test]
    fn resumes_across_reads() {
        let full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::new();
        for cut in 1..full.len() {
            assert_eq!(p.parse(&full[..cut], &LIMITS), Ok(None), "cut at {cut}");
        }
        assert_eq!(p.parse(full, &LIMITS), Ok(Some(Request::Multibulk)));
        assert_eq!(p.consumed(), full.len());
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n").unwrap_err().0,
            "Protocol error: expected '$', got '+'"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        let small = Limits {
            proto_max_bulk_len: 10,
            authenticated: true,
        };
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$11\r\n", &small).unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"set a \"b\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(&vec![b'a'; 70 * 1024]).unwrap_err().0,
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn inline_line_with_nul_never_completes() {
        // Like Redis's strchr: nothing after the NUL counts, so the command
        // waits for more input and is refused once past the inline limit.
        assert_eq!(
            parse_all(b"ECHO a\0b\r\nPING\r\n").unwrap(),
            Vec::<Vec<Vec<u8>>>::new()
        );
        let mut big = b"ECHO a\0\r\n".to_vec();
        big.extend(vec![b'x'; 70 * 1024]);
        assert_eq!(
            parse_all(&big).unwrap_err().0,
            "Protocol error: too big inline request"
        );
        // A NUL in a multibulk argument is ordinary binary data.
        assert_eq!(
            parse_all(b"*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\n").unwrap(),
            vec![vec![b"ECHO".to_vec(), b"a\0b".to_vec()]]
        );
    }
}
