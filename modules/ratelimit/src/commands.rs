//! The module's registration and its three command handlers: argument parsing, the host calls
//! that read and write the keyspace, and the reply. The decisions themselves live in the pure
//! files (gcra.rs, token_bucket.rs, sliding.rs).
//!
//! Every command runs inside one invocation, which holds its key's lock from start to end, so a
//! read-decide-write sequence here is atomic without the compare-and-swap loop redis-cell needs.

use ember_guest_sdk::{call, call_argv, time_ms, Command, Error, Input, Reply, Result};

use crate::gcra::{self, Quota};
use crate::sliding::{self, Decision};
use crate::token_bucket::{self, State};

ember_guest_sdk::module! {
    name: "ratelimit",
    version: 1,
    types: [],
    commands: [
        // Arity -1 as Redis gives every module command: redis-cell answers its own usage error
        // for a wrong argument count, and so do we.
        Command::new("cl.throttle", cl_throttle)
            .arity(-1)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("ratelimit")
            .summary("Rate limiting with the generic cell rate algorithm (redis-cell compatible)"),
        Command::new("rl.tokenbucket", rl_tokenbucket)
            .arity(-4)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("ratelimit")
            .summary("Take tokens from a token bucket that refills continuously"),
        Command::new("rl.sliding", rl_sliding)
            .arity(-4)
            .flags("write denyoom")
            .keys(1, 1, 1)
            .acl("ratelimit")
            .summary("Admit requests against an exact sliding-window log"),
    ],
}

/// redis-cell's error shape: its harness prefixes `Cell error: `, its generic errors `Store
/// error: `, and no Redis error code comes first (it replies the text as is).
fn cell_error(msg: &str) -> Error {
    Error(format!("Cell error: Store error: {msg}"))
}

/// redis-cell's integer parsing (`str::parse::<i64>`, so `+5` is accepted) and its error text.
fn cell_i64(arg: &[u8]) -> Result<i64> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            cell_error(&format!(
                "Couldn't parse as integer: {}",
                String::from_utf8_lossy(arg)
            ))
        })
}

fn int_array<const N: usize>(values: [i64; N]) -> Reply {
    Reply::Array(values.iter().map(|&v| Reply::Int(v)).collect())
}

/// `CL.THROTTLE key max_burst count_per_period period [quantity]`.
fn cl_throttle(input: &Input) -> Result<Reply> {
    let args = &input.args;
    if args.len() != 5 && args.len() != 6 {
        return Err(cell_error(gcra::USAGE));
    }
    let key = args[1].as_slice();
    let quota = Quota {
        max_burst: cell_i64(&args[2])?,
        count: cell_i64(&args[3])?,
        period_secs: cell_i64(&args[4])?,
        quantity: match args.get(5) {
            Some(q) => cell_i64(q)?,
            None => 1,
        },
    };
    // The TAT is a plain string of unix nanoseconds, exactly as redis-cell stores it, so the
    // key is inspectable, deletable and portable between the two.
    let stored = call!("GET", key)?;
    let stored_tat = match stored.as_bytes() {
        None => None,
        Some(bytes) => Some(
            std::str::from_utf8(bytes)
                .map_err(|_| Error("Cell error: invalid digit found in string".into()))?
                .parse::<u64>()
                .map_err(|e| Error(format!("Cell error: {e}")))?,
        ),
    };
    let now_ns = i128::from(time_ms()) * 1_000_000;
    let outcome = gcra::throttle(&quota, stored_tat, now_ns).map_err(|e| cell_error(e.0))?;
    match outcome.write {
        gcra::Write::None => {}
        gcra::Write::Set { tat_ns, ttl_ms } => {
            call!("SET", key, tat_ns, "PX", ttl_ms)?;
        }
        gcra::Write::Delete => {
            if stored_tat.is_some() {
                call!("DEL", key)?;
            }
        }
    }
    Ok(int_array(outcome.reply()))
}

/// More arguments than an RL.* command takes: a syntax error, as Redis answers extra options.
fn check_max_args(input: &Input, max: usize) -> Result<()> {
    if input.args.len() > max {
        return Err(Error::syntax());
    }
    Ok(())
}

/// `RL.TOKENBUCKET key capacity refill_per_sec [tokens]` -> `[allowed, remaining, retry_after_ms]`.
fn rl_tokenbucket(input: &Input) -> Result<Reply> {
    check_max_args(input, 5)?;
    let key = input.arg(1)?;
    let capacity = input.arg_i64(2)?;
    let rate = input.arg_f64(3)?;
    let cost = if input.args.len() > 4 {
        input.arg_i64(4)?
    } else {
        1
    };
    let params = token_bucket::Params::new(capacity, rate, cost).map_err(Error::new)?;

    let fields = call!("HMGET", key, "tokens", "ts")?
        .into_array()
        .unwrap_or_default();
    let stored = match (fields.first(), fields.get(1)) {
        (Some(t), Some(ts)) if !t.is_nil() && !ts.is_nil() => {
            let tokens = t
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| v.is_finite());
            match (tokens, ts.as_int()) {
                (Some(tokens), Some(ts_ms)) => Some(State { tokens, ts_ms }),
                _ => return Err(Error::new("ERR key does not hold a valid token bucket")),
            }
        }
        // Neither field: a fresh bucket, unless the key is some other hash.
        (Some(t), Some(ts)) if t.is_nil() && ts.is_nil() => {
            if call!("EXISTS", key)?.as_int() == Some(1) {
                return Err(Error::wrong_type());
            }
            None
        }
        _ => return Err(Error::new("ERR key does not hold a valid token bucket")),
    };

    let now = time_ms();
    let outcome = token_bucket::take(&params, stored, now);
    match outcome.write {
        token_bucket::Write::None => {}
        token_bucket::Write::Set { state, ttl_ms } => {
            // `{}` on f64 is the shortest text that parses back to the same value.
            let tokens = format!("{}", state.tokens);
            call!("HSET", key, "tokens", tokens.as_str(), "ts", state.ts_ms)?;
            match ttl_ms {
                Some(ms) => call!("PEXPIRE", key, ms)?,
                None => call!("PERSIST", key)?,
            };
        }
        token_bucket::Write::Delete => {
            if stored.is_some() {
                call!("DEL", key)?;
            }
        }
    }
    Ok(int_array(outcome.reply()))
}

/// `RL.SLIDING key limit window_ms [cost]` -> `[allowed, count, retry_after_ms]`.
fn rl_sliding(input: &Input) -> Result<Reply> {
    check_max_args(input, 5)?;
    let key = input.arg(1)?;
    let limit = input.arg_i64(2)?;
    let window_ms = input.arg_i64(3)?;
    let cost = if input.args.len() > 4 {
        input.arg_i64(4)?
    } else {
        1
    };
    let params = sliding::Params::new(limit, window_ms, cost).map_err(Error::new)?;
    let now = time_ms();

    // Drop what left the window, then count what is left.
    call!("ZREMRANGEBYSCORE", key, "-inf", params.trim_max_score(now))?;
    let count = call!("ZCARD", key)?.as_int().unwrap_or(0);

    match sliding::decide(&params, count) {
        Decision::Admit => {
            if cost > 0 {
                append_entries(key, now, cost)?;
                call!("PEXPIRE", key, window_ms)?;
            }
            Ok(int_array([1, count.saturating_add(cost), -1]))
        }
        Decision::RefuseForever => Ok(int_array([0, count, -1])),
        Decision::RefuseUntilExpiry { index } => {
            let entry = call!("ZRANGE", key, index, index, "WITHSCORES")?
                .into_array()
                .unwrap_or_default();
            let score = entry
                .get(1)
                .and_then(Reply::as_str)
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| Error::new("ERR key does not hold a valid sliding-window log"))?;
            Ok(int_array([
                0,
                count,
                sliding::retry_after_ms(&params, score as i64, now),
            ]))
        }
    }
}

/// `ZADD key now m1 now m2 ...` with `cost` members unique to this call: the time, a random tag
/// (two calls may land in the same millisecond) and the unit's index.
fn append_entries(key: &[u8], now: i64, cost: i64) -> Result<()> {
    let tag = ember_guest_sdk::random_u64();
    let score = now.to_string();
    let members: Vec<String> = (0..cost).map(|i| format!("{now}-{tag:016x}-{i}")).collect();
    let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + 2 * members.len());
    argv.push(b"ZADD");
    argv.push(key);
    for m in &members {
        argv.push(score.as_bytes());
        argv.push(m.as_bytes());
    }
    call_argv(&argv)?;
    Ok(())
}
