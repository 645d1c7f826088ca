//! A session store: one hash per session with a sliding TTL (every access pushes the expiry
//! back), logout, and "log out everywhere" through a set of each user's session ids.
//!
//! The redis-cli version of each step (30 minutes of idle time; the scenario uses 1 second):
//! ```text
//! MULTI                                                  # log in
//! HSET session:5f0c9a user alice device laptop created 1733600000
//! PEXPIRE session:5f0c9a 1800000
//! SADD user:alice:sessions 5f0c9a
//! PEXPIRE user:alice:sessions 1800000 GT               # the set outlives its longest session
//! EXEC
//! MULTI                                                  # every request: read and slide
//! HGETALL session:5f0c9a
//! PEXPIRE session:5f0c9a 1800000                         # 0 on a missing key: never recreates
//! EXEC
//! MULTI                                                  # logout
//! DEL session:5f0c9a
//! SREM user:alice:sessions 5f0c9a
//! EXEC
//! SMEMBERS user:alice:sessions                           # log out everywhere: these, then
//! DEL session:5f0c9a session:77aa01 user:alice:sessions  # all of them and the set, in MULTI
//! ```
//!
//! Run: `cargo run --example session_store -- 127.0.0.1:6379` (or set `EMBER_ADDR`). About 1.5
//! seconds, keys under a per-run prefix; asserts its own outcome and exits non-zero on failure.
//! `tests/examples.rs` runs the same [`run_scenario`] against ember-server and redis-server.

#[path = "support/mod.rs"]
mod support;

use rand::Rng;
use std::collections::HashMap;
use std::time::Duration;
use support::{ensure, Res};

/// Idle time after which a session ends (30 minutes in production).
const IDLE_MS: u64 = 1000;

pub struct Sessions {
    con: redis::Connection,
    prefix: String,
}

impl Sessions {
    fn session_key(&self, sid: &str) -> String {
        format!("{}session:{sid}", self.prefix)
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}user:{user}:sessions", self.prefix)
    }

    /// Creates a session and returns its id (random: a session id is a bearer credential).
    pub fn login(&mut self, user: &str, device: &str) -> Res<String> {
        let sid = format!("{:032x}", rand::rng().random::<u128>());
        let (key, set) = (self.session_key(&sid), self.user_key(user));
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("user", user), ("device", device)])
            .ignore()
            .pexpire(&key, IDLE_MS as i64)
            .ignore()
            .sadd(&set, &sid)
            .ignore()
            // NX then GT: give a new set a TTL; an existing one only a later one.
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(IDLE_MS)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(IDLE_MS)
            .arg("GT")
            .ignore()
            .query::<()>(&mut self.con)?;
        Ok(sid)
    }

    /// The session's fields, sliding its expiry; None once it expired or was logged out.
    pub fn get(&mut self, sid: &str) -> Res<Option<HashMap<String, String>>> {
        let key = self.session_key(sid);
        let (fields, _): (HashMap<String, String>, i64) = redis::pipe()
            .atomic()
            .hgetall(&key)
            .pexpire(&key, IDLE_MS as i64)
            .query(&mut self.con)?;
        let Some(user) = fields.get("user") else {
            return Ok(None);
        };
        redis::cmd("PEXPIRE")
            .arg(self.user_key(user))
            .arg(IDLE_MS)
            .arg("GT")
            .query::<()>(&mut self.con)?;
        Ok(Some(fields))
    }

    /// Ends one session. False when it had already ended.
    pub fn logout(&mut self, sid: &str) -> Res<bool> {
        let key = self.session_key(sid);
        let user: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("user")
            .query(&mut self.con)?;
        let Some(user) = user else {
            return Ok(false);
        };
        let (deleted, _): (i64, i64) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.user_key(&user), sid)
            .query(&mut self.con)?;
        Ok(deleted == 1)
    }

    /// The user's live sessions. Ids of sessions that expired on their own are still in the
    /// set: they are dropped from it here.
    pub fn list(&mut self, user: &str) -> Res<Vec<String>> {
        let set = self.user_key(user);
        let ids: Vec<String> = redis::cmd("SMEMBERS").arg(&set).query(&mut self.con)?;
        let mut live = Vec::new();
        for sid in ids {
            let exists: bool = redis::cmd("EXISTS")
                .arg(self.session_key(&sid))
                .query(&mut self.con)?;
            if exists {
                live.push(sid);
            } else {
                redis::cmd("SREM")
                    .arg(&set)
                    .arg(&sid)
                    .query::<()>(&mut self.con)?;
            }
        }
        live.sort();
        Ok(live)
    }

    /// Ends every session of the user; returns how many were still live. A login that lands
    /// between the SMEMBERS and the DEL survives (WATCH the set to rule that out).
    pub fn logout_everywhere(&mut self, user: &str) -> Res<usize> {
        let set = self.user_key(user);
        let ids: Vec<String> = redis::cmd("SMEMBERS").arg(&set).query(&mut self.con)?;
        let mut keys: Vec<String> = ids.iter().map(|sid| self.session_key(sid)).collect();
        keys.push(set);
        // DEL counts the keys it removed: the live sessions, plus the set.
        let removed: usize = redis::cmd("DEL").arg(&keys).query(&mut self.con)?;
        Ok(removed.saturating_sub(1))
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub expired_untouched: bool,
    pub logged_out_everywhere: usize,
}

pub fn run_scenario(addr: &str) -> Res<Outcome> {
    support::with_prefix(addr, "sessions", scenario)
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Outcome> {
    let mut s = Sessions {
        con: client.get_connection()?,
        prefix: prefix.to_string(),
    };
    let laptop = s.login("alice", "laptop")?;
    let phone = s.login("alice", "phone")?;
    let tablet = s.login("alice", "tablet")?;
    let bobs = s.login("bob", "laptop")?;
    let mut want = vec![laptop.clone(), phone.clone(), tablet.clone()];
    want.sort();
    ensure(s.list("alice")? == want, "alice's three sessions")?;
    let fields = s.get(&laptop)?.ok_or("new session missing")?;
    ensure(
        fields.get("device").map(String::as_str) == Some("laptop"),
        format!("{fields:?}"),
    )?;

    // Sliding TTL: laptop, phone and bob are used every 400 ms, the tablet is not. After 1.3 s
    // (past the 1 s idle limit of a session never touched since login) only the tablet ended.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        for sid in [&laptop, &phone, &bobs] {
            ensure(s.get(sid)?.is_some(), "an active session expired")?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let expired_untouched = s.get(&tablet)?.is_none();
    ensure(expired_untouched, "the idle tablet session is still there")?;
    let mut want = vec![laptop.clone(), phone.clone()];
    want.sort();
    ensure(
        s.list("alice")? == want,
        "the expired session is still listed",
    )?;

    // Logout ends one session; reading it afterwards must not bring it back.
    ensure(s.logout(&laptop)?, "logout")?;
    ensure(!s.logout(&laptop)?, "logged out twice")?;
    ensure(s.get(&laptop)?.is_none(), "a logged-out session answered")?;
    let exists: bool = redis::cmd("EXISTS")
        .arg(s.session_key(&laptop))
        .query(&mut s.con)?;
    ensure(!exists, "reading a logged-out session recreated its key")?;

    // Log out everywhere: alice's phone and a new desktop session end; bob's does not.
    let desktop = s.login("alice", "desktop")?;
    let logged_out_everywhere = s.logout_everywhere("alice")?;
    ensure(
        logged_out_everywhere == 2,
        format!("logged out {logged_out_everywhere} sessions, expected 2"),
    )?;
    for sid in [&phone, &desktop] {
        ensure(
            s.get(sid)?.is_none(),
            "a session survived log out everywhere",
        )?;
    }
    ensure(s.list("alice")?.is_empty(), "alice still has sessions")?;
    ensure(s.get(&bobs)?.is_some(), "bob was logged out too")?;
    Ok(Outcome {
        expired_untouched,
        logged_out_everywhere,
    })
}

fn main() {
    support::main("session store", |addr| {
        Ok(format!("{:?}", run_scenario(addr)?))
    });
}
