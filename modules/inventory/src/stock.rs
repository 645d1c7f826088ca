//! The inventory's data model and its state transitions, as pure functions on plain values.
//!
//! One inventory is one Redis hash, so users can inspect it with `HGETALL`:
//!
//! | field | value |
//! |---|---|
//! | `available` | units that can still be held |
//! | `held` | units reserved by live holds |
//! | `sold` | units confirmed |
//! | `next_expiry` | unix ms at or before which some hold may have expired; absent with no holds |
//! | `hold:<id>` | `<qty>:<deadline unix ms>` for each hold |
//!
//! `available + held + sold` only changes with `INV.SET`: every other command moves units between
//! the three counters, which is what makes overselling impossible. `next_expiry` lets a command
//! skip the field scan (`HGETALL`) until a hold can actually have expired; it may be earlier than
//! the true earliest deadline (after a confirm or release), never later, so a stale value only
//! costs one extra scan, which then recomputes it.

pub const AVAILABLE: &str = "available";
pub const HELD: &str = "held";
pub const SOLD: &str = "sold";
pub const NEXT_EXPIRY: &str = "next_expiry";
pub const HOLD_PREFIX: &[u8] = b"hold:";

/// A reply-ready error text.
pub type Failure = &'static str;

pub const ERR_CORRUPT: Failure = "ERR inventory hash is corrupt";
pub const ERR_OVERFLOW: Failure = "ERR inventory counter overflow";

/// The three counters plus the scan hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub available: i64,
    pub held: i64,
    pub sold: i64,
    pub next_expiry: Option<i64>,
}

/// One hold, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub id: Vec<u8>,
    pub qty: i64,
    pub deadline_ms: i64,
}

/// What the header fields (as read by `HMGET available held sold next_expiry`) say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// None of the four fields: the key is missing, or a hash that is not an inventory (the
    /// caller tells them apart with EXISTS).
    Absent,
    /// Some but not all counters: not an inventory.
    NotInventory,
    Inventory(Header),
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse::<i64>().ok()
}

/// Parse the header. Counters must be non-negative integers.
pub fn parse_header(fields: [Option<&[u8]>; 4]) -> Result<Parsed, Failure> {
    let [available, held, sold, next] = fields;
    let counters = [available, held, sold];
    if counters.iter().all(Option::is_none) {
        return Ok(if next.is_none() {
            Parsed::Absent
        } else {
            Parsed::NotInventory
        });
    }
    let mut values = [0i64; 3];
    for (slot, field) in values.iter_mut().zip(counters) {
        let Some(bytes) = field else {
            return Ok(Parsed::NotInventory);
        };
        *slot = parse_i64(bytes).filter(|v| *v >= 0).ok_or(ERR_CORRUPT)?;
    }
    let next_expiry = match next {
        None => None,
        Some(bytes) => Some(parse_i64(bytes).ok_or(ERR_CORRUPT)?),
    };
    Ok(Parsed::Inventory(Header {
        available: values[0],
        held: values[1],
        sold: values[2],
        next_expiry,
    }))
}

/// The hash field of a hold.
pub fn hold_field(id: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HOLD_PREFIX.len() + id.len());
    f.extend_from_slice(HOLD_PREFIX);
    f.extend_from_slice(id);
    f
}

/// The stored value of a hold.
pub fn hold_value(qty: i64, deadline_ms: i64) -> String {
    format!("{qty}:{deadline_ms}")
}

/// Parse a stored hold value `<qty>:<deadline>`; qty must be positive.
pub fn parse_hold_value(value: &[u8]) -> Result<(i64, i64), Failure> {
    let text = std::str::from_utf8(value).map_err(|_| ERR_CORRUPT)?;
    let (qty, deadline) = text.split_once(':').ok_or(ERR_CORRUPT)?;
    let qty = qty
        .parse::<i64>()
        .ok()
        .filter(|q| *q > 0)
        .ok_or(ERR_CORRUPT)?;
    let deadline = deadline.parse::<i64>().map_err(|_| ERR_CORRUPT)?;
    Ok((qty, deadline))
}

/// Pick the holds out of a hash's field/value pairs (as `HGETALL` lists them).
pub fn holds_from_pairs<'a, I>(pairs: I) -> Result<Vec<Hold>, Failure>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut holds = Vec::new();
    for (field, value) in pairs {
        if let Some(id) = field.strip_prefix(HOLD_PREFIX) {
            let (qty, deadline_ms) = parse_hold_value(value)?;
            holds.push(Hold {
                id: id.to_vec(),
                qty,
                deadline_ms,
            });
        }
    }
    Ok(holds)
}

/// Whether a command at `now_ms` must scan the holds before trusting the counters.
pub fn needs_scan(h: &Header, now_ms: i64) -> bool {
    h.next_expiry.is_some_and(|t| t <= now_ms)
}

/// The result of returning expired holds' units to `available`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reclaimed {
    pub header: Header,
    /// Holds whose deadline passed (their fields are to be deleted).
    pub expired: Vec<Hold>,
    /// Holds still live, sorted by deadline then id.
    pub live: Vec<Hold>,
}

/// Expire every hold with `deadline <= now_ms`, and recompute `next_expiry` exactly.
pub fn reclaim(header: Header, holds: Vec<Hold>, now_ms: i64) -> Result<Reclaimed, Failure> {
    let (expired, mut live): (Vec<Hold>, Vec<Hold>) =
        holds.into_iter().partition(|h| h.deadline_ms <= now_ms);
    let mut h = header;
    for hold in &expired {
        h.held = h.held.checked_sub(hold.qty).ok_or(ERR_CORRUPT)?;
        h.available = h.available.checked_add(hold.qty).ok_or(ERR_OVERFLOW)?;
    }
    if h.held < 0 {
        return Err(ERR_CORRUPT);
    }
    live.sort_by(|a, b| (a.deadline_ms, &a.id).cmp(&(b.deadline_ms, &b.id)));
    h.next_expiry = live.first().map(|l| l.deadline_ms);
    Ok(Reclaimed {
        header: h,
        expired,
        live,
    })
}

/// Place a hold of `qty` units: `Ok(None)` when there is not enough available stock (nothing
/// changes), else the new header.
pub fn place(h: &Header, qty: i64, deadline_ms: i64) -> Result<Option<Header>, Failure> {
    if qty > h.available {
        return Ok(None);
    }
    Ok(Some(Header {
        available: h.available - qty,
        held: h.held.checked_add(qty).ok_or(ERR_OVERFLOW)?,
        sold: h.sold,
        next_expiry: Some(h.next_expiry.map_or(deadline_ms, |t| t.min(deadline_ms))),
    }))
}

/// What ends a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// The buyer paid: held -> sold.
    Confirm,
    /// The buyer gave up: held -> available.
    Release,
}

/// Remove a live hold of `qty` units.
pub fn settle(h: &Header, qty: i64, how: Settle) -> Result<Header, Failure> {
    let held = h
        .held
        .checked_sub(qty)
        .filter(|v| *v >= 0)
        .ok_or(ERR_CORRUPT)?;
    let mut out = Header {
        held,
        // With no hold left there is nothing to scan for.
        next_expiry: if held == 0 { None } else { h.next_expiry },
        ..*h
    };
    match how {
        Settle::Confirm => out.sold = out.sold.checked_add(qty).ok_or(ERR_OVERFLOW)?,
        Settle::Release => out.available = out.available.checked_add(qty).ok_or(ERR_OVERFLOW)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(available: i64, held: i64, sold: i64, next_expiry: Option<i64>) -> Header {
        Header {
            available,
            held,
            sold,
            next_expiry,
        }
    }

    fn hold(id: &str, qty: i64, deadline_ms: i64) -> Hold {
        Hold {
            id: id.as_bytes().to_vec(),
            qty,
            deadline_ms,
        }
    }

    #[test]
    fn header_parsing() {
        assert_eq!(parse_header([None, None, None, None]), Ok(Parsed::Absent));
        assert_eq!(
            parse_header([None, None, None, Some(b"5")]),
            Ok(Parsed::NotInventory)
        );
        assert_eq!(
            parse_header([Some(b"1"), None, Some(b"2"), None]),
            Ok(Parsed::NotInventory)
        );
        assert_eq!(
            parse_header([Some(b"1"), Some(b"2"), Some(b"3"), Some(b"44")]),
            Ok(Parsed::Inventory(header(1, 2, 3, Some(44))))
        );
        assert_eq!(
            parse_header([Some(b"1"), Some(b"x"), Some(b"3"), None]),
            Err(ERR_CORRUPT)
        );
        assert_eq!(
            parse_header([Some(b"-1"), Some(b"0"), Some(b"3"), None]),
            Err(ERR_CORRUPT)
        );
        assert_eq!(
            parse_header([Some(b"1"), Some(b"0"), Some(b"3"), Some(b"soon")]),
            Err(ERR_CORRUPT)
        );
    }

    #[test]
    fn hold_values_round_trip() {
        assert_eq!(hold_value(3, 1_700_000_000_123), "3:1700000000123");
        assert_eq!(
            parse_hold_value(b"3:1700000000123"),
            Ok((3, 1_700_000_000_123))
        );
        for bad in [&b"3"[..], b"0:5", b"-1:5", b"a:5", b"3:b", b"", b"\xff:1"] {
            assert_eq!(parse_hold_value(bad), Err(ERR_CORRUPT), "{bad:?}");
        }
        assert_eq!(hold_field(b"u1"), b"hold:u1".to_vec());
    }

    #[test]
    fn holds_are_picked_from_hgetall() {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"available", b"5"),
            (b"hold:a", b"2:100"),
            (b"sold", b"0"),
            (b"hold:", b"1:50"),
        ];
        assert_eq!(
            holds_from_pairs(pairs),
            Ok(vec![hold("a", 2, 100), hold("", 1, 50)])
        );
        let bad: Vec<(&[u8], &[u8])> = vec![(b"hold:a", b"x")];
        assert_eq!(holds_from_pairs(bad), Err(ERR_CORRUPT));
    }

    #[test]
    fn reclaim_returns_expired_units() {
        let h = header(5, 6, 1, Some(100));
        assert!(needs_scan(&h, 100));
        assert!(!needs_scan(&h, 99));
        let r = reclaim(
            h,
            vec![hold("a", 2, 100), hold("b", 3, 300), hold("c", 1, 200)],
            150,
        )
        .unwrap();
        assert_eq!(r.header, header(7, 4, 1, Some(200)));
        assert_eq!(r.expired, vec![hold("a", 2, 100)]);
        assert_eq!(r.live, vec![hold("c", 1, 200), hold("b", 3, 300)]);
        let all = reclaim(r.header, r.live, 1_000).unwrap();
        assert_eq!(all.header, header(11, 0, 1, None));
        // Holds worth more than `held`: corrupt, never negative counters.
        assert_eq!(
            reclaim(header(0, 1, 0, Some(1)), vec![hold("a", 2, 1)], 5),
            Err(ERR_CORRUPT)
        );
    }

    #[test]
    fn place_and_settle_conserve_units() {
        let h = header(3, 0, 0, None);
        assert_eq!(place(&h, 4, 10), Ok(None));
        let h = place(&h, 2, 10).unwrap().unwrap();
        assert_eq!(h, header(1, 2, 0, Some(10)));
        let h = place(&h, 1, 5).unwrap().unwrap();
        assert_eq!(h, header(0, 3, 0, Some(5)));
        assert_eq!(place(&h, 1, 5), Ok(None));
        let h = settle(&h, 2, Settle::Confirm).unwrap();
        assert_eq!(h, header(0, 1, 2, Some(5)));
        let h = settle(&h, 1, Settle::Release).unwrap();
        assert_eq!(h, header(1, 0, 2, None));
        assert_eq!(settle(&h, 1, Settle::Release), Err(ERR_CORRUPT));
        let full = header(i64::MAX, 0, 0, None);
        let held = place(&full, i64::MAX, 1).unwrap().unwrap();
        assert_eq!(held, header(0, i64::MAX, 0, Some(1)));
        assert_eq!(
            settle(&held, i64::MAX, Settle::Confirm).unwrap(),
            header(0, 0, i64::MAX, None)
        );
    }
}
