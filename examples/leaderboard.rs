//! A leaderboard on sorted sets: ZINCRBY per game result, the top N with ZREVRANGE WITHSCORES,
//! a player's rank and neighbours, ties, and daily boards summed into a weekly one with
//! ZUNIONSTORE. The board is the source of truth (there is no other copy of the scores), so the
//! server runs with `appendonly yes`: tests/examples.rs kills it with SIGKILL and checks that
//! the board came back whole.
//!
//! The redis-cli version of each step:
//! ```text
//! CONFIG SET appendonly yes                          # or `appendonly yes` in ember.conf
//! ZINCRBY lb:day:2024-06-03 40 alice                 # every game result
//! ZREVRANGE lb:day:2024-06-03 0 9 WITHSCORES         # top 10, best first
//! ZREVRANK lb:day:2024-06-03 alice                   # 0-based rank; nil: no score today
//! ZREVRANGE lb:day:2024-06-03 3 7 WITHSCORES         # alice (rank 5) and two on each side
//! ZCOUNT lb:day:2024-06-03 (450 +inf                 # players strictly ahead: ties share a rank
//! ZUNIONSTORE lb:week:23 3 lb:day:2024-06-03 lb:day:2024-06-04 lb:day:2024-06-05
//! EXPIRE lb:day:2024-06-03 1209600                   # daily boards go after two weeks
//! ```
//! Equal scores are ordered by member name (ZREVRANGE: reverse byte order), which is arbitrary
//! for players: show tied players with the same rank (ZCOUNT of the strictly greater scores,
//! plus one).
//!
//! Run: `cargo run --example leaderboard -- 127.0.0.1:6379` (or set `EMBER_ADDR`). Well under a
//! second, keys under a per-run prefix; asserts its own outcome and exits non-zero on failure.
//! `tests/examples.rs` runs [`build`], restarts the server, then [`verify`].

#[path = "support/mod.rs"]
mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use support::{ensure, Res};

const DAYS: [&str; 3] = ["2024-06-03", "2024-06-04", "2024-06-05"];
const PLAYERS: usize = 50;
const GAMES_PER_DAY: usize = 400;
const TOP: usize = 10;
/// Daily boards are kept two weeks, the weekly one a year.
const DAY_TTL_S: i64 = 14 * 86_400;
const WEEK_TTL_S: i64 = 365 * 86_400;

/// The scores the boards must hold: what the example sent, summed in process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub prefix: String,
    pub days: Vec<BTreeMap<String, i64>>,
    pub week: BTreeMap<String, i64>,
}

impl Model {
    fn day_key(&self, i: usize) -> String {
        format!("{}lb:day:{}", self.prefix, DAYS[i])
    }

    fn week_key(&self) -> String {
        format!("{}lb:week:23", self.prefix)
    }
}

/// A board as ZREVRANGE orders it: score descending, equal scores by member descending.
fn ranked(board: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = board.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    v
}

fn zrevrange(
    con: &mut redis::Connection,
    key: &str,
    start: i64,
    stop: i64,
) -> Res<Vec<(String, i64)>> {
    Ok(redis::cmd("ZREVRANGE")
        .arg(key)
        .arg(start)
        .arg(stop)
        .arg("WITHSCORES")
        .query(con)?)
}

/// The player's place as shown to users: 1 + the number of strictly better scores, so tied
/// players share it ("1, 2, 2, 4").
fn shared_rank(con: &mut redis::Connection, key: &str, player: &str) -> Res<Option<i64>> {
    let score: Option<i64> = redis::cmd("ZSCORE").arg(key).arg(player).query(con)?;
    let Some(score) = score else { return Ok(None) };
    let ahead: i64 = redis::cmd("ZCOUNT")
        .arg(key)
        .arg(format!("({score}"))
        .arg("+inf")
        .query(con)?;
    Ok(Some(ahead + 1))
}

/// Records three days of games (two players deliberately tied at the top of the week) and
/// builds the weekly board. Leaves the boards in place.
pub fn build(addr: &str, prefix: &str) -> Res<Model> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut con = client.get_connection()?;
    let mut rng = StdRng::seed_from_u64(23);
    let mut model = Model {
        prefix: prefix.to_string(),
        ..Model::default()
    };
    for d in 0..DAYS.len() {
        let key = model.day_key(d);
        let mut day = BTreeMap::new();
        let mut pipe = redis::pipe();
        for _ in 0..GAMES_PER_DAY {
            let player = format!("player{:02}", rng.random_range(0..PLAYERS));
            let points: i64 = rng.random_range(1..=20);
            *day.entry(player.clone()).or_insert(0) += points;
            pipe.cmd("ZINCRBY")
                .arg(&key)
                .arg(points)
                .arg(&player)
                .ignore();
        }
        // Two players who finish the week level, well ahead of everyone.
        for player in ["ada", "bea"] {
            *day.entry(player.to_string()).or_insert(0) += 300;
            pipe.cmd("ZINCRBY").arg(&key).arg(300).arg(player).ignore();
        }
        pipe.cmd("EXPIRE").arg(&key).arg(DAY_TTL_S).ignore();
        pipe.query::<()>(&mut con)?;
        model.days.push(day);
    }
    for day in &model.days {
        for (p, s) in day {
            *model.week.entry(p.clone()).or_insert(0) += s;
        }
    }
    let week_key = model.week_key();
    let mut union = redis::cmd("ZUNIONSTORE");
    union.arg(&week_key).arg(DAYS.len());
    for d in 0..DAYS.len() {
        union.arg(model.day_key(d));
    }
    let members: usize = union.arg("AGGREGATE").arg("SUM").query(&mut con)?;
    ensure(
        members == model.week.len(),
        format!("weekly board has {members} players"),
    )?;
    redis::cmd("EXPIRE")
        .arg(&week_key)
        .arg(WEEK_TTL_S)
        .query::<()>(&mut con)?;
    Ok(model)
}

#[derive(Debug)]
pub struct Summary {
    pub top: Vec<(String, i64)>,
    pub player: String,
    pub rank: i64,
    pub neighbours: Vec<(String, i64)>,
}

/// Checks every board against the model: whole contents, top N, a player's rank and
/// neighbours, the tie at the top, and the TTLs.
pub fn verify(addr: &str, model: &Model) -> Res<Summary> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut con = client.get_connection()?;
    for (d, day) in model.days.iter().enumerate() {
        let got = zrevrange(&mut con, &model.day_key(d), 0, -1)?;
        ensure(
            got == ranked(day),
            format!("day {} differs from what was recorded", DAYS[d]),
        )?;
        let ttl: i64 = redis::cmd("TTL").arg(model.day_key(d)).query(&mut con)?;
        ensure(
            ttl > DAY_TTL_S - 60 && ttl <= DAY_TTL_S,
            format!("day TTL {ttl}"),
        )?;
    }
    let week_key = model.week_key();
    let want = ranked(&model.week);
    ensure(
        zrevrange(&mut con, &week_key, 0, -1)? == want,
        "the weekly board is not the sum of the days",
    )?;
    let top = zrevrange(&mut con, &week_key, 0, TOP as i64 - 1)?;
    ensure(top == want[..TOP], format!("top {TOP}: {top:?}"))?;

    // The tie: bea is listed before ada (equal scores, reverse byte order) but both are 1st.
    ensure(
        top[0].0 == "bea" && top[1].0 == "ada" && top[0].1 == top[1].1,
        format!("the tie at the top: {:?}", &top[..2]),
    )?;
    for p in ["ada", "bea"] {
        ensure(
            shared_rank(&mut con, &week_key, p)? == Some(1),
            format!("{p} should share first place"),
        )?;
    }

    // A mid-table player: their rank and two neighbours on each side.
    let (player, _) = want[PLAYERS / 2].clone();
    let rank: Option<i64> = redis::cmd("ZREVRANK")
        .arg(&week_key)
        .arg(&player)
        .query(&mut con)?;
    let rank = rank.ok_or("the player has no rank")?;
    ensure(
        rank == (PLAYERS / 2) as i64,
        format!("{player} ranked {rank}"),
    )?;
    let neighbours = zrevrange(&mut con, &week_key, (rank - 2).max(0), rank + 2)?;
    let lo = (rank - 2).max(0) as usize;
    ensure(
        neighbours == want[lo..=(rank as usize + 2)],
        format!("neighbours of {player}: {neighbours:?}"),
    )?;
    let missing: Option<i64> = redis::cmd("ZREVRANK")
        .arg(&week_key)
        .arg("nobody")
        .query(&mut con)?;
    ensure(missing.is_none(), "a player without scores has a rank")?;
    Ok(Summary {
        top,
        player,
        rank: rank + 1,
        neighbours,
    })
}

pub fn run_scenario(addr: &str) -> Res<Summary> {
    support::with_prefix(addr, "leaderboard", |_, prefix| {
        build(addr, prefix).and_then(|m| verify(addr, &m))
    })
}

fn main() {
    support::main("leaderboard", |addr| {
        let s = run_scenario(addr)?;
        let mut text = format!("weekly top {TOP}:\n");
        for (i, (p, score)) in s.top.iter().enumerate() {
            text.push_str(&format!("{:>3}. {p:<10} {score}\n", i + 1));
        }
        text.push_str(&format!(
            "{} is #{}; around them: {:?}",
            s.player, s.rank, s.neighbours
        ));
        Ok(text)
    });
}
