//! RESP as guests send it: commands for `call` and `register` (an array of
//! bulk strings, borrowed from guest memory without copying) and the value a
//! guest replies with (any RESP2/RESP3 type), parsed strictly: guests are
//! untrusted, so every length is checked against the bytes present and
//! nesting is bounded. Nothing here recurses: a reply nested as deep as
//! Redis's Lua allows (about 8000 levels) is read with an explicit stack.

use smallvec::SmallVec;

/// How deep a guest's reply may nest: beyond what Redis's Lua can build
/// (its Lua stack stops a reply about 8000 levels down), and a bound for
/// hostile guests. The readers are iterative, so depth costs no host stack.
pub const MAX_DEPTH: usize = 10_000;

/// Parses a whole buffer holding exactly one array of bulk strings.
pub fn parse_command(buf: &[u8]) -> Option<SmallVec<[&[u8]; 8]>> {
    let mut p = Parser { buf, pos: 0 };
    if p.byte()? != b'*' {
        return None;
    }
    let n = p.int()?;
    if n < 1 {
        return None;
    }
    let mut argv = SmallVec::new();
    for _ in 0..n {
        if p.byte()? != b'$' {
            return None;
        }
        argv.push(p.bulk_body()?);
    }
    (p.pos == buf.len()).then_some(argv)
}

/// One piece of a guest's reply, in order: an aggregate gives its length,
/// and its elements follow it (a map's as key, value, key, value ...).
#[derive(Debug, PartialEq)]
pub enum Token<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(&'a [u8]),
    /// `$-1` and RESP3 `_`.
    Null,
    /// `*-1`.
    NullArray,
    Array(usize),
    Set(usize),
    /// The number of pairs.
    Map(usize),
    Double(f64),
    Bool(bool),
    BigNumber(&'a [u8]),
    Verbatim(&'a [u8]),
}

impl Token<'_> {
    /// How many values follow as this one's elements.
    fn elements(&self) -> usize {
        match self {
            Token::Array(n) | Token::Set(n) => *n,
            Token::Map(n) => 2 * n,
            _ => 0,
        }
    }
}

/// Splits a whole buffer holding exactly one value into its tokens; None
/// when it is malformed, is followed by anything, or nests deeper than
/// [`MAX_DEPTH`].
pub fn tokens(buf: &[u8]) -> Option<Vec<Token<'_>>> {
    let mut p = Parser { buf, pos: 0 };
    let mut out = Vec::new();
    // Values still to read at each open level.
    let mut left: Vec<usize> = vec![1];
    while let Some(top) = left.last_mut() {
        if *top == 0 {
            left.pop();
            continue;
        }
        *top -= 1;
        let t = p.token()?;
        let n = t.elements();
        out.push(t);
        if n > 0 {
            if left.len() > MAX_DEPTH {
                return None;
            }
            left.push(n);
        }
    }
    (p.pos == buf.len()).then_some(out)
}

/// True when `buf` holds exactly one value made only of RESP2's simple
/// strings, integers (in canonical form), bulk strings, nulls and arrays,
/// nested at most [`MAX_DEPTH`] deep: what [`tokens`] then a RESP2 writer
/// would give back byte for byte, so a host may copy it as it is. Errors
/// are not plain (a writer counts them).
pub fn is_plain_resp2(buf: &[u8]) -> bool {
    let mut p = Parser { buf, pos: 0 };
    let mut left: Vec<usize> = vec![1];
    while let Some(top) = left.last_mut() {
        if *top == 0 {
            left.pop();
            continue;
        }
        *top -= 1;
        match p.plain() {
            Some(0) => {}
            Some(n) if left.len() <= MAX_DEPTH => left.push(n),
            _ => return false,
        }
    }
    p.pos == buf.len()
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The bytes up to the next CRLF (which is consumed).
    fn line(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        self.pos += end + 2;
        Some(&rest[..end])
    }

    fn int(&mut self) -> Option<i64> {
        crate::util::num::parse_i64(self.line()?)
    }

    /// `<len>\r\n<bytes>\r\n` after a `$`; None for `$-1` too (callers that
    /// accept nulls check for it first).
    fn bulk_body(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.int()?).ok()?;
        let end = self.pos.checked_add(n)?;
        if self.buf.len() < end.checked_add(2)? || &self.buf[end..end + 2] != b"\r\n" {
            return None;
        }
        let s = &self.buf[self.pos..end];
        self.pos = end + 2;
        Some(s)
    }

    /// An aggregate's element count; each element needs at least 3 bytes, so
    /// a count the buffer cannot hold is refused before anything is reserved.
    fn count(&mut self) -> Option<Result<usize, ()>> {
        let n = self.int()?;
        if n == -1 {
            return Some(Err(()));
        }
        if n < 0 {
            return None;
        }
        let n = n as usize;
        if n > (self.buf.len() - self.pos) / 3 {
            return None;
        }
        Some(Ok(n))
    }

    /// One plain RESP2 value's header (see [`is_plain_resp2`]), skipped;
    /// Some(its number of elements).
    fn plain(&mut self) -> Option<usize> {
        match self.byte()? {
            b'+' => {
                self.line()?;
            }
            b':' => {
                let text = self.line()?;
                let n = crate::util::num::parse_i64(text)?;
                if itoa::Buffer::new().format(n).as_bytes() != text {
                    return None;
                }
            }
            b'$' => {
                if self.buf[self.pos..].starts_with(b"-1\r\n") {
                    self.pos += 4;
                } else {
                    self.bulk_body()?;
                }
            }
            b'*' => {
                if self.buf[self.pos..].starts_with(b"-1\r\n") {
                    self.pos += 4;
                    return Some(0);
                }
                let text = self.line()?;
                let n = crate::util::num::parse_i64(text)?;
                if n < 0 || itoa::Buffer::new().format(n).as_bytes() != text {
                    return None;
                }
                // Each element needs 3 bytes at least.
                return usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= (self.buf.len() - self.pos) / 3);
            }
            _ => return None,
        }
        Some(0)
    }

    /// One value, or an aggregate's header (its elements are the next tokens).
    fn token(&mut self) -> Option<Token<'a>> {
        Some(match self.byte()? {
            b'+' => Token::Simple(self.line()?),
            b'-' => Token::Error(self.line()?),
            b':' => Token::Int(self.int()?),
            b'$' => {
                if self.buf[self.pos..].starts_with(b"-1\r\n") {
                    self.pos += 4;
                    Token::Null
                } else {
                    Token::Bulk(self.bulk_body()?)
                }
            }
            b'=' => {
                // `<3-letter format>:<text>`, e.g. `txt:hi`.
                let body = self.bulk_body()?;
                if body.len() < 4 || body[3] != b':' {
                    return None;
                }
                Token::Verbatim(body)
            }
            b'_' => {
                if !self.line()?.is_empty() {
                    return None;
                }
                Token::Null
            }
            b'#' => match self.line()? {
                b"t" => Token::Bool(true),
                b"f" => Token::Bool(false),
                _ => return None,
            },
            b',' => {
                let text = std::str::from_utf8(self.line()?).ok()?;
                Token::Double(match text {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    t => t.parse().ok()?,
                })
            }
            b'(' => {
                let digits = self.line()?;
                let body = digits.strip_prefix(b"-").unwrap_or(digits);
                if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                Token::BigNumber(digits)
            }
            b'*' => match self.count()? {
                Err(()) => Token::NullArray,
                Ok(n) => Token::Array(n),
            },
            b'~' => Token::Set(self.count()?.ok()?),
            b'%' => Token::Map(self.count()?.ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_resp2_is_what_a_writer_gives_back() {
        for ok in [
            &b"+OK\r\n"[..],
            b":-12\r\n",
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*2\r\n:1\r\n*1\r\n$0\r\n\r\n",
            b"*0\r\n",
        ] {
            assert!(is_plain_resp2(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for no in [
            &b"-ERR x\r\n"[..],
            b"*1\r\n-ERR x\r\n",
            b":007\r\n",
            b":+5\r\n",
            b"*01\r\n:1\r\n",
            b"%1\r\n:1\r\n:2\r\n",
            b",1.5\r\n",
            b"_\r\n",
            b"*2\r\n:1\r\n",
            b":1\r\n:2\r\n",
            b"$5\r\nabc\r\n",
        ] {
            assert!(!is_plain_resp2(no), "{:?}", String::from_utf8_lossy(no));
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert!(!is_plain_resp2(deep.as_bytes()));
        // As deep as Redis's Lua goes: plain, and no recursion to overflow.
        let lua_deep = "*1\r\n".repeat(7995) + "*0\r\n";
        assert!(is_plain_resp2(lua_deep.as_bytes()));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let argv = parse_command(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap();
        assert_eq!(&argv[..], &[&b"GET"[..], b"k"]);
        assert!(parse_command(b"*2\r\n$3\r\nGET\r\n").is_none());
        assert!(parse_command(b"*1\r\n$3\r\nGET\r\nextra").is_none());
        assert!(parse_command(b"*1\r\n:3\r\n").is_none());
        assert!(parse_command(b"*0\r\n").is_none());
        assert!(parse_command(b"*1\r\n$99999999999\r\nx\r\n").is_none());
        assert!(parse_command(b"*1\r\n$-1\r\n").is_none());
    }

    #[test]
    fn values_of_every_type() {
        let v = tokens(b"*3\r\n:1\r\n$-1\r\n%1\r\n+a\r\n,1.5\r\n").unwrap();
        assert_eq!(
            v,
            vec![
                Token::Array(3),
                Token::Int(1),
                Token::Null,
                Token::Map(1),
                Token::Simple(b"a"),
                Token::Double(1.5)
            ]
        );
        assert_eq!(tokens(b"*-1\r\n"), Some(vec![Token::NullArray]));
        assert_eq!(tokens(b"#t\r\n"), Some(vec![Token::Bool(true)]));
        assert_eq!(tokens(b"(-12\r\n"), Some(vec![Token::BigNumber(b"-12")]));
        assert!(tokens(b"*2000000000\r\n").is_none());
        assert!(tokens(b"*-2\r\n").is_none());
        assert!(tokens(b"~-1\r\n").is_none());
        assert_eq!(
            tokens(b"=6\r\ntxt:hi\r\n"),
            Some(vec![Token::Verbatim(b"txt:hi")])
        );
        assert!(tokens(b"=2\r\nhi\r\n").is_none());
        assert!(tokens(b"(1x\r\n").is_none());
        assert!(tokens(b":1\r\n:2\r\n").is_none());
        assert!(tokens(b"*2\r\n:1\r\n").is_none());
        assert!(tokens(b"%1\r\n:1\r\n").is_none());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(tokens(&deep).is_none());
        assert!(!is_plain_resp2(&deep));
        // What Redis's Lua sends past its stack limit: arrays, then the error.
        let lua = "*1\r\n".repeat(7995) + "-ERR reached lua stack limit\r\n";
        let t = tokens(lua.as_bytes()).unwrap();
        assert_eq!(t.len(), 7996);
        assert_eq!(t[7995], Token::Error(b"ERR reached lua stack limit"));
    }
}
