//! Randomized differential test of the GEO commands: seeded random point sets (spread over the
//! world, clustered around one place, hugging the poles' band edges or the antimeridian, with
//! members sharing a position so that distance ties occur, small listpack sets and large
//! skiplist ones, now and then members whose scores came from ZADD) are loaded into
//! `ember-server` and `redis-server`, then random queries run on both and every reply is
//! compared byte for byte: GEORADIUS[BYMEMBER][_RO] and
//! GEOSEARCH with random centres, radii and boxes over many magnitudes and every unit, WITH*
//! options, ASC/DESC, COUNT [ANY]; STORE / STOREDIST / GEOSEARCHSTORE read back with ZRANGE
//! WITHSCORES; GEODIST, GEOPOS, GEOHASH; half of the seeds in RESP3. Fixed seeds; bounded to a
//! few thousand commands. The test also checks that a third of the searches found something, so it cannot
//! pass by comparing only empty replies or errors.

#[path = "common/mod.rs"]
mod common;

use common::{escape, Protocol, RespConn, Rng, ServerProcess};

struct Pair {
    ember: RespConn,
    redis: RespConn,
}

impl Pair {
    /// Runs `args` on both servers; panics with the seed when the replies differ.
    fn both(&mut self, seed: u64, args: &[String]) -> Vec<u8> {
        let r = self.redis.command(args).expect("redis reply");
        let e = self.ember.command(args).expect("ember reply");
        assert_eq!(
            escape(&e),
            escape(&r),
            "seed {seed}: ember (left) vs redis (right) for {args:?}"
        );
        e
    }
}

/// A uniform double in [lo, hi].
fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
}

/// A coordinate as a client would type it: a few decimals, or every digit.
fn coord_text(rng: &mut Rng, v: f64) -> String {
    match rng.below(4) {
        0 => format!("{v}"),
        1 => format!("{v:.6}"),
        2 => format!("{v:.2}"),
        _ => format!("{v:.9}"),
    }
}

const LAT_MAX: f64 = 85.05112878;

/// A random position of the seed's flavour.
fn random_point(rng: &mut Rng, flavour: u64, center: (f64, f64)) -> (f64, f64) {
    let (lon, lat) = match flavour {
        // Anywhere.
        0 => (uniform(rng, -180.0, 180.0), uniform(rng, -LAT_MAX, LAT_MAX)),
        // Around one place, within about a degree.
        1 => (
            center.0 + uniform(rng, -1.0, 1.0),
            center.1 + uniform(rng, -1.0, 1.0),
        ),
        // Near the band's northern or southern edge.
        2 => {
            let lat = uniform(rng, 75.0, LAT_MAX);
            (
                uniform(rng, -180.0, 180.0),
                if rng.chance(50) { lat } else { -lat },
            )
        }
        // Either side of the antimeridian.
        _ => {
            let lon = uniform(rng, 175.0, 180.0);
            (
                if rng.chance(50) { lon } else { -lon },
                uniform(rng, -60.0, 60.0),
            )
        }
    };
    (lon.clamp(-180.0, 180.0), lat.clamp(-LAT_MAX, LAT_MAX))
}

/// A distance of any magnitude from a millimetre to beyond the Earth's size, and a unit.
fn random_distance(rng: &mut Rng) -> (String, &'static str) {
    let unit = *rng.pick(&["m", "km", "mi", "ft", "KM", "M"]);
    let meters = 10f64.powf(uniform(rng, -3.0, 7.5));
    let per_unit = match unit {
        "m" | "M" => 1.0,
        "km" | "KM" => 1000.0,
        "mi" => 1609.34,
        _ => 0.3048,
    };
    let v = meters / per_unit;
    let text = match rng.below(5) {
        0 => "0".to_string(),
        1 => format!("{:.0}", v.max(1.0)),
        _ => format!("{v:.4}"),
    };
    (text, unit)
}

/// The random tail of a search: WITH* options, order and COUNT, shuffled.
fn search_options(rng: &mut Rng, store: bool) -> Vec<String> {
    let mut opts: Vec<Vec<String>> = Vec::new();
    if !store {
        for w in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if rng.chance(40) {
                opts.push(vec![w.to_string()]);
            }
        }
    }
    match rng.below(3) {
        0 => opts.push(vec!["ASC".into()]),
        1 => opts.push(vec!["DESC".into()]),
        _ => {}
    }
    if rng.chance(45) {
        let n = if rng.chance(50) {
            rng.range(1, 5)
        } else {
            rng.range(1, 150)
        };
        let mut c = vec!["COUNT".to_string(), n.to_string()];
        if rng.chance(30) {
            c.push("ANY".into());
        }
        opts.push(c);
    }
    // Option order does not matter to Redis; shuffle to check it does not to Ember either.
    for i in (1..opts.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        opts.swap(i, j);
    }
    opts.into_iter().flatten().collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn random_geo_queries_match_redis() {
    let ember_server = ServerProcess::start_ember(&[]);
    let redis_server = ServerProcess::start_redis(&[]);
    let mut p = Pair {
        ember: ember_server.connect(),
        redis: redis_server.connect(),
    };
    let (mut searches, mut nonempty) = (0u32, 0u32);
    for seed in 1..=48u64 {
        let mut rng = Rng::new(seed);
        p.both(seed, &[s("FLUSHALL")]);
        let resp3 = seed % 2 == 0;
        let proto = if resp3 { "3" } else { "2" };
        let mode = if resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        // HELLO's reply (which holds the client id) comes in the new protocol.
        for conn in [&mut p.redis, &mut p.ember] {
            conn.send(&["HELLO", proto]).expect("HELLO");
            conn.set_protocol(mode);
            conn.read_reply().expect("HELLO reply");
        }

        let flavour = rng.below(4);
        let center = (
            uniform(&mut rng, -170.0, 170.0),
            uniform(&mut rng, -70.0, 70.0),
        );
        let n = if rng.chance(30) {
            rng.range(129, 400)
        } else {
            rng.range(1, 60)
        } as usize;
        let mut points: Vec<(String, String, String)> = Vec::with_capacity(n);
        for i in 0..n {
            // One member in five shares the position of an earlier one: distance ties.
            let (lon, lat) = if i > 0 && rng.chance(20) {
                let j = rng.below(i as u64) as usize;
                (points[j].0.clone(), points[j].1.clone())
            } else {
                let (lon, lat) = random_point(&mut rng, flavour, center);
                (coord_text(&mut rng, lon), coord_text(&mut rng, lat))
            };
            points.push((lon, lat, format!("m{i}")));
        }
        for chunk in points.chunks(50) {
            let mut args = vec![s("GEOADD"), s("g")];
            if rng.chance(15) {
                args.push(s(if rng.chance(50) { "NX" } else { "CH" }));
            }
            for (lon, lat, m) in chunk {
                args.extend([lon.clone(), lat.clone(), m.clone()]);
            }
            p.both(seed, &args);
        }
        // Scores straight from ZADD: any 52-bit integer is a cell; some are not integers.
        if rng.chance(25) {
            let mut args = vec![s("ZADD"), s("g")];
            for i in 0..20 {
                let score = match rng.below(6) {
                    0 => format!("{}.5", rng.below(1 << 52)),
                    1 => format!("-{}", rng.below(1000)),
                    _ => rng.below(1 << 52).to_string(),
                };
                args.extend([score, format!("z{i}")]);
            }
            p.both(seed, &args);
        }
        p.both(seed, &[s("ZCARD"), s("g")]);
        p.both(seed, &[s("OBJECT"), s("ENCODING"), s("g")]);

        for q in 0..40 {
            let member = format!("m{}", rng.below(n as u64 + 2));
            let (clon, clat) = if rng.chance(70) {
                random_point(&mut rng, flavour, center)
            } else {
                random_point(&mut rng, 0, center)
            };
            let (clon, clat) = (coord_text(&mut rng, clon), coord_text(&mut rng, clat));
            let (dist, unit) = random_distance(&mut rng);
            let kind = rng.below(9);
            let store = kind == 7 || kind == 8;
            let mut args: Vec<String> = match kind {
                0 | 7 => vec![s("GEORADIUS"), s("g"), clon, clat, dist, s(unit)],
                1 => vec![s("GEORADIUS_RO"), s("g"), clon, clat, dist, s(unit)],
                2 | 8 => vec![
                    s("GEORADIUSBYMEMBER"),
                    s("g"),
                    member.clone(),
                    dist,
                    s(unit),
                ],
                3 => vec![
                    s("GEORADIUSBYMEMBER_RO"),
                    s("g"),
                    member.clone(),
                    dist,
                    s(unit),
                ],
                _ => {
                    let mut a = vec![s("GEOSEARCH"), s("g")];
                    if rng.chance(50) {
                        a.extend([s("FROMMEMBER"), member.clone()]);
                    } else {
                        a.extend([s("FROMLONLAT"), clon, clat]);
                    }
                    if rng.chance(50) {
                        a.extend([s("BYRADIUS"), dist, s(unit)]);
                    } else {
                        let (h, _) = random_distance(&mut rng);
                        a.extend([s("BYBOX"), dist, h, s(unit)]);
                    }
                    a
                }
            };
            // GEOSEARCHSTORE now and then instead of GEOSEARCH.
            let searchstore = kind >= 4 && kind <= 6 && rng.chance(30);
            if searchstore {
                args[0] = s("GEOSEARCHSTORE");
                args.insert(1, s("dst"));
            }
            args.extend(search_options(&mut rng, store || searchstore));
            if store {
                args.extend([
                    s(if rng.chance(50) { "STORE" } else { "STOREDIST" }),
                    s("dst"),
                ]);
            } else if searchstore && rng.chance(50) {
                args.push(s("STOREDIST"));
            }
            let reply = p.both(seed, &args);
            searches += 1;
            let empty: &[u8] = b"*0\r\n";
            if reply != empty && !reply.starts_with(b"-") && reply != b":0\r\n" {
                nonempty += 1;
            }
            if store || searchstore {
                p.both(
                    seed,
                    &[s("ZRANGE"), s("dst"), s("0"), s("-1"), s("WITHSCORES")],
                );
            }
            if q % 4 == 0 {
                let other = format!("m{}", rng.below(n as u64 + 2));
                let u = *rng.pick(&["m", "km", "mi", "ft"]);
                p.both(
                    seed,
                    &[s("GEODIST"), s("g"), member.clone(), other.clone(), s(u)],
                );
                p.both(seed, &[s("GEOPOS"), s("g"), member.clone(), other.clone()]);
                p.both(seed, &[s("GEOHASH"), s("g"), member, other]);
            }
        }
    }
    eprintln!("geo_random: {searches} searches, {nonempty} found something");
    assert!(
        nonempty * 3 > searches,
        "only {nonempty} of {searches} searches found anything: the queries are too narrow"
    );
}
