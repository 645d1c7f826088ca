//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE and the
//! internal PFDEBUG / PFSELFTEST. The sketch itself, in Redis's byte format,
//! lives in `util::hll`; here an HLL is an ordinary string value (kept as
//! `Value::Raw` once written) so GET, SET and APPEND see the same bytes Redis has.

use super::bitmaps::make_raw;
use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, notify, CmdError, CmdResult, Ctx};
use crate::store::Value;
use crate::util::hll;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, Group::HyperLogLog, pfadd).flags(WRITE | DENYOOM | FAST).keys(1, 1, 1)
        .doc("2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "O(1) to add every element.")
        .syntax("key [element [element ...]]"),
    CommandSpec::new("pfcount", -2, Group::HyperLogLog, pfcount).flags(READONLY | MAY_REPLICATE).keys(1, -1, 1)
        .doc("2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.")
        .syntax("key [key ...]"),
    CommandSpec::new("pfmerge", -2, Group::HyperLogLog, pfmerge).flags(WRITE | DENYOOM).keys(1, -1, 1)
        .doc("2.8.9", "Merges one or more HyperLogLog values into a single key.", "O(N) to merge N HyperLogLogs, but with high constant times.")
        .syntax("destkey [sourcekey [sourcekey ...]]"),
    CommandSpec::new("pfdebug", 3, Group::HyperLogLog, pfdebug).flags(WRITE | DENYOOM | ADMIN).keys(2, 2, 1)
        .doc("2.8.9", "Internal commands for debugging HyperLogLog values.", "N/A")
        .syntax("subcommand key"),
    CommandSpec::new("pfselftest", 1, Group::HyperLogLog, pfselftest).flags(ADMIN)
        .doc("2.8.9", "An internal command for testing HyperLogLog values.", "N/A"),
];

/// Sparse HLL strings growing past this are promoted to dense (Redis's
/// hll-sparse-max-bytes default; not yet a CONFIG parameter here).
const SPARSE_MAX_BYTES: usize = hll::SPARSE_MAX_BYTES;

const INVALID_HLL: CmdError = CmdError::err("INVALIDOBJ Corrupted HLL object detected");
const NOT_HLL: CmdError = CmdError::err("WRONGTYPE Key is not a valid HyperLogLog string value.");

/// The bytes of a value that is a valid HLL string (isHLLObjectOrReply): other
/// types are WRONGTYPE, strings that are not HLLs (integers included) get the
/// HyperLogLog-specific WRONGTYPE text.
fn hll_bytes(v: &Value) -> Result<&[u8], CmdError> {
    let bytes: &[u8] = match v {
        Value::Str(s) => s.as_slice(),
        Value::Raw(r) => r,
        Value::Int(_) => return Err(NOT_HLL),
        _ => return Err(CmdError::WrongType),
    };
    if hll::is_valid(bytes) {
        Ok(bytes)
    } else {
        Err(NOT_HLL)
    }
}

fn pfadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), argv[1]);
    let created = match ctx.ks.get(db, key) {
        None => true,
        Some(e) => {
            hll_bytes(&e.value)?;
            false
        }
    };
    if created {
        ctx.ks
            .set(db, key, Value::Raw(Box::new(hll::new_sparse())), None);
    }
    let Some(e) = ctx.ks.get(db, key) else {
        return Ok(());
    };
    let sketch = make_raw(&mut e.value);
    let mut updated = created;
    for ele in &argv[2..] {
        // Like Redis, a corrupt sketch stops here, keeping the registers
        // already raised and without signalling the change.
        updated |= hll::add(sketch, ele, SPARSE_MAX_BYTES).map_err(|_| INVALID_HLL)?;
    }
    if updated {
        hll::invalidate_cache(sketch);
        ctx.ks.touch(db, key);
        ctx.notify(notify::STRING, "pfadd", key);
    }
    ctx.out.int(updated as i64);
    Ok(())
}

fn pfcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    if argv.len() > 2 {
        // The cardinality of the union, computed on a scratch register array;
        // no key is modified.
        let mut max = [0u8; hll::REGISTERS];
        for key in &argv[1..] {
            let Some(e) = ctx.ks.read(db, key) else {
                continue;
            };
            hll::merge_into(&mut max, hll_bytes(&e.value)?).map_err(|_| INVALID_HLL)?;
        }
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = argv[1];
    let Some(e) = ctx.ks.read_mut(db, key) else {
        ctx.out.int(0);
        return Ok(());
    };
    hll_bytes(&e.value)?;
    let sketch = make_raw(&mut e.value);
    let (card, recomputed) = match hll::cached_card(sketch) {
        Some(c) => (c, false),
        None => {
            let c = hll::count(sketch).map_err(|_| INVALID_HLL)?;
            hll::set_cached_card(sketch, c);
            (c, true)
        }
    };
    // Updating the cached cardinality modifies the string, so Redis signals it
    // (a WATCH on the key fails afterwards).
    if recomputed {
        ctx.ks.touch(db, key);
    }
    ctx.out.int(card as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut max = [0u8; hll::REGISTERS];
    let mut use_dense = false;
    // The destination is also a source.
    for key in &argv[1..] {
        let Some(e) = ctx.ks.read(db, key) else {
            continue;
        };
        let bytes = hll_bytes(&e.value)?;
        use_dense |= hll::encoding(bytes) == hll::DENSE;
        hll::merge_into(&mut max, bytes).map_err(|_| INVALID_HLL)?;
    }
    let dest = argv[1];
    if !ctx.ks.exists(db, dest) {
        ctx.ks
            .set(db, dest, Value::Raw(Box::new(hll::new_sparse())), None);
    }
    let Some(e) = ctx.ks.get(db, dest) else {
        return Ok(());
    };
    let sketch = make_raw(&mut e.value);
    if use_dense {
        hll::sparse_to_dense(sketch).map_err(|_| INVALID_HLL)?;
    }
    for (i, &v) in max.iter().enumerate() {
        if v != 0 {
            // The destination was validated as a source above, so this cannot
            // fail; Redis ignores the result too.
            let _ = hll::set_register(sketch, i, v, SPARSE_MAX_BYTES);
        }
    }
    hll::invalidate_cache(sketch);
    ctx.ks.touch(db, dest);
    // Redis reports a merge as a PFADD: it is a mass add of elements.
    ctx.notify(notify::STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (db, sub, key) = (ctx.db(), argv[1], argv[2]);
    let Some(e) = ctx.ks.get(db, key) else {
        return Err(CmdError::err("ERR The specified key does not exist"));
    };
    hll_bytes(&e.value)?;
    let sketch = make_raw(&mut e.value);
    if eq_ic(sub, "getreg") {
        hll::sparse_to_dense(sketch).map_err(|_| INVALID_HLL)?;
        let regs = &sketch[hll::HDR_SIZE..];
        ctx.out.array(hll::REGISTERS);
        for i in 0..hll::REGISTERS {
            ctx.out.int(hll::dense_get(regs, i) as i64);
        }
    } else if eq_ic(sub, "decode") {
        if hll::encoding(sketch) != hll::SPARSE {
            return Err(CmdError::err("ERR HLL encoding is not sparse"));
        }
        let text = hll::decode_text(sketch);
        ctx.out.bulk(text.as_bytes());
    } else if eq_ic(sub, "encoding") {
        ctx.out.simple(if hll::encoding(sketch) == hll::DENSE {
            "dense"
        } else {
            "sparse"
        });
    } else if eq_ic(sub, "todense") {
        let converted = hll::encoding(sketch) == hll::SPARSE;
        hll::sparse_to_dense(sketch).map_err(|_| INVALID_HLL)?;
        ctx.out.int(converted as i64);
    } else {
        // %s of a C string: stops at the first NUL; error texts are one line.
        let end = sub.iter().position(|&b| b == 0).unwrap_or(sub.len());
        let name = String::from_utf8_lossy(&sub[..end]).replace(['\r', '\n'], " ");
        return Err(CmdError::owned(format!(
            "ERR Unknown PFDEBUG subcommand '{name}'"
        )));
    }
    Ok(())
}

/// PFSELFTEST: checks register packing on random values, then that sparse and
/// dense sketches agree and stay within a few standard errors of the true
/// count up to 10 million elements (fewer in debug builds), as Redis's
/// self-test does.
fn pfselftest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match selftest() {
        Ok(()) => ctx.out.ok(),
        Err(msg) => ctx.out.error(&msg),
    }
    Ok(())
}

/// PFSELFTEST's work: Redis's 1000 register rounds and ten million elements
/// (half a second optimised). Debug builds, which the test suites use and
/// where that takes seconds, run a smaller version of the same checks; the
/// reply is the same.
const SELFTEST_ROUNDS: usize = if cfg!(debug_assertions) { 1 } else { 1000 };
const SELFTEST_ELEMENTS: u64 = if cfg!(debug_assertions) {
    10_000
} else {
    10_000_000
};

fn selftest() -> Result<(), String> {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut regs = vec![0u8; hll::DENSE_SIZE - hll::HDR_SIZE];
    let mut expect = vec![0u8; hll::REGISTERS];
    for _ in 0..SELFTEST_ROUNDS {
        for (i, e) in expect.iter_mut().enumerate() {
            *e = rng.random_range(0..64u8);
            hll::dense_set_register(&mut regs, i, *e);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = hll::dense_get(&regs, i);
            if got != e {
                return Err(format!(
                    "ERR TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    let mut dense = hll::new_sparse();
    let _ = hll::sparse_to_dense(&mut dense);
    let mut sparse = hll::new_sparse();
    let relerr = 1.04 / (hll::REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed: u64 = rng.random();
    for j in 1..=SELFTEST_ELEMENTS {
        let ele = (j ^ seed).to_le_bytes();
        let _ = hll::add(&mut dense, &ele, SPARSE_MAX_BYTES);
        let _ = hll::add(&mut sparse, &ele, SPARSE_MAX_BYTES);
        if j != checkpoint {
            continue;
        }
        if j < (SPARSE_MAX_BYTES / 2) as u64 && hll::encoding(&sparse) != hll::SPARSE {
            return Err("ERR TESTFAILED sparse encoding not used".into());
        }
        let card = hll::count(&dense).unwrap_or(0);
        if Ok(card) != hll::count(&sparse) {
            return Err("ERR TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "ERR TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}
