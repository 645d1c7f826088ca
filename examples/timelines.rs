//! Pre-computed home timelines. Posting fans out on write: the post id goes into each
//! follower's timeline, a sorted set scored by time and capped at the newest CAP entries, so a
//! read is one ZREVRANGE. Accounts with very many followers (celebrities) do not fan out (one
//! post would be a million writes); their posts stay in their own sorted set, and a reader's
//! timeline merges in the celebrities they follow at read time.
//!
//! The redis-cli version of each step:
//! ```text
//! SADD followers:celeb alice bob ...           # and SADD following:alice celeb
//! SADD celebs celeb                            # authors past the fan-out threshold
//! ZADD posts:bob 1717400000123 bob:17          # every post, in its author's own set (capped)
//! ZADD tl:alice 1717400000123 bob:17           # a normal author: each follower's timeline...
//! ZREMRANGEBYRANK tl:alice 0 -201              # ...keeps only the newest 200
//! ZREVRANGE tl:alice 0 19 WITHSCORES           # read: the precomputed part...
//! SINTER following:alice celebs                # ...plus the celebrities alice follows,
//! ZREVRANGE posts:celeb 0 19 WITHSCORES        # merged by score, newest 20 kept
//! ```
//!
//! Run: `cargo run --example timelines -- 127.0.0.1:6379` (or set `EMBER_ADDR`). About a
//! second, keys under a per-run prefix; asserts its own outcome and exits non-zero on failure.
//! `tests/examples.rs` runs the same [`run_scenario`] against ember-server and redis-server.

#[path = "support/mod.rs"]
mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use support::{ensure, Res};

const USERS: usize = 40;
/// Authors with more followers than this do not fan out.
const CELEB_THRESHOLD: usize = 20;
/// Each timeline (and each author's own post list) keeps the newest CAP posts.
const CAP: usize = 50;
const PAGE: usize = 20;
const POSTS: usize = 800;

pub struct Timelines {
    con: redis::Connection,
    prefix: String,
    /// Timeline writes done, and those a fan-out for everyone would have done.
    pub fanout_writes: usize,
    pub writes_saved: usize,
}

impl Timelines {
    fn key(&self, kind: &str, user: &str) -> String {
        format!("{}{kind}:{user}", self.prefix)
    }

    pub fn follow(&mut self, user: &str, author: &str) -> Res<()> {
        redis::pipe()
            .sadd(self.key("followers", author), user)
            .ignore()
            .sadd(self.key("following", user), author)
            .ignore()
            .query::<()>(&mut self.con)?;
        Ok(())
    }

    /// Marks the authors past the threshold as celebrities (a periodic job in a real system).
    pub fn classify(&mut self, authors: &[String]) -> Res<Vec<String>> {
        let mut celebs = Vec::new();
        for a in authors {
            let n: usize = redis::cmd("SCARD")
                .arg(self.key("followers", a))
                .query(&mut self.con)?;
            if n > CELEB_THRESHOLD {
                redis::cmd("SADD")
                    .arg(format!("{}celebs", self.prefix))
                    .arg(a)
                    .query::<()>(&mut self.con)?;
                celebs.push(a.clone());
            }
        }
        Ok(celebs)
    }

    pub fn post(&mut self, author: &str, id: &str, ts: i64) -> Res<()> {
        let own = self.key("posts", author);
        let mut pipe = redis::pipe();
        pipe.zadd(&own, id, ts)
            .ignore()
            .zremrangebyrank(&own, 0, -(CAP as isize) - 1)
            .ignore();
        let celeb: bool = redis::cmd("SISMEMBER")
            .arg(format!("{}celebs", self.prefix))
            .arg(author)
            .query(&mut self.con)?;
        let followers: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("followers", author))
            .query(&mut self.con)?;
        if celeb {
            self.writes_saved += followers.len();
        } else {
            for f in &followers {
                let tl = self.key("tl", f);
                pipe.zadd(&tl, id, ts)
                    .ignore()
                    .zremrangebyrank(&tl, 0, -(CAP as isize) - 1)
                    .ignore();
            }
            self.fanout_writes += followers.len();
        }
        pipe.query::<()>(&mut self.con)?;
        Ok(())
    }

    /// The newest `n` posts of the user's home timeline: the precomputed part merged with the
    /// celebrities they follow. Each part is already newest first; take the newest n of both.
    pub fn read(&mut self, user: &str, n: usize) -> Res<Vec<(String, i64)>> {
        let stop = n as isize - 1;
        let mut all: Vec<(String, i64)> = redis::cmd("ZREVRANGE")
            .arg(self.key("tl", user))
            .arg(0)
            .arg(stop)
            .arg("WITHSCORES")
            .query(&mut self.con)?;
        let celebs: Vec<String> = redis::cmd("SINTER")
            .arg(self.key("following", user))
            .arg(format!("{}celebs", self.prefix))
            .query(&mut self.con)?;
        for c in celebs {
            let posts: Vec<(String, i64)> = redis::cmd("ZREVRANGE")
                .arg(self.key("posts", &c))
                .arg(0)
                .arg(stop)
                .arg("WITHSCORES")
                .query(&mut self.con)?;
            all.extend(posts);
        }
        all.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        all.truncate(n);
        Ok(all)
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub celebrities: Vec<String>,
    pub fanout_writes: usize,
    pub writes_saved: usize,
    pub timelines_checked: usize,
}

pub fn run_scenario(addr: &str) -> Res<Outcome> {
    support::with_prefix(addr, "timelines", scenario)
}

fn scenario(client: &redis::Client, prefix: &str) -> Res<Outcome> {
    let mut t = Timelines {
        con: client.get_connection()?,
        prefix: prefix.to_string(),
        fanout_writes: 0,
        writes_saved: 0,
    };
    let mut rng = StdRng::seed_from_u64(7);
    let users: Vec<String> = (0..USERS).map(|i| format!("user{i:02}")).collect();
    let mut authors = users.clone();
    authors.push("celeb".into());

    // Everyone follows the celebrity; besides, each user follows about 5 others.
    let mut following: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for u in &users {
        let mut set = BTreeSet::from(["celeb".to_string()]);
        for _ in 0..5 {
            let a = &users[rng.random_range(0..USERS)];
            if a != u {
                set.insert(a.clone());
            }
        }
        for a in &set {
            t.follow(u, a)?;
        }
        following.insert(u.clone(), set);
    }
    let celebrities = t.classify(&authors)?;
    ensure(
        celebrities == ["celeb"],
        format!("celebrities: {celebrities:?}"),
    )?;

    // 800 posts, a fifth of them by the celebrity, at increasing times.
    let mut posts: Vec<(String, String, i64)> = Vec::new();
    for i in 0..POSTS {
        let author = if rng.random_range(0..5) == 0 {
            "celeb".to_string()
        } else {
            users[rng.random_range(0..USERS)].clone()
        };
        let id = format!("{author}:{i}");
        let ts = 1_717_400_000_000 + i as i64 * 1000;
        t.post(&author, &id, ts)?;
        posts.push((author, id, ts));
    }

    // Every user's first page equals the newest PAGE posts of the authors they follow.
    let mut at_cap = 0;
    for u in &users {
        let mut want: Vec<(String, i64)> = posts
            .iter()
            .filter(|(a, _, _)| following[u].contains(a))
            .map(|(_, id, ts)| (id.clone(), *ts))
            .collect();
        want.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        want.truncate(PAGE);
        let got = t.read(u, PAGE)?;
        ensure(
            got == want,
            format!("{u}'s timeline: {got:?}, expected {want:?}"),
        )?;
        let len: usize = redis::cmd("ZCARD").arg(t.key("tl", u)).query(&mut t.con)?;
        ensure(
            len <= CAP,
            format!("{u}'s timeline holds {len} posts, cap {CAP}"),
        )?;
        at_cap += usize::from(len == CAP);
        // The celebrity's posts were never copied into timelines.
        let copied: Vec<String> = redis::cmd("ZRANGE")
            .arg(t.key("tl", u))
            .arg(0)
            .arg(-1)
            .query(&mut t.con)?;
        ensure(
            copied.iter().all(|id| !id.starts_with("celeb:")),
            format!("{u}'s precomputed timeline has celebrity posts"),
        )?;
    }
    ensure(t.writes_saved > 0, "no fan-out was saved")?;
    ensure(
        at_cap > 0,
        "no timeline reached its cap: the trimming went untested",
    )?;
    Ok(Outcome {
        celebrities,
        fanout_writes: t.fanout_writes,
        writes_saved: t.writes_saved,
        timelines_checked: users.len(),
    })
}

fn main() {
    support::main("timelines", |addr| Ok(format!("{:?}", run_scenario(addr)?)));
}
