//! Reply encoding, RESP2 or RESP3 per client, written straight into the
//! connection's output buffer: no reply objects, no allocation per reply.
//! Every reply of one read batch lands in the same buffer and goes out in one
//! write.

use crate::util::float::fmt_double;

#[derive(Default)]
pub struct Out {
    pub buf: Vec<u8>,
    pub resp3: bool,
    /// Prefixes of the errors written since the connection last drained them
    /// into INFO errorstats (see server/errorstats.rs).
    pub error_prefixes: Vec<String>,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out {
            buf: Vec::with_capacity(16 * 1024),
            resp3,
            error_prefixes: Vec::new(),
        }
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.push(prefix);
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply. `s` must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `s` is the full text after `-` ("ERR ...", "WRONGTYPE ...").
    /// Newlines would break the protocol, so like Redis they become spaces.
    pub fn error(&mut self, s: &str) {
        self.error_prefixes
            .push(super::errorstats::prefix(s).to_string());
        self.buf.push(b'-');
        self.buf.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding an integer's decimal text.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    #[inline]
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null array (`*-1` / `_`): EXEC aborted by WATCH, timeouts of blocking pops.
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs (RESP3 `%`, a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` members (RESP3 `~`, an array in RESP2).
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// A push frame (RESP3 `>`, an array in RESP2): pub/sub messages.
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A double (RESP3 `,`, a bulk string in RESP2), formatted like Redis.
    pub fn double(&mut self, v: f64) {
        // Whole numbers (most scores) print through itoa on the stack, as
        // fmt_double would print them, without its String.
        let mut ibuf = itoa::Buffer::new();
        let text;
        let s: &[u8] = if v != 0.0
            && v > -4503599627370495.0
            && v < 4503599627370496.0
            && v == (v as i64) as f64
        {
            ibuf.format(v as i64).as_bytes()
        } else {
            text = fmt_double(v);
            text.as_bytes()
        };
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// A boolean (RESP3 `#t`/`#f`, `:1`/`:0` in RESP2).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// Verbatim text (RESP3 `=` with a format, a bulk string in RESP2): INFO, CLIENT LIST.
    pub fn verbatim(&mut self, data: &[u8]) {
        self.verbatim_as(b"txt", data);
    }

    /// A big number (RESP3 `(`, a bulk string in RESP2). `digits` is the
    /// decimal text, optionally signed.
    pub fn bignum(&mut self, digits: &str) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// An attribute header of `n` pairs (RESP3 `|`), followed by the pairs and
    /// then the reply they describe. RESP2 has no attributes: there the pairs
    /// must not be written at all, so callers check `resp3` first.
    pub fn attribute(&mut self, n: usize) {
        debug_assert!(self.resp3, "attributes exist only in RESP3");
        self.header(b'|', n as i64);
    }

    /// Verbatim text with its three-letter format (`txt`, `mkd`): RESP3 `=`,
    /// a bulk string of the bare text in RESP2.
    pub fn verbatim_as(&mut self, format: &[u8; 3], data: &[u8]) {
        if self.resp3 {
            self.header(b'=', data.len() as i64 + 4);
            self.buf.extend_from_slice(format);
            self.buf.push(b':');
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }

    /// Appends already-encoded RESP (a nested reply built elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
