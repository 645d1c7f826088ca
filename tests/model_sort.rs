//! Model test for SORT / SORT_RO: random lists, sets and sorted sets with random weight keys
//! (`w_<elem>` strings, `h_<elem>` hashes) are sorted with random BY / GET / LIMIT / ASC|DESC /
//! ALPHA / STORE options, on a real `ember-server`, on a real `redis-server`, and by a model in
//! this file (a plain Vec sorted with the rules SORT documents: numeric by weight then by element,
//! ALPHA by bytes with missing weights first, constant BY keeping the native order, LIMIT
//! clamping, GET patterns, STORE as a list). Every reply and every stored list is compared.
//! Cases whose order Redis leaves to hash iteration (an unsorted set, or equal ALPHA weights of
//! set members) are not generated. Fixed seeds; bounded: a few seconds.

#[path = "common/mod.rs"]
mod common;

use common::{escape, RespConn, Rng, ServerProcess};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// One test case: the collection, the weight keys, and the options.
struct Case {
    kind: Kind,
    /// Elements in native order (list order; zset by score then member; set: any).
    elems: Vec<String>,
    /// String keys by name (w_*, d_*).
    strings: HashMap<String, String>,
    /// Hash keys: name -> field -> value.
    hashes: HashMap<String, HashMap<String, String>>,
}

#[derive(Clone, Default, Debug)]
struct Opts {
    by: Option<String>,
    limit: Option<(i64, i64)>,
    gets: Vec<String>,
    desc: bool,
    alpha: bool,
    store: bool,
}

impl Case {
    /// The value a pattern names for `elem` (Redis's lookupKeyByPattern, for the patterns
    /// this test uses: "#", "<prefix>*" and "<prefix>*-><field>").
    fn lookup(&self, pattern: &str, elem: &str) -> Option<String> {
        if pattern == "#" {
            return Some(elem.to_string());
        }
        let star = pattern.find('*')?;
        let rest = &pattern[star + 1..];
        match rest.find("->") {
            Some(f) if f + 2 < rest.len() => {
                let key = format!("{}{}{}", &pattern[..star], elem, &rest[..f]);
                self.hashes.get(&key)?.get(&rest[f + 2..]).cloned()
            }
            _ => {
                let key = format!("{}{}{}", &pattern[..star], elem, rest);
                self.strings.get(&key).cloned()
            }
        }
    }

    /// The expected reply items (None = null) or an error text.
    fn sort(&self, o: &Opts) -> Result<Vec<Option<String>>, String> {
        let mut dontsort = o.by.as_ref().is_some_and(|b| !b.contains('*'));
        let mut alpha = o.alpha;
        let mut by = o.by.clone();
        if dontsort && self.kind == Kind::Set && o.store {
            dontsort = false;
            alpha = true;
            by = None;
        }
        let len = self.elems.len() as i64;
        let (ls, lc) = o.limit.unwrap_or((0, -1));
        let mut start = ls.max(0).min(len);
        let count = lc.max(-1).min(len);
        let mut end = if count < 0 {
            len - 1
        } else {
            start + count - 1
        };
        if start >= len {
            start = len - 1;
            end = len - 2;
        }
        end = end.min(len - 1);
        let mut items: Vec<String> = self.elems.clone();
        if dontsort {
            if o.desc {
                items.reverse();
            }
        } else {
            // (element, numeric weight, alpha weight)
            let mut keyed: Vec<(String, f64, Option<String>)> = Vec::new();
            for e in &items {
                let w = match &by {
                    Some(p) => self.lookup(p, e),
                    None => Some(e.clone()),
                };
                let mut score = 0.0;
                let mut cmp = None;
                if alpha {
                    if by.is_some() {
                        cmp = w;
                    }
                } else if let Some(w) = w {
                    score = w
                        .trim_start()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| !v.is_nan())
                        .ok_or("ERR One or more scores can't be converted into double")?;
                }
                keyed.push((e.clone(), score, cmp));
            }
            let has_by = by.is_some();
            keyed.sort_by(|a, b| {
                let c = if !alpha {
                    a.1.partial_cmp(&b.1)
                        .filter(|c| *c != Ordering::Equal)
                        .unwrap_or_else(|| a.0.as_bytes().cmp(b.0.as_bytes()))
                } else if has_by {
                    a.2.cmp(&b.2)
                } else {
                    a.0.as_bytes().cmp(b.0.as_bytes())
                };
                if o.desc {
                    c.reverse()
                } else {
                    c
                }
            });
            items = keyed.into_iter().map(|k| k.0).collect();
        }
        let mut out = Vec::new();
        if end >= start {
            for e in &items[start as usize..=end as usize] {
                if o.gets.is_empty() {
                    out.push(Some(e.clone()));
                }
                for g in &o.gets {
                    out.push(self.lookup(g, e));
                }
            }
        }
        Ok(out)
    }
}

fn bulk_array(items: &[Option<String>], resp3: bool) -> Vec<u8> {
    let mut v = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        match i {
            Some(s) => v.extend(format!("${}\r\n{s}\r\n", s.len()).into_bytes()),
            None if resp3 => v.extend(b"_\r\n"),
            None => v.extend(b"$-1\r\n"),
        }
    }
    v
}

struct Pair {
    ember: RespConn,
    redis: RespConn,
}

impl Pair {
    fn both(&mut self, args: &[String]) -> Vec<u8> {
        let e = self.ember.command(args).expect("ember reply");
        let r = self.redis.command(args).expect("redis reply");
        assert_eq!(escape(&e), escape(&r), "ember vs redis: {args:?}");
        e
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn random_case(rng: &mut Rng) -> Case {
    let kind = [Kind::List, Kind::Set, Kind::ZSet][rng.below(3) as usize];
    let numeric = rng.chance(60);
    let n = rng.range(0, 25) as usize;
    let mut elems: Vec<String> = Vec::new();
    for _ in 0..n {
        let e = if numeric {
            match rng.below(4) {
                0 => format!("{}.{}", rng.range(-30, 30), rng.range(0, 9)),
                _ => rng.range(-60, 60).to_string(),
            }
        } else {
            let words = [
                "apple", "b", "Banana", "cherry", "", "10", "9", "zz", "a b", "Z",
            ];
            format!(
                "{}{}",
                words[rng.below(words.len() as u64) as usize],
                rng.range(0, 3)
            )
        };
        // Lists may repeat elements; sets and sorted sets may not.
        if kind == Kind::List || !elems.contains(&e) {
            elems.push(e);
        }
    }
    let mut case = Case {
        kind,
        elems,
        strings: HashMap::new(),
        hashes: HashMap::new(),
    };
    // Unique weights so ALPHA BY orders never depend on ties.
    let mut used = std::collections::HashSet::new();
    for e in case.elems.clone() {
        if rng.chance(80) {
            let mut w;
            loop {
                w = if rng.chance(50) {
                    rng.range(-1000, 1000).to_string()
                } else {
                    format!("{}.{:03}", rng.range(-99, 99), rng.range(0, 999))
                };
                if used.insert(w.clone()) {
                    break;
                }
            }
            case.strings.insert(format!("w_{e}"), w.clone());
            let mut h = HashMap::new();
            h.insert(s("f"), w);
            h.insert(s("name"), format!("name-{e}"));
            case.hashes.insert(format!("h_{e}"), h);
        }
        if rng.chance(70) {
            case.strings.insert(format!("d_{e}"), format!("data-{e}"));
        }
    }
    case
}

#[test]
fn random_sorts_match_the_model_and_redis() {
    let ember_server = ServerProcess::start_ember(&[]);
    let redis_server = ServerProcess::start_redis(&[]);
    let mut p = Pair {
        ember: ember_server.connect(),
        redis: redis_server.connect(),
    };
    for seed in 1..=150u64 {
        let mut rng = Rng::new(seed);
        p.both(&[s("FLUSHALL")]);
        let mut case = random_case(&mut rng);
        if !case.elems.is_empty() {
            let mut args = vec![];
            match case.kind {
                Kind::List => {
                    args.push(s("RPUSH"));
                    args.push(s("k"));
                    args.extend(case.elems.iter().cloned());
                }
                Kind::Set => {
                    args.push(s("SADD"));
                    args.push(s("k"));
                    args.extend(case.elems.iter().cloned());
                }
                Kind::ZSet => {
                    args.push(s("ZADD"));
                    args.push(s("k"));
                    let mut scored: Vec<(i64, String)> = Vec::new();
                    for e in &case.elems {
                        let sc = rng.range(0, 5);
                        args.push(sc.to_string());
                        args.push(e.clone());
                        scored.push((sc, e.clone()));
                    }
                    // Native order: by score, then member bytes.
                    scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.as_bytes().cmp(b.1.as_bytes())));
                    case.elems = scored.into_iter().map(|x| x.1).collect();
                }
            }
            p.both(&args);
        }
        for (k, v) in &case.strings {
            p.both(&[s("SET"), k.clone(), v.clone()]);
        }
        for (k, h) in &case.hashes {
            let mut args = vec![s("HSET"), k.clone()];
            for (f, v) in h {
                args.push(f.clone());
                args.push(v.clone());
            }
            p.both(&args);
        }
        let numeric_elems = case.elems.iter().all(|e| e.parse::<f64>().is_ok());
        for _ in 0..12 {
            let mut o = Opts::default();
            if rng.chance(50) {
                let pats = ["w_*", "nosort", "h_*->f", "missing_*"];
                o.by = Some(s(pats[rng.below(pats.len() as u64) as usize]));
            }
            if rng.chance(40) {
                o.limit = Some((rng.range(-2, 30), rng.range(-2, 10)));
            }
            for _ in 0..rng.below(3) {
                let pats = ["#", "d_*", "w_*", "h_*->name", "h_*->f", "nope"];
                o.gets.push(s(pats[rng.below(pats.len() as u64) as usize]));
            }
            o.desc = rng.chance(40);
            o.alpha = rng.chance(40) || (!numeric_elems && o.by.is_none());
            o.store = rng.chance(25);
            let readonly = !o.store && rng.chance(30);
            let nosort = o.by.as_deref() == Some("nosort");
            // Skip what Redis leaves to hash order or to its unstable partial sort.
            if case.kind == Kind::Set && nosort && !o.store {
                continue;
            }
            if o.alpha && o.by.as_deref() == Some("missing_*") && case.kind != Kind::List {
                continue;
            }
            if o.alpha
                && o.by.is_some()
                && !nosort
                && (o.limit.is_some() || case.kind != Kind::List)
                && case
                    .elems
                    .iter()
                    .any(|e| case.lookup(o.by.as_deref().unwrap_or(""), e).is_none())
            {
                continue;
            }
            let mut args = vec![s(if readonly { "SORT_RO" } else { "SORT" }), s("k")];
            if let Some(b) = &o.by {
                args.push(s("BY"));
                args.push(b.clone());
            }
            if let Some((a, b)) = o.limit {
                args.push(s("LIMIT"));
                args.push(a.to_string());
                args.push(b.to_string());
            }
            for g in &o.gets {
                args.push(s("GET"));
                args.push(g.clone());
            }
            if o.desc {
                args.push(s("DESC"));
            }
            if o.alpha {
                args.push(s("ALPHA"));
            }
            if o.store {
                args.push(s("STORE"));
                args.push(s("dst"));
            }
            let got = p.both(&args);
            let ctx = format!("seed {seed} {:?}: {args:?}", case.kind);
            match case.sort(&o) {
                Err(msg) => assert_eq!(
                    escape(&got),
                    escape(format!("-{msg}\r\n").as_bytes()),
                    "{ctx}"
                ),
                Ok(items) if o.store => {
                    assert_eq!(
                        escape(&got),
                        escape(format!(":{}\r\n", items.len()).as_bytes()),
                        "{ctx}"
                    );
                    let stored = p.both(&[s("LRANGE"), s("dst"), s("0"), s("-1")]);
                    let want: Vec<Option<String>> = items
                        .into_iter()
                        .map(|i| Some(i.unwrap_or_default()))
                        .collect();
                    assert_eq!(
                        escape(&stored),
                        escape(&bulk_array(&want, false)),
                        "{ctx} (stored)"
                    );
                }
                Ok(items) => {
                    assert_eq!(escape(&got), escape(&bulk_array(&items, false)), "{ctx}");
                }
            }
        }
    }
}
