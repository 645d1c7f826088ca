//! RESP as guests send it: commands for `call` and `register` (an array of
//! bulk strings, borrowed from guest memory without copying) and the value a
//! guest replies with (any RESP2/RESP3 type), parsed strictly: guests are
//! untrusted, so every length is checked against the bytes present and
//! nesting is bounded.

use smallvec::SmallVec;

/// How deep a guest's reply may nest (a hostile `*1\r\n*1\r\n...` must not
/// exhaust the host's stack).
pub const MAX_DEPTH: usize = 128;

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

/// One RESP value from a guest.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(&'a [u8]),
    /// `$-1`, `*-1` and RESP3 `_`.
    Null,
    NullArray,
    Array(Vec<Value<'a>>),
    Set(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
    Double(f64),
    Bool(bool),
    BigNumber(&'a [u8]),
    Verbatim(&'a [u8]),
}

/// Parses a whole buffer holding exactly one value.
pub fn parse_value(buf: &[u8]) -> Option<Value<'_>> {
    let mut p = Parser { buf, pos: 0 };
    let v = p.value(0)?;
    (p.pos == buf.len()).then_some(v)
}

/// True when `buf` holds exactly one value made only of RESP2's simple
/// strings, integers (in canonical form), bulk strings, nulls and arrays,
/// nested at most [`MAX_DEPTH`] deep: what [`parse_value`] then a RESP2
/// writer would give back byte for byte, so a host may copy it as it is.
/// Errors are not plain (a writer counts them).
pub fn is_plain_resp2(buf: &[u8]) -> bool {
    let mut p = Parser { buf, pos: 0 };
    p.plain(0).is_some() && p.pos == buf.len()
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

    /// One plain RESP2 value (see [`is_plain_resp2`]), skipped.
    fn plain(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
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
                    return Some(());
                }
                let text = self.line()?;
                let n = crate::util::num::parse_i64(text)?;
                if n < 0 || itoa::Buffer::new().format(n).as_bytes() != text {
                    return None;
                }
                for _ in 0..n {
                    self.plain(depth + 1)?;
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self.byte()? {
            b'+' => Value::Simple(self.line()?),
            b'-' => Value::Error(self.line()?),
            b':' => Value::Int(self.int()?),
            b'$' => {
                if self.buf[self.pos..].starts_with(b"-1\r\n") {
                    self.pos += 4;
                    Value::Null
                } else {
                    Value::Bulk(self.bulk_body()?)
                }
            }
            b'=' => {
                // `<3-letter format>:<text>`, e.g. `txt:hi`.
                let body = self.bulk_body()?;
                if body.len() < 4 || body[3] != b':' {
                    return None;
                }
                Value::Verbatim(body)
            }
            b'_' => {
                if !self.line()?.is_empty() {
                    return None;
                }
                Value::Null
            }
            b'#' => match self.line()? {
                b"t" => Value::Bool(true),
                b"f" => Value::Bool(false),
                _ => return None,
            },
            b',' => {
                let text = std::str::from_utf8(self.line()?).ok()?;
                Value::Double(match text {
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
                Value::BigNumber(digits)
            }
            kind @ (b'*' | b'~') => match self.count()? {
                Err(()) if kind == b'*' => Value::NullArray,
                Err(()) => return None,
                Ok(n) => {
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.value(depth + 1)?);
                    }
                    if kind == b'*' {
                        Value::Array(items)
                    } else {
                        Value::Set(items)
                    }
                }
            },
            b'%' => {
                let n = self.count()?.ok()?;
                let mut pairs = Vec::with_capacity(n / 2);
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    pairs.push((k, v));
                }
                Value::Map(pairs)
            }
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
        let v = parse_value(b"*3\r\n:1\r\n$-1\r\n%1\r\n+a\r\n,1.5\r\n").unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Int(1),
                Value::Null,
                Value::Map(vec![(Value::Simple(b"a"), Value::Double(1.5))])
            ])
        );
        assert_eq!(parse_value(b"*-1\r\n"), Some(Value::NullArray));
        assert_eq!(parse_value(b"#t\r\n"), Some(Value::Bool(true)));
        assert_eq!(parse_value(b"(-12\r\n"), Some(Value::BigNumber(b"-12")));
        assert!(parse_value(b"*2000000000\r\n").is_none());
        assert!(parse_value(b"*-2\r\n").is_none());
        assert_eq!(
            parse_value(b"=6\r\ntxt:hi\r\n"),
            Some(Value::Verbatim(b"txt:hi"))
        );
        assert!(parse_value(b"=2\r\nhi\r\n").is_none());
        assert!(parse_value(b"(1x\r\n").is_none());
        assert!(parse_value(b":1\r\n:2\r\n").is_none());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert!(parse_value(&deep).is_none());
    }
}
