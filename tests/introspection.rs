//! SLOWLOG's recorded entries, whose durations and times differ between runs: the same
//! commands on Ember and on redis-server, with the same assertions on both, and the entries
//! compared with their id, time and duration masked.

#[path = "common/mod.rs"]
mod common;

use common::{integer_value, split_aggregate, Protocol, RespConn, ServerProcess};

fn cmd(c: &mut RespConn, args: &[&[u8]]) -> Vec<u8> {
    c.send(args).expect("send");
    c.read_reply().expect("reply")
}

/// SLOWLOG GET -1 with each entry's id, time and duration checked and replaced by a placeholder.
fn masked_slowlog(c: &mut RespConn, peer: &str) -> Vec<Vec<Vec<u8>>> {
    let reply = cmd(c, &[b"SLOWLOG", b"GET", b"-1"]);
    let (_, entries) = split_aggregate(&reply, Protocol::Resp2).expect("array");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for e in entries {
        let (_, f) = split_aggregate(e, Protocol::Resp2).expect("entry");
        assert_eq!(f.len(), 6, "an entry has 6 fields");
        ids.push(integer_value(f[0]).expect("id"));
        let t = integer_value(f[1]).expect("time");
        assert!((now - 10..=now + 1).contains(&t), "time {t} vs now {now}");
        assert!(integer_value(f[2]).expect("duration") >= 0);
        let addr = format!("${}\r\n{peer}\r\n", peer.len());
        assert_eq!(f[4], addr.as_bytes(), "client addr:port");
        out.push(vec![f[3].to_vec(), f[5].to_vec()]);
    }
    // Newest first, ids consecutive.
    for w in ids.windows(2) {
        assert_eq!(w[0], w[1] + 1, "ids {ids:?}");
    }
    out
}

fn run(server: &ServerProcess) -> Vec<Vec<Vec<u8>>> {
    let mut c = server.connect();
    let peer = {
        let r = cmd(&mut c, &[b"CLIENT", b"INFO"]);
        let text = String::from_utf8_lossy(&r).to_string();
        let addr = text
            .split(' ')
            .find_map(|f| f.strip_prefix("addr="))
            .expect("addr field")
            .to_string();
        addr
    };
    cmd(
        &mut c,
        &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"],
    );
    cmd(&mut c, &[b"SLOWLOG", b"RESET"]);
    cmd(&mut c, &[b"CLIENT", b"SETNAME", b"slowpoke"]);
    let long = [b'x'; 200];
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"list"];
    rpush.extend(std::iter::repeat_n(&long[..], 38));
    cmd(&mut c, &rpush);
    cmd(&mut c, &[b"AUTH", b"secret"]);
    cmd(&mut c, &[b"HELLO", b"2", b"AUTH", b"default", b"pw"]);
    cmd(&mut c, &[b"GET"]); // rejected: not logged
    cmd(&mut c, &[b"NOSUCHCOMMAND"]); // not logged
    cmd(&mut c, &[b"MULTI"]);
    cmd(&mut c, &[b"SET", b"a", b"1"]);
    cmd(&mut c, &[b"INCR", b"a"]);
    cmd(&mut c, &[b"EXEC"]);
    let all = masked_slowlog(&mut c, &peer);
    // max-len trims the log at once and bounds it afterwards.
    cmd(&mut c, &[b"CONFIG", b"SET", b"slowlog-max-len", b"3"]);
    cmd(&mut c, &[b"PING"]);
    assert_eq!(
        integer_value(&cmd(&mut c, &[b"SLOWLOG", b"LEN"])),
        Some(3),
        "{:?}",
        server.kind()
    );
    let got = cmd(&mut c, &[b"SLOWLOG", b"GET", b"1"]);
    assert_eq!(
        split_aggregate(&got, Protocol::Resp2).map(|(_, e)| e.len()),
        Some(1)
    );
    cmd(
        &mut c,
        &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"],
    );
    cmd(&mut c, &[b"SLOWLOG", b"RESET"]);
    cmd(&mut c, &[b"PING"]);
    assert_eq!(integer_value(&cmd(&mut c, &[b"SLOWLOG", b"LEN"])), Some(0));
    all
}

#[test]
fn slowlog_entries_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let want = run(&redis);
    let got = run(&ember);
    let show = |v: &Vec<Vec<Vec<u8>>>| {
        v.iter()
            .map(|e| format!("{} {}", common::escape(&e[0]), common::escape(&e[1])))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(show(&got), show(&want));
    // The RPUSH entry: 32 slots, the last counting the rest, arguments cut at 128 bytes.
    assert!(show(&want).contains("... (9 more arguments)"));
    assert!(show(&want).contains("... (72 more bytes)"));
}

/// INFO commandstats without the timing fields: name -> "calls,rejected_calls,failed_calls".
fn commandstats(c: &mut RespConn) -> std::collections::BTreeMap<String, String> {
    let reply = cmd(c, &[b"INFO", b"commandstats"]);
    let text = String::from_utf8_lossy(&reply).to_string();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let kept: Vec<&str> = fields
            .split(',')
            .filter(|f| !f.starts_with("usec"))
            .collect();
        out.insert(name.to_string(), kept.join(","));
    }
    out
}

fn error_counts(server: &ServerProcess) -> (std::collections::BTreeMap<String, String>, String) {
    let mut c = server.connect();
    cmd(&mut c, &[b"CONFIG", b"RESETSTAT"]);
    cmd(&mut c, &[b"SET", b"s", b"v"]);
    cmd(&mut c, &[b"LPUSH", b"s", b"x"]); // failed
    cmd(&mut c, &[b"GET"]); // rejected
    cmd(
        &mut c,
        &[b"EVAL", b"return redis.error_reply('MYERR x')", b"0"],
    ); // failed
    cmd(&mut c, &[b"EVAL", b"return 1", b"0"]);
    cmd(&mut c, &[b"MULTI"]);
    cmd(&mut c, &[b"INCR", b"s"]);
    cmd(&mut c, &[b"EXEC"]); // EXEC itself not failed
    cmd(&mut c, &[b"MULTI"]);
    cmd(&mut c, &[b"SUBSCRIBE", b"c"]); // allowed in MULTI? queued or rejected alike on both
    cmd(&mut c, &[b"DISCARD"]);
    let stats = cmd(&mut c, &[b"INFO", b"stats"]);
    let total = String::from_utf8_lossy(&stats)
        .lines()
        .find(|l| l.starts_with("total_error_replies:"))
        .expect("total_error_replies")
        .to_string();
    let mut map = commandstats(&mut c);
    // Only the commands this test ran, not the harness's own.
    map.retain(|k, _| {
        !matches!(
            k.as_str(),
            "config|resetstat" | "info" | "client|info" | "hello"
        )
    });
    (map, total)
}

#[test]
fn error_counters_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let want = error_counts(&redis);
    let got = error_counts(&ember);
    assert_eq!(got, want);
    assert_eq!(
        want.0.get("lpush").map(|s| s.as_str()),
        Some("calls=1,rejected_calls=0,failed_calls=1")
    );
}

/// LATENCY LATEST and HISTORY after slow commands, with times and milliseconds checked
/// by range: event names, field counts and per-second aggregation must match.
/// A script that busy-waits `ms` milliseconds (the same slow command on both servers).
fn busy(c: &mut RespConn, ms: u32) {
    let script = format!(
        "local t=redis.call('time') local s=t[1]*1000000+t[2] \
         while true do local u=redis.call('time') \
         if u[1]*1000000+u[2]-s > {} then break end end return 1",
        ms * 1000
    );
    cmd(c, &[b"EVAL", script.as_bytes(), b"0"]);
}

fn latency_shape(server: &ServerProcess) -> Vec<String> {
    let mut c = server.connect();
    cmd(&mut c, &[b"LATENCY", b"RESET"]);
    cmd(
        &mut c,
        &[b"CONFIG", b"SET", b"latency-monitor-threshold", b"30"],
    );
    // A threshold well above what a GET takes on a loaded test machine, so
    // only the script is an event.
    busy(&mut c, 60); // a "command" event
    cmd(&mut c, &[b"GET", b"k"]); // fast and quick: no event
    let latest = cmd(&mut c, &[b"LATENCY", b"LATEST"]);
    let (_, events) = split_aggregate(&latest, Protocol::Resp2).expect("array");
    let mut out = Vec::new();
    for e in events {
        let (_, f) = split_aggregate(e, Protocol::Resp2).expect("event");
        assert_eq!(f.len(), 4);
        let ms = integer_value(f[2]).expect("latest ms");
        assert!((60..2000).contains(&ms), "latest {ms}");
        assert_eq!(integer_value(f[3]), Some(ms), "max");
        let name = common::string_value(f[0]).expect("event name");
        out.push(String::from_utf8_lossy(name).to_string());
    }
    let history = cmd(&mut c, &[b"LATENCY", b"HISTORY", b"command"]);
    let (_, samples) = split_aggregate(&history, Protocol::Resp2).expect("array");
    out.push(format!("history {}", samples.len()));
    assert_eq!(
        integer_value(&cmd(&mut c, &[b"LATENCY", b"RESET", b"command", b"x"])),
        Some(1)
    );
    cmd(
        &mut c,
        &[b"CONFIG", b"SET", b"latency-monitor-threshold", b"0"],
    );
    busy(&mut c, 20);
    assert_eq!(cmd(&mut c, &[b"LATENCY", b"LATEST"]), b"*0\r\n");
    out
}

#[test]
fn latency_events_match_redis() {
    let redis = ServerProcess::start_redis(&[]);
    let ember = ServerProcess::start_ember(&[]);
    let want = latency_shape(&redis);
    assert_eq!(want, ["command", "history 1"]);
    assert_eq!(latency_shape(&ember), want);
}

/// `latency-tracking`: the same commands on both servers give LATENCY HISTOGRAM replies of the
/// same shape (calls counted exactly, a cumulative distribution over doubling microsecond
/// levels ending at the call count) and INFO latencystats lines with the configured percentiles.
#[test]
fn latency_tracking_matches_redis_in_shape() {
    for server in [
        ServerProcess::start_redis(&[]),
        ServerProcess::start_ember(&[]),
    ] {
        let mut c = server.connect();
        let who = server.kind().name();
        for i in 0..50 {
            cmd(&mut c, &[b"SET", b"k", format!("{i}").as_bytes()]);
        }
        cmd(
            &mut c,
            &[
                b"CONFIG",
                b"SET",
                b"latency-tracking-info-percentiles",
                b"25 99.5",
            ],
        );
        let h = cmd(&mut c, &[b"LATENCY", b"HISTOGRAM", b"set", b"nosuch"]);
        let (_, top) = split_aggregate(&h, Protocol::Resp2).expect("map");
        assert_eq!(top.len(), 2, "{who}: one command");
        assert_eq!(top[0], b"$3\r\nset\r\n");
        let (_, fields) = split_aggregate(top[1], Protocol::Resp2).expect("fields");
        assert_eq!(fields[0], b"$5\r\ncalls\r\n");
        assert_eq!(integer_value(fields[1]), Some(50), "{who}");
        assert_eq!(fields[2], b"$14\r\nhistogram_usec\r\n");
        let (_, cdf) = split_aggregate(fields[3], Protocol::Resp2).expect("cdf");
        let nums: Vec<i64> = cdf.iter().map(|x| integer_value(x).expect("int")).collect();
        assert!(!nums.is_empty() && nums.len().is_multiple_of(2), "{who}");
        for w in nums.chunks(2).collect::<Vec<_>>().windows(2) {
            assert!(
                w[0][0] < w[1][0] && w[0][1] < w[1][1],
                "{who}: increasing {nums:?}"
            );
        }
        assert_eq!(nums[nums.len() - 1], 50, "{who}: ends at the call count");
        let info = String::from_utf8_lossy(&cmd(&mut c, &[b"INFO", b"latencystats"])).to_string();
        let line = info
            .lines()
            .find(|l| l.starts_with("latency_percentiles_usec_set:"))
            .unwrap_or_else(|| panic!("{who}: {info}"));
        let fields: Vec<&str> = line.split(':').nth(1).expect("values").split(',').collect();
        assert_eq!(fields.len(), 2, "{who}: {line}");
        assert!(
            fields[0].starts_with("p25=") && fields[1].starts_with("p99.5="),
            "{line}"
        );
        for f in fields {
            let v = f.split('=').nth(1).expect("value");
            assert!(v.parse::<f64>().is_ok() && v.split('.').nth(1).map(str::len) == Some(3));
        }
        // CONFIG RESETSTAT forgets the samples.
        cmd(&mut c, &[b"CONFIG", b"RESETSTAT"]);
        let h = cmd(&mut c, &[b"LATENCY", b"HISTOGRAM", b"set"]);
        assert_eq!(h, b"*0\r\n", "{who}");
    }
}

/// LATENCY GRAPH and DOCTOR over real spikes (DEBUG SLEEP): the same lines on both servers
/// once the millisecond figures are masked.
#[test]
fn latency_graph_and_doctor_match_redis_in_shape() {
    let mask = |s: &str| -> String {
        s.chars()
            .map(|ch| if ch.is_ascii_digit() { '9' } else { ch })
            .collect::<String>()
            .lines()
            // Ember's process may use transparent huge pages where Redis's does not.
            .filter(|l| !l.contains("anonymous huge pages"))
            .map(|l| {
                let mut l = l.to_string();
                while l.contains("99") {
                    l = l.replace("99", "9");
                }
                l
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = Vec::new();
    for server in [
        ServerProcess::start_redis(&[("enable-debug-command", "yes")]),
        ServerProcess::start_ember(&[("enable-debug-command", "yes")]),
    ] {
        let mut c = server.connect();
        cmd(
            &mut c,
            &[b"CONFIG", b"SET", b"latency-monitor-threshold", b"5"],
        );
        cmd(&mut c, &[b"DEBUG", b"SLEEP", b"0.02"]);
        let graph = cmd(&mut c, &[b"LATENCY", b"GRAPH", b"command"]);
        let doctor = cmd(&mut c, &[b"LATENCY", b"DOCTOR"]);
        let text =
            |r: &[u8]| String::from_utf8_lossy(common::string_value(r).expect("bulk")).to_string();
        out.push((mask(&text(&graph)), mask(&text(&doctor))));
    }
    assert_eq!(out[0].0, out[1].0, "GRAPH, redis (left) vs ember (right)");
    assert_eq!(out[0].1, out[1].1, "DOCTOR, redis (left) vs ember (right)");
    assert!(
        out[0].1.contains("9. command: 9 latency spikes"),
        "{}",
        out[0].1
    );
}
