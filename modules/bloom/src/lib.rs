//! Ember's bundled Bloom filter module, "bf": RedisBloom 2.x's `BF.*` commands.
//!
//! - `lib.rs` (this file): the commands — argument parsing, replies and error texts as
//!   RedisBloom 2.8 gives them — and [`ValueStore`], which puts a filter in a module value of
//!   type `MBbloom--` (RedisBloom's type name, so `TYPE` answers the same).
//! - [`filter`]: the scalable filter itself, its value layout and the dump format.
//! - [`hash`]: MurmurHash64A and friends, bit-compatible with RedisBloom.
//!
//! Differences from RedisBloom, all forced by the module ABI or deliberate:
//! - Replies are RESP2-shaped for every client: a guest does not know the client's protocol,
//!   and the host would turn RESP3 booleans into nil for RESP2 clients. So `BF.ADD`/`BF.EXISTS`
//!   answer integers (RedisBloom answers booleans to RESP3 clients), and `BF.INFO key field` a
//!   one-element array (a one-entry map for RESP3 in RedisBloom). `BF.INFO key` is a map,
//!   which RESP2 clients get as RedisBloom's flat array.
//! - `BF.SCANDUMP` chunks are at most 4 MiB (RedisBloom: 16 MiB) to stay well inside a
//!   guest's memory limit; a dump loads chunk by chunk either way, and Ember loads
//!   RedisBloom's dumps and the other way round.
//! - `BF.RESERVE` looks for its `EXPANSION`/`NONSCALING` options after the key, so a key
//!   named like an option works (RedisBloom also matches the key).
//! - Dumps of filters from before RedisBloom 2.0 (32-bit hashes) load and answer correctly.

pub mod filter;
pub mod hash;

use ember_guest_sdk::{value, Command, Error, Input, Reply, Result};

use filter::{Added, Chain, Fault, Filter, Opened, Spec, Store};

/// The filter type's id: its index in the module's `types`.
const TYPE_ID: u32 = 0;

// Name and version as RedisBloom 2.8.20 reports them in MODULE LIST (major * 10000 + minor *
// 100 + patch), so clients that check for the module find what they look for.
ember_guest_sdk::module! {
    name: "bf",
    version: 20820,
    types: ["MBbloom--"],
    commands: [
        Command::new("bf.reserve", bf_reserve)
            .arity(-4)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Creates a new Bloom Filter"),
        Command::new("bf.add", bf_add)
            .arity(3)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Adds an item to a Bloom Filter"),
        Command::new("bf.madd", bf_madd)
            .arity(-3)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Adds one or more items to a Bloom Filter. A filter will be created if it does not exist"),
        Command::new("bf.insert", bf_insert)
            .arity(-4)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Adds one or more items to a Bloom Filter. A filter will be created if it does not exist"),
        Command::new("bf.exists", bf_exists)
            .arity(3)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Checks whether an item exists in a Bloom Filter"),
        Command::new("bf.mexists", bf_mexists)
            .arity(-3)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Checks whether one or more items exist in a Bloom Filter"),
        Command::new("bf.info", bf_info)
            .arity(-2)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Returns information about a Bloom Filter"),
        Command::new("bf.card", bf_card)
            .arity(2)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Returns the cardinality of a Bloom filter"),
        Command::new("bf.scandump", bf_scandump)
            .arity(3)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Begins an incremental save of the bloom filter"),
        Command::new("bf.loadchunk", bf_loadchunk)
            .arity(4)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Restores a filter previously saved using SCANDUMP"),
        Command::new("bf.debug", bf_debug)
            .arity(2)
            .flags("readonly fast")
            .keys(1, 1, 1)
            .acl("bloom")
            .summary("Describes each sub-filter of a Bloom Filter"),
    ],
}

/// The filter of one key: a module value of type `MBbloom--`, behind the filter's
/// [`Store`] trait. Every method is one host call (the `_many` ones use ABI version 2's
/// vectored `value_readv`/`value_writev`): a host call costs far more than the bytes it
/// moves, and a write costs the host an undo-log entry, so the filter gathers the bytes a
/// command tests into one read and writes only the bytes it changed, in one write.
pub struct ValueStore<'k> {
    key: &'k [u8],
}

impl Store for ValueStore<'_> {
    type Error = Error;

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        value::read(self.key, TYPE_ID, offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        value::write(self.key, TYPE_ID, offset, data).map(drop)
    }

    fn read_many(&mut self, reads: &mut [(u64, &mut [u8])]) -> Result<u64> {
        Ok(value::read_many(self.key, TYPE_ID, reads)?.unwrap_or(0))
    }

    fn write_many(&mut self, writes: &[(u64, &[u8])]) -> Result<()> {
        value::write_many(self.key, TYPE_ID, writes).map(drop)
    }

    fn grow(&mut self, len: u64) -> Result<()> {
        // A zero byte written at the new end: the host zero-fills up to it. (Growing with
        // value::truncate would work too, but the host's undo log then copies the whole value,
        // as it must for a truncate that shrinks.)
        match len.checked_sub(1) {
            Some(last) => value::write(self.key, TYPE_ID, last, &[0]).map(drop),
            None => Ok(()),
        }
    }
}

/// RedisBloom's texts for a key that is missing, exists, or has another type.
const NOT_FOUND: &str = "ERR not found";
const ITEM_EXISTS: &str = "ERR item exists";
const CANNOT_CREATE: &str = "ERR Insufficient memory to create filter";
const FULL: &str = "ERR non scaling filter is full";
const INSERT_FAILED: &str = "ERR problem inserting into filter";

/// An error reply with exactly `text` (RedisBloom sends some without an `ERR` prefix, and
/// [`Error::new`] would add one).
fn raw_error(text: &str) -> Error {
    Error(text.to_string())
}

fn fault(f: Fault<Error>) -> Error {
    match f {
        Fault::Store(e) => e,
        Fault::Corrupt => raw_error("ERR the bloom filter stored at this key is damaged"),
    }
}

/// RedisBloom's arity error, naming the command as the client typed it.
fn arity(input: &Input) -> Error {
    let name = input.args.first().map(Vec::as_slice).unwrap_or(b"");
    Error::arity(&String::from_utf8_lossy(name))
}

/// Opens the filter at the command's key; `Ok(None)` when the key does not exist.
fn open<'s, 'k>(store: &'s mut ValueStore<'k>) -> Result<Option<Filter<'s, ValueStore<'k>>>> {
    Filter::open(store).map_err(fault)
}

fn parse_i64(arg: &[u8]) -> Option<i64> {
    ember_guest_sdk::resp::parse_i64(arg)
}

fn parse_f64(arg: &[u8]) -> Option<f64> {
    ember_guest_sdk::resp::parse_f64(arg)
}

/// `BF.RESERVE key error_rate capacity [EXPANSION expansion] [NONSCALING]`
fn bf_reserve(input: &Input) -> Result<Reply> {
    let args = &input.args;
    if !(4..=7).contains(&args.len()) {
        return Err(arity(input));
    }
    let error = match parse_f64(&args[2]) {
        None => return Err(raw_error("ERR bad error rate")),
        // The trailing space is RedisBloom's.
        Some(e) if e >= 1.0 || e <= 0.0 => {
            return Err(raw_error("ERR (0 < error rate range < 1) "))
        }
        Some(e) => e,
    };
    let capacity = match parse_i64(&args[3]) {
        None => return Err(raw_error("ERR bad capacity")),
        Some(c) if c <= 0 => return Err(raw_error("ERR (capacity should be larger than 0)")),
        Some(c) => c as u64,
    };
    let option_at =
        |name: &str| (2..args.len()).find(|&i| args[i].eq_ignore_ascii_case(name.as_bytes()));
    let nonscaling = option_at("NONSCALING").is_some();
    let mut expansion = filter::DEFAULT_EXPANSION;
    if let Some(at) = option_at("EXPANSION") {
        if at + 1 == args.len() {
            return Err(raw_error("ERR no expansion"));
        }
        if nonscaling {
            return Err(raw_error("Nonscaling filters cannot expand"));
        }
        match parse_i64(&args[at + 1]) {
            None => return Err(raw_error("ERR bad expansion")),
            Some(x) if x < 1 => {
                return Err(raw_error("ERR expansion should be greater or equal to 1"))
            }
            // RedisBloom keeps the expansion in an `unsigned`.
            Some(x) => expansion = x as u32,
        }
    }
    let key = input.key(0)?;
    let mut store = ValueStore { key };
    if open(&mut store)?.is_some() {
        return Err(raw_error(ITEM_EXISTS));
    }
    let spec = Spec {
        error,
        capacity,
        expansion,
        nonscaling,
    };
    let Some(mut f) = Filter::create(&mut store, &spec).map_err(fault)? else {
        return Err(raw_error(CANNOT_CREATE));
    };
    f.flush().map_err(fault)?;
    Ok(Reply::ok())
}

/// The reply to one item of `BF.ADD`/`BF.MADD`/`BF.INSERT`.
fn added_reply(a: Added) -> Reply {
    match a {
        Added::New => Reply::Int(1),
        Added::Exists => Reply::Int(0),
        Added::Full => Reply::Error(FULL.to_string()),
        Added::Failed => Reply::Error(INSERT_FAILED.to_string()),
    }
}

/// What `BF.ADD`, `BF.MADD` and `BF.INSERT` share: open or create the filter, add the items.
/// A non-scaling filter that fills up ends the list with its error, as in RedisBloom.
fn insert(input: &Input, items: &[Vec<u8>], spec: &Spec, create: bool) -> Result<Vec<Reply>> {
    let key = input.key(0)?;
    let mut store = ValueStore { key };
    let mut f = match Filter::open_or_missing(&mut store).map_err(fault)? {
        Opened::Filter(f) => f,
        Opened::Missing(store) if create => match Filter::create(store, spec).map_err(fault)? {
            Some(f) => f,
            None => return Err(raw_error(CANNOT_CREATE)),
        },
        Opened::Missing(_) => return Err(raw_error(NOT_FOUND)),
    };
    f.expect_items(items.len());
    let mut replies = Vec::with_capacity(items.len());
    for item in items {
        let a = f.add(item).map_err(fault)?;
        replies.push(added_reply(a));
        if a == Added::Full {
            break;
        }
    }
    f.flush().map_err(fault)?;
    Ok(replies)
}

/// `BF.ADD key item`
fn bf_add(input: &Input) -> Result<Reply> {
    if input.args.len() != 3 {
        return Err(arity(input));
    }
    let mut replies = insert(input, &input.args[2..], &Spec::default(), true)?;
    // An error here is a reply, not an abort: the filter may have been created.
    Ok(replies.pop().unwrap_or(Reply::Int(0)))
}

/// `BF.MADD key item [item ...]`
fn bf_madd(input: &Input) -> Result<Reply> {
    if input.args.len() < 3 {
        return Err(arity(input));
    }
    Ok(Reply::Array(insert(
        input,
        &input.args[2..],
        &Spec::default(),
        true,
    )?))
}

/// `BF.INSERT key [CAPACITY c] [ERROR e] [EXPANSION x] [NOCREATE] [NONSCALING] ITEMS item...`
///
/// Options are recognised the way RedisBloom does it: by their first letter (`e` followed by
/// `r` is ERROR, any other `e` word EXPANSION; an `n` word with `c` third is NOCREATE, any
/// other NONSCALING), and the first `i` word starts the items.
fn bf_insert(input: &Input) -> Result<Reply> {
    let args = &input.args;
    let argc = args.len();
    if argc < 4 {
        return Err(arity(input));
    }
    let mut spec = Spec::default();
    let mut capacity = filter::DEFAULT_CAPACITY as i64;
    let mut expansion = i64::from(filter::DEFAULT_EXPANSION);
    let mut create = true;
    let mut items_at = None;
    let mut pos = 2;
    while pos < argc && items_at.is_none() {
        let word = &args[pos];
        let at = |i: usize| word.get(i).map_or(0, u8::to_ascii_lowercase);
        match at(0) {
            b'i' => {
                pos += 1;
                items_at = Some(pos);
            }
            b'e' => {
                pos += 1;
                if pos == argc {
                    return Err(arity(input));
                }
                if at(1) == b'r' {
                    spec.error =
                        parse_f64(&args[pos]).ok_or_else(|| raw_error("Bad error rate"))?;
                } else {
                    expansion = parse_i64(&args[pos]).ok_or_else(|| raw_error("Bad expansion"))?;
                }
                pos += 1;
            }
            b'c' => {
                pos += 1;
                if pos == argc {
                    return Err(arity(input));
                }
                capacity = parse_i64(&args[pos]).ok_or_else(|| raw_error("Bad capacity"))?;
                pos += 1;
            }
            b'n' => {
                if at(2) == b'c' {
                    create = false;
                } else {
                    spec.nonscaling = true;
                }
                pos += 1;
            }
            _ => return Err(raw_error("Unknown argument received")),
        }
    }
    let items_at = match items_at {
        Some(i) if i < argc => i,
        _ => return Err(arity(input)),
    };
    if spec.error.is_nan()
        || spec.error <= 0.0
        || spec.error >= 1.0
        || capacity < 1
        || expansion < 1
    {
        return Err(raw_error("Bad argument received"));
    }
    spec.capacity = capacity as u64;
    // RedisBloom keeps the expansion in an `unsigned`.
    spec.expansion = expansion as u32;
    Ok(Reply::Array(insert(
        input,
        &args[items_at..],
        &spec,
        create,
    )?))
}

/// What `BF.EXISTS`/`BF.MEXISTS` share. A missing key, or one of another type, holds no
/// items: RedisBloom answers 0 there rather than an error.
fn check(input: &Input) -> Result<Vec<Reply>> {
    let key = input.key(0)?;
    let items = &input.args[2..];
    let mut store = ValueStore { key };
    let mut f = match open(&mut store) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(vec![Reply::Int(0); items.len()]),
        Err(e) if e == Error::wrong_type() => return Ok(vec![Reply::Int(0); items.len()]),
        Err(e) => return Err(e),
    };
    f.expect_items(items.len());
    items
        .iter()
        .map(|item| Ok(Reply::Int(i64::from(f.contains(item).map_err(fault)?))))
        .collect()
}

/// `BF.EXISTS key item`
fn bf_exists(input: &Input) -> Result<Reply> {
    if input.args.len() != 3 {
        return Err(arity(input));
    }
    let mut replies = check(input)?;
    Ok(replies.pop().unwrap_or(Reply::Int(0)))
}

/// `BF.MEXISTS key item [item ...]`
fn bf_mexists(input: &Input) -> Result<Reply> {
    if input.args.len() < 3 {
        return Err(arity(input));
    }
    Ok(Reply::Array(check(input)?))
}

/// Opens the filter for a command that needs one: "ERR not found" when the key is missing.
fn existing<'s, 'k>(store: &'s mut ValueStore<'k>) -> Result<Filter<'s, ValueStore<'k>>> {
    open(store)?.ok_or_else(|| raw_error(NOT_FOUND))
}

/// `BF.INFO key [CAPACITY | SIZE | FILTERS | ITEMS | EXPANSION]`
fn bf_info(input: &Input) -> Result<Reply> {
    let args = &input.args;
    if args.len() != 2 && args.len() != 3 {
        return Err(arity(input));
    }
    let mut store = ValueStore { key: input.key(0)? };
    let f = existing(&mut store)?;
    let c = f.chain();
    let expansion = if c.scaling() {
        Reply::Int(i64::from(c.growth))
    } else {
        Reply::Nil
    };
    let fields = [
        ("Capacity", Reply::Int(c.capacity() as i64)),
        ("Size", Reply::Int(c.memory_usage() as i64)),
        ("Number of filters", Reply::Int(c.links.len() as i64)),
        ("Number of items inserted", Reply::Int(c.size() as i64)),
        ("Expansion rate", expansion),
    ];
    if let Some(field) = args.get(2) {
        let index = ["capacity", "size", "filters", "items", "expansion"]
            .iter()
            .position(|name| field.eq_ignore_ascii_case(name.as_bytes()))
            .ok_or_else(|| raw_error("Invalid information value"))?;
        let (_, value) = fields.into_iter().nth(index).unwrap_or(("", Reply::Nil));
        return Ok(Reply::Array(vec![value]));
    }
    Ok(Reply::Map(
        fields
            .into_iter()
            .map(|(name, value)| (Reply::Status(name.to_string()), value))
            .collect(),
    ))
}

/// `BF.CARD key`: items added; 0 for a missing key.
fn bf_card(input: &Input) -> Result<Reply> {
    let mut store = ValueStore { key: input.key(0)? };
    let size = open(&mut store)?.map_or(0, |f| f.chain().size());
    Ok(Reply::Int(size as i64))
}

/// `BF.SCANDUMP key iterator`: iterator 0 gives the header and iterator 1, later calls the
/// bit arrays in chunks, and `[0, ""]` ends the dump.
fn bf_scandump(input: &Input) -> Result<Reply> {
    let mut store = ValueStore { key: input.key(0)? };
    let mut f = existing(&mut store)?;
    let iter =
        parse_i64(input.arg(2)?).ok_or_else(|| raw_error("Second argument must be numeric"))?;
    let (next, data) = if iter == 0 {
        (1, f.chain().dump_header())
    } else {
        f.dump_chunk(iter).map_err(fault)?
    };
    Ok(Reply::Array(vec![Reply::Int(next), Reply::Bulk(data)]))
}

/// `BF.LOADCHUNK key iterator data`: iterator 1 with a missing key creates the filter from a
/// dump header; later chunks fill in its bits.
fn bf_loadchunk(input: &Input) -> Result<Reply> {
    let iter =
        parse_i64(input.arg(2)?).ok_or_else(|| raw_error("ERR Second argument must be numeric"))?;
    let data = input.arg(3)?;
    let mut store = ValueStore { key: input.key(0)? };
    match Filter::open_or_missing(&mut store).map_err(fault)? {
        Opened::Missing(store) if iter == 1 => {
            let chain = Chain::from_dump_header(data).ok_or_else(|| raw_error(filter::BAD_DATA))?;
            Filter::create_from_dump(store, chain).map_err(fault)?;
        }
        Opened::Missing(_) => return Err(raw_error(NOT_FOUND)),
        Opened::Filter(mut f) => {
            f.load_chunk(iter, data)
                .map_err(fault)?
                .map_err(raw_error)?;
        }
    }
    Ok(Reply::ok())
}

/// `BF.DEBUG key`: the item count, then one line per sub-filter.
fn bf_debug(input: &Input) -> Result<Reply> {
    let mut store = ValueStore { key: input.key(0)? };
    let f = existing(&mut store)?;
    let c = f.chain();
    let width = if c.options & filter::OPT_FORCE64 != 0 {
        64
    } else {
        32
    };
    let mut lines = vec![Reply::Bulk(format!("size:{}", c.size()).into_bytes())];
    for l in &c.links {
        lines.push(Reply::Bulk(
            format!(
                "bytes:{} bits:{} hashes:{} hashwidth:{} capacity:{} size:{} ratio:{}",
                l.bytes,
                l.bits(),
                l.hashes,
                width,
                l.entries,
                l.size,
                format_g(l.error)
            )
            .into_bytes(),
        ));
    }
    Ok(Reply::Array(lines))
}

/// C's `%g`: six significant digits, exponent form below 1e-4 or from 1e6, no trailing zeros.
fn format_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    }
}

#[cfg(test)]
mod tests;
