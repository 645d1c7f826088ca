//! GEO commands (Redis's geo.c): GEOADD, GEODIST, GEOHASH, GEOPOS, and the
//! searches GEORADIUS, GEORADIUSBYMEMBER (with their read-only _RO forms),
//! GEOSEARCH and GEOSEARCHSTORE.
//!
//! A geo index is an ordinary sorted set whose scores are 52-bit geohashes
//! (util/geohash.rs owns the arithmetic). GEOADD is ZADD with the positions
//! turned into scores, as in Redis: same options, errors and `zadd` event.
//! A search reads the score ranges of the few cells that cover its shape,
//! keeps the members inside the shape, sorts them by distance with the same
//! sorts Redis uses (util/csort.rs, so ties come out in the same order), and
//! replies or stores. Arguments are checked in Redis's order so the same
//! error wins when several apply.

use super::table::{flags::*, CommandSpec, Group};
use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::store::zset::{Probe, ZSetValue};
use crate::store::{Locked, SmallBytes, Value};
use crate::util::csort::{glibc_qsort, partial_qsort};
use crate::util::float::{fmt_fixed, fmt_human};
use crate::util::geohash::{self, Extent, Shape};
use crate::util::num::parse_f64;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, Group::Geo, geoadd).flags(WRITE | DENYOOM).keys(1, 1, 1)
        .doc("3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", "O(log(N)) for each item added, where N is the number of elements in the sorted set.")
        .syntax("key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]"),
    CommandSpec::new("geodist", -4, Group::Geo, geodist).flags(READONLY).keys(1, 1, 1)
        .doc("3.2.0", "Returns the distance between two members of a geospatial index", "O(log(N))")
        .syntax("key member1 member2 [M | KM | FT | MI]"),
    CommandSpec::new("geohash", -2, Group::Geo, geohash_cmd).flags(READONLY).keys(1, 1, 1)
        .doc("3.2.0", "Returns members of a geospatial index as standard geohash strings", "O(log(N)) for each member requested, where N is the number of elements in the sorted set.")
        .syntax("key [member [member ...]]"),
    CommandSpec::new("geopos", -2, Group::Geo, geopos).flags(READONLY).keys(1, 1, 1)
        .doc("3.2.0", "Returns longitude and latitude of members of a geospatial index", "O(N) where N is the number of members requested.")
        .syntax("key [member [member ...]]"),
    CommandSpec::new("georadius", -6, Group::Geo, georadius).flags(WRITE | DENYOOM).keys(1, 1, 1).key_finder(georadius_keys)
        .doc("3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.")
        .syntax("key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]"),
    CommandSpec::new("georadius_ro", -6, Group::Geo, georadius_ro).flags(READONLY).keys(1, 1, 1)
        .doc("3.2.10", "A read-only variant for GEORADIUS", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.")
        .syntax("key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]"),
    CommandSpec::new("georadiusbymember", -5, Group::Geo, georadiusbymember).flags(WRITE | DENYOOM).keys(1, 1, 1).key_finder(georadiusbymember_keys)
        .doc("3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.")
        .syntax("key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]"),
    CommandSpec::new("georadiusbymember_ro", -5, Group::Geo, georadiusbymember_ro).flags(READONLY).keys(1, 1, 1)
        .doc("3.2.10", "A read-only variant for GEORADIUSBYMEMBER", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.")
        .syntax("key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]"),
    CommandSpec::new("geosearch", -7, Group::Geo, geosearch).flags(READONLY).keys(1, 1, 1)
        .doc("6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape")
        .syntax("key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]"),
    CommandSpec::new("geosearchstore", -8, Group::Geo, geosearchstore).flags(WRITE | DENYOOM).keys(1, 2, 1)
        .doc("6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape")
        .syntax("destination source <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [STOREDIST]"),
];

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

/// Redis compares option names with `strcasecmp` on C strings: an argument
/// counts up to its first NUL byte.
fn is(arg: &[u8], name: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(name.as_bytes())
}

/// A double argument, or the error Redis gives (its default text, or `msg`).
fn double_arg(arg: &[u8], msg: Option<&'static str>) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(match msg {
        Some(m) => CmdError::err(m),
        None => CmdError::NotFloat,
    })
}

/// A `longitude latitude` pair inside the encodable band.
fn lon_lat(args: &[&[u8]]) -> Result<(f64, f64), CmdError> {
    let lon = double_arg(args[0], None)?;
    let lat = double_arg(args[1], None)?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::owned(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// A unit's size in meters.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit`: the radius and the unit's size in meters.
fn radius_arg(args: &[&[u8]]) -> Result<(f64, f64), CmdError> {
    let r = double_arg(args[0], Some("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::err("ERR radius cannot be negative"));
    }
    Ok((r, unit(args[1])?))
}

/// `width height unit`: the box and the unit's size in meters.
fn box_arg(args: &[&[u8]]) -> Result<(f64, f64, f64), CmdError> {
    let w = double_arg(args[0], Some("ERR need numeric width"))?;
    let h = double_arg(args[1], Some("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::err("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(args[2])?))
}

/// The sorted set at `key` for reading: counts a keyspace hit or miss as
/// Redis's lookupKeyRead does; Ok(false) when missing.
fn check_read(ks: &mut Locked<'_>, db: usize, key: &[u8]) -> Result<bool, CmdError> {
    match ks.read(db, key) {
        None => Ok(false),
        Some(e) => match &e.value {
            Value::ZSet(_) => Ok(true),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The sorted set at `key`, once its type has been checked (no statistics).
fn zset<'k>(ks: &'k mut Locked<'_>, db: usize, key: &[u8]) -> Option<&'k ZSetValue> {
    match &ks.peek(db, key)?.value {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// The position of `member` of the set at `key`.
fn member_pos(ks: &mut Locked<'_>, db: usize, key: &[u8], member: &[u8]) -> Option<(f64, f64)> {
    zset(ks, db, key)?.score(member).map(geohash::decode_score)
}

/// A coordinate as Redis replies it: a bulk string in RESP2, a double in RESP3.
fn reply_coord(ctx: &mut Ctx, v: f64) {
    let s = fmt_human(v);
    if ctx.out.resp3 {
        ctx.out.raw(b",");
        ctx.out.raw(s.as_bytes());
        ctx.out.raw(b"\r\n");
    } else {
        ctx.out.bulk(s.as_bytes());
    }
}

/// A distance as Redis replies it: a bulk string with four decimals.
fn reply_distance(ctx: &mut Ctx, d: f64) {
    ctx.out.bulk(fmt_fixed(d, 4).as_bytes());
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member ...: checked and converted here,
/// then run as the ZADD it stands for (Redis rewrites the command the same way).
fn geoadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut zadd_args: Vec<Vec<u8>> = vec![b"zadd".to_vec(), argv[1].to_vec()];
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < argv.len() {
        let o = argv[first];
        let name = if is(o, "nx") {
            nx = true;
            "nx"
        } else if is(o, "xx") {
            xx = true;
            "xx"
        } else if is(o, "ch") {
            "ch"
        } else {
            break;
        };
        // ZADD sees the option's name (Redis's ZADD also stops at a NUL).
        zadd_args.push(name.as_bytes().to_vec());
        first += 1;
    }
    if !(argv.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    for triple in argv[first..].chunks_exact(3) {
        let (lon, lat) = lon_lat(triple)?;
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        zadd_args.push(score.to_string().into_bytes());
        zadd_args.push(triple[2].to_vec());
    }
    let refs: Vec<&[u8]> = zadd_args.iter().map(|a| a.as_slice()).collect();
    let dirty = ctx.ks.dirty;
    super::zsets::zadd(ctx, &refs)?;
    // Redis runs (and so propagates) GEOADD as that ZADD, with the options
    // as the client wrote them.
    if ctx.ks.dirty != dirty && ctx.propagating() {
        let mut out = refs;
        out[2..first].copy_from_slice(&argv[2..first]);
        ctx.propagate(&out);
    }
    Ok(())
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let to_meters = match argv.len() {
        5 => unit(argv[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let db = ctx.db();
    if !check_read(ctx.ks, db, argv[1])? {
        ctx.out.null();
        return Ok(());
    }
    let z = zset(ctx.ks, db, argv[1]);
    match (
        z.and_then(|z| z.score(argv[2])),
        z.and_then(|z| z.score(argv[3])),
    ) {
        (Some(s1), Some(s2)) => {
            let (lon1, lat1) = geohash::decode_score(s1);
            let (lon2, lat2) = geohash::decode_score(s2);
            let d = geohash::distance(lon1, lat1, lon2, lat2) / to_meters;
            reply_distance(ctx, d);
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

/// GEOHASH key [member ...]: standard 11-character geohashes.
fn geohash_cmd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    each_position(ctx, argv, |ctx, pos| match pos {
        Some((lon, lat)) => ctx.out.bulk(&geohash::geohash_text(lon, lat)),
        None => ctx.out.null(),
    })
}

/// GEOPOS key [member ...]: [lon, lat] pairs, a null array for a missing member.
fn geopos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    each_position(ctx, argv, |ctx, pos| match pos {
        Some((lon, lat)) => {
            ctx.out.array(2);
            reply_coord(ctx, lon);
            reply_coord(ctx, lat);
        }
        None => ctx.out.null_array(),
    })
}

/// Replies an array with one element per member of `key [member ...]`,
/// written by `reply` from the member's position (None when missing).
fn each_position(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    mut reply: impl FnMut(&mut Ctx, Option<(f64, f64)>),
) -> CmdResult {
    let db = ctx.db();
    check_read(ctx.ks, db, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        let pos = member_pos(ctx.ks, db, argv[1], m);
        reply(ctx, pos);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------------

/// Which search command is running (Redis's RADIUS_* / GEOSEARCH* flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS: the centre is `lon lat` at argv[2..4].
    Coords { store: bool },
    /// GEORADIUSBYMEMBER: the centre is the member at argv[2].
    Member { store: bool },
    /// GEOSEARCH, or GEOSEARCHSTORE (`store`: the destination is argv[1]).
    Area { store: bool },
}

fn georadius(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Coords { store: true })
}

fn georadius_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Coords { store: false })
}

fn georadiusbymember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Member { store: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Member { store: false })
}

fn geosearch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Area { store: false })
}

fn geosearchstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Kind::Area { store: true })
}

/// GEORADIUS keys: see [`radius_keys`].
fn georadius_keys(argv: &[&[u8]]) -> Vec<usize> {
    radius_keys(argv, 6)
}

/// GEORADIUSBYMEMBER keys: see [`radius_keys`].
fn georadiusbymember_keys(argv: &[&[u8]]) -> Vec<usize> {
    radius_keys(argv, 5)
}

/// The keys of a search that may STORE: the source; then, as Redis 7.0's
/// key specs find them (COMMAND GETKEYS shows these), the key after the
/// first STORE and after the first STOREDIST from the options' position on;
/// then, if not already there, the key the command really writes: that of
/// the last STORE or STOREDIST (Redis's georadiusGetKeys), so it is locked.
fn radius_keys(argv: &[&[u8]], options_from: usize) -> Vec<usize> {
    let mut keys = vec![1];
    let before_last = argv.len().saturating_sub(1);
    for keyword in ["store", "storedist"] {
        if let Some(i) = (options_from..before_last).find(|&i| is(argv[i], keyword)) {
            keys.push(i + 1);
        }
    }
    let mut written = None;
    let mut i = 5;
    while i < argv.len() {
        if (is(argv[i], "store") || is(argv[i], "storedist")) && i + 1 < argv.len() {
            written = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(w) = written.filter(|w| !keys.contains(w)) {
        keys.push(w);
    }
    keys
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// A member found by a search.
struct Found {
    lon: f64,
    lat: f64,
    /// Meters while searching; in the query's unit once sorted.
    dist: f64,
    score: f64,
    member: SmallBytes,
}

/// Redis's georadiusGeneric: every search command.
fn search(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let db = ctx.db();
    let src = match kind {
        Kind::Area { store: true } => argv[2],
        _ => argv[1],
    };
    let exists = check_read(ctx.ks, db, src)?;

    // The centre and extent given before the options.
    let mut center: Option<(f64, f64)> = None;
    let mut extent: Option<(Extent, f64)> = None;
    let mut storekey: Option<&[u8]> = None;
    let base = match kind {
        Kind::Coords { .. } => {
            center = Some(lon_lat(&argv[2..4])?);
            let (r, to_m) = radius_arg(&argv[4..6])?;
            extent = Some((Extent::Radius(r), to_m));
            6
        }
        Kind::Member { .. } => {
            if exists {
                center = Some(
                    member_pos(ctx.ks, db, src, argv[2])
                        .ok_or(CmdError::err("ERR could not decode requested zset member"))?,
                );
                let (r, to_m) = radius_arg(&argv[3..5])?;
                extent = Some((Extent::Radius(r), to_m));
            }
            // Without a source the rest is still parsed, to pick the reply.
            5
        }
        Kind::Area { store } => {
            if store {
                storekey = Some(argv[1]);
                3
            } else {
                2
            }
        }
    };
    let geosearch = matches!(kind, Kind::Area { .. });
    let may_store_key = matches!(
        kind,
        Kind::Coords { store: true } | Kind::Member { store: true }
    );

    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut order = Order::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut i = base;
    while i < argv.len() {
        let arg = argv[i];
        let left = argv.len() - i - 1;
        if is(arg, "withdist") {
            withdist = true;
        } else if is(arg, "withhash") {
            withhash = true;
        } else if is(arg, "withcoord") {
            withcoord = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            order = Order::Asc;
        } else if is(arg, "desc") {
            order = Order::Desc;
        } else if is(arg, "count") && left >= 1 {
            count = arg_i64(argv[i + 1])?;
            if count <= 0 {
                return Err(CmdError::err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && may_store_key {
            storekey = Some(argv[i + 1]);
            storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && kind == (Kind::Area { store: true }) {
            storedist = true;
        } else if is(arg, "frommember") && left >= 1 && geosearch && !fromloc {
            // Without a source the member is not looked up; the command
            // answers as for an empty set once the arguments are checked.
            if exists {
                center = Some(
                    member_pos(ctx.ks, db, src, argv[i + 1])
                        .ok_or(CmdError::err("ERR could not decode requested zset member"))?,
                );
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && geosearch && !frommember {
            center = Some(lon_lat(&argv[i + 1..i + 3])?);
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && left >= 2 && geosearch && !bybox {
            let (r, to_m) = radius_arg(&argv[i + 1..i + 3])?;
            extent = Some((Extent::Radius(r), to_m));
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && left >= 3 && geosearch && !byradius {
            let (width, height, to_m) = box_arg(&argv[i + 1..i + 4])?;
            extent = Some((Extent::Box { width, height }, to_m));
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdError::owned(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == (Kind::Area { store: true }) {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::owned(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            c_str(argv[0])
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::owned(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            c_str(argv[0])
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err(
            "ERR the ANY argument requires COUNT argument",
        ));
    }

    let (Some((lon, lat)), Some((extent, to_meters)), true) = (center, extent, exists) else {
        // No source: nothing found.
        return match storekey {
            Some(dst) => {
                super::zsets::store_result(ctx, dst, Vec::new(), "");
                Ok(())
            }
            None => {
                ctx.out.array(0);
                Ok(())
            }
        };
    };

    // COUNT without an order means the nearest ones (except with ANY).
    if count != 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    let shape = Shape {
        lon,
        lat,
        extent,
        to_meters,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found = match zset(ctx.ks, db, src) {
        Some(z) => collect(z, &shape, limit),
        None => Vec::new(),
    };
    if found.is_empty() && storekey.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    let total = found.len();
    let returned = if count == 0 || (total as u64) < count as u64 {
        total
    } else {
        count as usize
    };
    if order != Order::None {
        let asc = |a: &Found, b: &Found| -> i32 {
            if a.dist > b.dist {
                1
            } else if a.dist == b.dist {
                0
            } else {
                -1
            }
        };
        let desc = |a: &Found, b: &Found| -asc(a, b);
        match (order == Order::Asc, returned == total) {
            (true, true) => glibc_qsort(&mut found, asc),
            (false, true) => glibc_qsort(&mut found, desc),
            (true, false) => partial_qsort(&mut found, asc, 0, returned - 1),
            (false, false) => partial_qsort(&mut found, desc, 0, returned - 1),
        }
    }
    found.truncate(returned);
    for f in found.iter_mut() {
        f.dist /= to_meters;
    }

    if let Some(dst) = storekey {
        // The key finders lock every key a STORE can name.
        debug_assert!(ctx.ks.holds_key(db, dst));
        let mut items: Vec<(f64, SmallBytes)> = found
            .into_iter()
            .map(|f| (if storedist { f.dist } else { f.score }, f.member))
            .collect();
        items.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.1.as_slice().cmp(b.1.as_slice()))
        });
        let event = if geosearch {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        super::zsets::store_result(ctx, dst, items, event);
        return Ok(());
    }

    let options = withdist as usize + withhash as usize + withcoord as usize;
    ctx.out.array(found.len());
    for f in &found {
        if options > 0 {
            ctx.out.array(options + 1);
        }
        ctx.out.bulk(f.member.as_slice());
        if withdist {
            reply_distance(ctx, f.dist);
        }
        if withhash {
            ctx.out.int(c_double_to_i64(f.score));
        }
        if withcoord {
            ctx.out.array(2);
            reply_coord(ctx, f.lon);
            reply_coord(ctx, f.lat);
        }
    }
    Ok(())
}

/// `%s` of an argument: up to its first NUL.
fn c_str(arg: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    String::from_utf8_lossy(&arg[..end])
}

/// C's conversion of a double to `long long` on x86-64 (cvttsd2si): NaN
/// and out-of-range values give the most negative integer.
fn c_double_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9223372036854775808.0..9223372036854775808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// The members inside `shape`, cell by cell in the cover's order and by
/// score inside a cell (Redis's membersOfAllNeighbors). With `limit` (COUNT
/// ANY) the search stops once that many were found.
fn collect(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let cells = shape.cover().cells();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else { continue };
        // Huge radii make neighbours coincide: a cell equal to the one read
        // just before is skipped (the centre is never compared, as in Redis).
        if let Some(l) = last.filter(|&l| l > 0) {
            if cells[l] == Some(cell) {
                continue;
            }
        }
        if limit != 0 && found.len() >= limit {
            break;
        }
        // Scores of the cell: [its aligned bits, the next cell's).
        let min = geohash::align52(cell) as f64;
        let max = geohash::align52(geohash::Cell {
            bits: cell.bits.wrapping_add(1),
            step: cell.step,
        }) as f64;
        let start = z.lower_bound(Probe::Score(min, false));
        for (member, score) in z.range(start, z.len(), false) {
            if score >= max {
                break;
            }
            if let Some((lon, lat, dist)) = shape.contains(score) {
                found.push(Found {
                    lon,
                    lat,
                    dist,
                    score,
                    member: SmallBytes::new(member),
                });
            }
            if limit != 0 && found.len() >= limit {
                break;
            }
        }
        last = Some(i);
    }
    found
}
