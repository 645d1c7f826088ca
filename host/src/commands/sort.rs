//! SORT and SORT_RO (Redis's sort.c): sort the elements of a list, set or
//! sorted set numerically or lexicographically, by themselves or by weights
//! found in other keys (`BY weight_*`, `BY hash_*->field`), return them or the
//! values of other keys (`GET #`, `GET data_*`), page with LIMIT, and with
//! STORE save the result as a list.
//!
//! BY and GET patterns read keys named by the data, so both commands lock
//! their whole database (`WHOLE_DB`) rather than just the declared key.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::store::list::ListValue;
use crate::store::{SmallBytes, Value};
use crate::util::num::parse_i64;
use std::cmp::Ordering;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, Group::Generic, sort).flags(WRITE | DENYOOM | WHOLE_DB).keys(1, 1, 1).key_finder(sort_keys)
        .acl(&["set", "sortedset", "list", "dangerous"])
        .doc("1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).")
        .syntax("key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]"),
    CommandSpec::new("sort_ro", -2, Group::Generic, sort_ro).flags(READONLY | WHOLE_DB).keys(1, 1, 1)
        .acl(&["set", "sortedset", "list", "dangerous"])
        .doc("7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).")
        .syntax("key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]"),
];

fn sort(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, true)
}

/// One element being sorted, with its weight: a score (numeric sort) or the
/// bytes of its BY key (ALPHA with BY; None when that key is missing).
struct Item {
    obj: SmallBytes,
    score: f64,
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(obj: &[u8]) -> Item {
        Item {
            obj: SmallBytes::new(obj),
            score: 0.0,
            cmp: None,
        }
    }
}

/// The parsed options.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY without '*': nothing to sort by.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

fn parse_options<'a>(argv: &[&'a [u8]], readonly: bool) -> Result<Options<'a>, CmdError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if eq_ic(a, "asc") {
            o.desc = false;
        } else if eq_ic(a, "desc") {
            o.desc = true;
        } else if eq_ic(a, "alpha") {
            o.alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            let start = parse_i64(argv[j + 1]).ok_or(CmdError::NotInteger)?;
            let count = parse_i64(argv[j + 2]).ok_or(CmdError::NotInteger)?;
            o.limit = Some((start, count));
            j += 2;
        } else if !readonly && eq_ic(a, "store") && left >= 1 {
            o.store = Some(argv[j + 1]);
            j += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            let pattern = argv[j + 1];
            o.by = Some(pattern);
            // A constant pattern (no '*' before any NUL, as strchr sees it)
            // names no per-element key: keep the native order. Like Redis, a
            // later BY with a '*' does not undo this.
            if !c_str(pattern).contains(&b'*') {
                o.dontsort = true;
            }
            j += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            o.gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The part of `s` a C string function sees: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// The value a BY or GET pattern names for element `subst` (Redis's
/// lookupKeyByPattern): `#` is the element itself; otherwise the first `*`
/// is replaced by the element to form a key, and a `->field` suffix reads
/// that field of a hash instead of a string. None when the key (or field) is
/// missing or of the wrong type, or the pattern has no `*`.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    let cpat = c_str(pattern);
    if cpat == b"#" {
        return Some(subst.to_vec());
    }
    let star = cpat.iter().position(|&b| b == b'*')?;
    // "->" after the '*' with at least one byte after it selects a hash field.
    let field_at = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < cpat.len());
    let (postfix_end, field) = match field_at {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + subst.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    let db = ctx.db();
    let entry = ctx.ks.read(db, &key)?;
    match field {
        Some(f) => match &entry.value {
            Value::Hash(h) => hash_get(h, f),
            _ => None,
        },
        None => {
            let mut buf = itoa::Buffer::new();
            entry.value.as_bytes(&mut buf).map(|b| b.to_vec())
        }
    }
}

// ----------------------------------------------------------------------------
// Access to the collection types. Each type's module is owned elsewhere; these
// few functions are the only places SORT depends on their shape.
// ----------------------------------------------------------------------------

fn hash_get(h: &crate::store::hash::HashValue, field: &[u8]) -> Option<Vec<u8>> {
    h.get(field).map(|v| v.to_vec())
}

/// Every member of a set, in its iteration order.
fn set_items(s: &crate::store::set::SetValue, out: &mut Vec<Item>) {
    out.extend(s.iter().map(|m| m.with_bytes(Item::new)));
}

fn zset_len(z: &crate::store::zset::ZSetValue) -> usize {
    z.len()
}

/// `count` members starting at rank `start` (ascending by score), or at rank
/// `start` counted from the highest score downwards when `rev`.
fn zset_range(
    z: &crate::store::zset::ZSetValue,
    start: usize,
    count: usize,
    rev: bool,
    out: &mut Vec<Item>,
) {
    let len = z.len();
    let (lo, hi) = if rev {
        let hi = len.saturating_sub(start);
        (hi.saturating_sub(count), hi)
    } else {
        (start, start.saturating_add(count).min(len))
    };
    out.extend(z.range(lo, hi, rev).map(|(m, _)| Item::new(m)));
}

/// Every member of a sorted set (any order: they are sorted afterwards).
fn zset_items(z: &crate::store::zset::ZSetValue, out: &mut Vec<Item>) {
    zset_range(z, 0, zset_len(z), false, out);
}

fn list_range(l: &ListValue, start: usize, count: usize, rev: bool, out: &mut Vec<Item>) {
    if rev {
        out.extend(l.iter_rev().skip(start).take(count).map(Item::new));
    } else {
        out.extend(l.iter_from(start).take(count).map(Item::new));
    }
}

// ----------------------------------------------------------------------------

/// A weight parsed like C's strtod on the C string: leading spaces, hex and
/// inf allowed; trailing bytes, out-of-range values and NaN are errors.
fn parse_weight(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    let mut stack = [0u8; 128];
    let mut heap;
    let buf: &mut [u8] = if s.len() < stack.len() {
        &mut stack[..=s.len()]
    } else {
        heap = vec![0u8; s.len() + 1];
        &mut heap
    };
    buf[..s.len()].copy_from_slice(s);
    buf[s.len()] = 0;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod only
    // reads up to the terminator and stores a pointer into `buf` in `end`.
    // errno is thread-local, so clearing and reading it around the call is
    // sound.
    let (v, erange) = unsafe {
        *errno_location() = 0;
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        (v, *errno_location() == libc::ERANGE)
    };
    let consumed = (end as usize).wrapping_sub(buf.as_ptr() as usize);
    if consumed != s.len() || erange || v.is_nan() {
        return None;
    }
    Some(v)
}

/// The calling thread's errno. strtod reports overflow and inexact underflow
/// only there, and Redis refuses such weights.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__errno_location()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__error()
}

/// strcoll in the C / C.UTF-8 locale: strcmp of the C strings.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

fn sort_generic(ctx: &mut Ctx, argv: &[&[u8]], readonly: bool) -> CmdResult {
    let mut o = parse_options(argv, readonly)?;
    let db = ctx.db();

    // Load the elements (only the LIMIT range when the native order is kept).
    let mut items: Vec<Item> = Vec::new();
    let (mut start, mut end): (i64, i64);
    {
        let sortval = match ctx.ks.read(db, argv[1]) {
            None => None,
            Some(e) => match &e.value {
                Value::List(_) | Value::Set(_) | Value::ZSet(_) => Some(&e.value),
                _ => return Err(CmdError::WrongType),
            },
        };
        // An unsorted set would come out in hash order; when storing, sort it
        // so the stored list is deterministic.
        if o.dontsort && matches!(sortval, Some(Value::Set(_))) && o.store.is_some() {
            o.dontsort = false;
            o.alpha = true;
            o.by = None;
        }
        let len = match sortval {
            Some(Value::List(l)) => l.len(),
            Some(Value::Set(s)) => s.len(),
            Some(Value::ZSet(z)) => zset_len(z),
            _ => 0,
        } as i64;
        let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
        start = limit_start.max(0).min(len);
        let count = limit_count.max(-1).min(len);
        end = if count < 0 {
            len - 1
        } else {
            start + count - 1
        };
        if start >= len {
            start = len - 1;
            end = len - 2;
        }
        if end >= len {
            end = len - 1;
        }
        let native = o.dontsort && matches!(sortval, Some(Value::List(_) | Value::ZSet(_)));
        if native {
            let n = (end - start + 1).max(0) as usize;
            items.reserve(n);
            if end >= start {
                match sortval {
                    Some(Value::List(l)) => list_range(l, start as usize, n, o.desc, &mut items),
                    Some(Value::ZSet(z)) => zset_range(z, start as usize, n, o.desc, &mut items),
                    _ => {}
                }
            }
            end -= start;
            start = 0;
        } else {
            items.reserve(len as usize);
            match sortval {
                Some(Value::List(l)) => list_range(l, 0, len as usize, false, &mut items),
                Some(Value::Set(s)) => set_items(s, &mut items),
                Some(Value::ZSet(z)) => zset_items(z, &mut items),
                _ => {}
            }
        }
    }

    // Weights, then the sort itself.
    let mut conversion_error = false;
    if !o.dontsort {
        for item in items.iter_mut() {
            let weight = match o.by {
                Some(pattern) => match lookup_by_pattern(ctx, pattern, item.obj.as_slice()) {
                    Some(w) => Some(w),
                    None => continue,
                },
                None => None,
            };
            if o.alpha {
                if o.by.is_some() {
                    item.cmp = weight;
                }
            } else {
                let bytes = weight.as_deref().unwrap_or(item.obj.as_slice());
                match parse_weight(bytes) {
                    Some(v) => item.score = v,
                    None => conversion_error = true,
                }
            }
        }
        if !conversion_error {
            let (alpha, by, store) = (o.alpha, o.by.is_some(), o.store.is_some());
            let compare = |a: &Item, b: &Item| -> Ordering {
                if !alpha {
                    // Equal scores fall back to the elements' bytes so the
                    // order is deterministic.
                    a.score
                        .partial_cmp(&b.score)
                        .filter(|o| *o != Ordering::Equal)
                        .unwrap_or_else(|| a.obj.as_slice().cmp(b.obj.as_slice()))
                } else if by {
                    match (&a.cmp, &b.cmp) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => Ordering::Less,
                        (Some(_), None) => Ordering::Greater,
                        (Some(x), Some(y)) if store => x.cmp(y),
                        (Some(x), Some(y)) => collate(x, y),
                    }
                } else if store {
                    a.obj.as_slice().cmp(b.obj.as_slice())
                } else {
                    collate(a.obj.as_slice(), b.obj.as_slice())
                }
            };
            // Stable, like glibc's merge-sort qsort: ties keep their load order.
            if o.desc {
                items.sort_by(|a, b| compare(b, a));
            } else {
                items.sort_by(compare);
            }
        }
    }
    if conversion_error {
        return Err(CmdError::err(
            "ERR One or more scores can't be converted into double",
        ));
    }

    let range: &[Item] = if end >= start {
        items.get(start as usize..=end as usize).unwrap_or_default()
    } else {
        &[]
    };
    let per_item = o.gets.len().max(1);
    let outputlen = range.len() * per_item;
    match o.store {
        None => {
            ctx.out.array(outputlen);
            for item in range {
                if o.gets.is_empty() {
                    ctx.out.bulk(item.obj.as_slice());
                }
                for pattern in &o.gets {
                    match lookup_by_pattern(ctx, pattern, item.obj.as_slice()) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dest) => {
            let mut list = ListValue::new();
            for item in range {
                if o.gets.is_empty() {
                    list.push_back(item.obj.as_slice());
                }
                for pattern in &o.gets {
                    let v = lookup_by_pattern(ctx, pattern, item.obj.as_slice());
                    list.push_back(v.as_deref().unwrap_or(b""));
                }
            }
            if outputlen > 0 {
                ctx.ks.set(db, dest, Value::List(Box::new(list)), None);
                ctx.ks.touch(db, dest);
                ctx.notify(notify::LIST, "sortstore", dest);
            } else if ctx.ks.remove(db, dest).is_some() {
                ctx.ks.touch(db, dest);
                ctx.notify(notify::GENERIC, "del", dest);
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

/// SORT's keys as Redis's sortGetKeys finds them: the sorted key and the
/// last STORE destination (BY/GET patterns name keys only at run time).
fn sort_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let skip = if super::eq_ic(argv[i], "limit") {
            2
        } else if super::eq_ic(argv[i], "get") || super::eq_ic(argv[i], "by") {
            1
        } else if super::eq_ic(argv[i], "store") {
            if i + 1 < argv.len() {
                store = Some(i + 1);
            }
            1
        } else {
            0
        };
        i += 1 + skip;
    }
    keys.extend(store);
    keys
}
