//! The commands on the SDK's simulated host: replies and error texts as RedisBloom 2.8 gives
//! them, key handling, and the dump round trip.

use super::*;
use ember_guest_sdk::testing;

fn run(argv: &[&str]) -> Result<Reply> {
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    EMBER_MODULE.run(&argv)
}

fn ok(argv: &[&str]) -> Reply {
    run(argv).unwrap_or_else(|e| panic!("{argv:?}: {}", e.text()))
}

fn err(argv: &[&str]) -> String {
    match run(argv) {
        Err(e) => e.0,
        Ok(Reply::Error(e)) => e,
        Ok(r) => panic!("{argv:?}: expected an error, got {r:?}"),
    }
}

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&v| Reply::Int(v)).collect())
}

/// A value of another module type at `key`, as the host reports a string key (-2).
fn put_other_type(key: &str) {
    testing::set_value(key.as_bytes(), 7, b"not a filter");
}

#[test]
fn add_and_exists() {
    testing::reset();
    assert_eq!(ok(&["bf.add", "bf", "item1"]), Reply::Int(1));
    assert_eq!(ok(&["bf.add", "bf", "item1"]), Reply::Int(0));
    assert_eq!(ok(&["bf.exists", "bf", "item1"]), Reply::Int(1));
    assert_eq!(ok(&["bf.exists", "bf", "item2"]), Reply::Int(0));
    assert_eq!(ok(&["BF.EXISTS", "nokey", "item1"]), Reply::Int(0));
    assert_eq!(ok(&["bf.madd", "bf", "a", "item1", "b"]), ints(&[1, 0, 1]));
    assert_eq!(ok(&["bf.mexists", "bf", "a", "zz", "b"]), ints(&[1, 0, 1]));
    assert_eq!(ok(&["bf.mexists", "nokey", "a", "b"]), ints(&[0, 0]));
    assert_eq!(ok(&["bf.card", "bf"]), Reply::Int(3));
    assert_eq!(ok(&["bf.card", "nokey"]), Reply::Int(0));
    // The value is the filter type's.
    assert!(testing::value(b"bf", TYPE_ID).is_some());
}

#[test]
fn wrong_type() {
    testing::reset();
    put_other_type("s");
    let wrongtype = Error::wrong_type().0;
    assert_eq!(err(&["bf.add", "s", "x"]), wrongtype);
    assert_eq!(err(&["bf.madd", "s", "x"]), wrongtype);
    assert_eq!(err(&["bf.insert", "s", "ITEMS", "x"]), wrongtype);
    assert_eq!(err(&["bf.reserve", "s", "0.01", "100"]), wrongtype);
    assert_eq!(err(&["bf.info", "s"]), wrongtype);
    assert_eq!(err(&["bf.card", "s"]), wrongtype);
    assert_eq!(err(&["bf.scandump", "s", "0"]), wrongtype);
    assert_eq!(err(&["bf.loadchunk", "s", "1", "x"]), wrongtype);
    assert_eq!(err(&["bf.debug", "s"]), wrongtype);
    // RedisBloom answers "not there" rather than an error when checking.
    assert_eq!(ok(&["bf.exists", "s", "x"]), Reply::Int(0));
    assert_eq!(ok(&["bf.mexists", "s", "x", "y"]), ints(&[0, 0]));
}

#[test]
fn reserve() {
    testing::reset();
    assert_eq!(ok(&["bf.reserve", "r", "0.001", "1000"]), Reply::ok());
    assert_eq!(
        err(&["bf.reserve", "r", "0.001", "1000"]),
        "ERR item exists"
    );
    assert_eq!(
        ok(&["bf.info", "r"]).into_array().expect("array")[..2],
        [Reply::Status("Capacity".into()), Reply::Int(1000)]
    );
    assert_eq!(
        ok(&["bf.reserve", "r2", "0.01", "10", "EXPANSION", "4"]),
        Reply::ok()
    );
    assert_eq!(ok(&["bf.info", "r2", "expansion"]), ints(&[4]));
    assert_eq!(
        ok(&["bf.reserve", "r3", "0.01", "10", "nonscaling"]),
        Reply::ok()
    );
    assert_eq!(
        ok(&["bf.info", "r3", "EXPANSION"]),
        Reply::Array(vec![Reply::Nil])
    );
    // Unknown extra words are ignored, as in RedisBloom.
    assert_eq!(
        ok(&["bf.reserve", "r4", "0.01", "10", "whatever"]),
        Reply::ok()
    );
    // A key named like an option is just a key.
    assert_eq!(ok(&["bf.reserve", "expansion", "0.01", "10"]), Reply::ok());
    assert_eq!(ok(&["bf.reserve", "nonscaling", "0.01", "10"]), Reply::ok());
    assert_eq!(ok(&["bf.info", "nonscaling", "expansion"]), ints(&[2]));
}

#[test]
fn reserve_errors() {
    testing::reset();
    let cases: &[(&[&str], &str)] = &[
        (&["bf.reserve", "k", "abc", "100"], "ERR bad error rate"),
        (&["bf.reserve", "k", "nan", "100"], "ERR bad error rate"),
        (
            &["bf.reserve", "k", "1", "100"],
            "ERR (0 < error rate range < 1) ",
        ),
        (
            &["bf.reserve", "k", "0", "100"],
            "ERR (0 < error rate range < 1) ",
        ),
        (
            &["bf.reserve", "k", "-0.5", "100"],
            "ERR (0 < error rate range < 1) ",
        ),
        (
            &["bf.reserve", "k", "inf", "100"],
            "ERR (0 < error rate range < 1) ",
        ),
        (&["bf.reserve", "k", "0.01", "abc"], "ERR bad capacity"),
        (&["bf.reserve", "k", "0.01", "1.5"], "ERR bad capacity"),
        (
            &["bf.reserve", "k", "0.01", "0"],
            "ERR (capacity should be larger than 0)",
        ),
        (
            &["bf.reserve", "k", "0.01", "-3"],
            "ERR (capacity should be larger than 0)",
        ),
        (
            &["bf.reserve", "k", "0.01", "100", "EXPANSION"],
            "ERR no expansion",
        ),
        (
            &[
                "bf.reserve",
                "k",
                "0.01",
                "100",
                "EXPANSION",
                "2",
                "NONSCALING",
            ],
            "Nonscaling filters cannot expand",
        ),
        (
            &["bf.reserve", "k", "0.01", "100", "EXPANSION", "x"],
            "ERR bad expansion",
        ),
        (
            &["bf.reserve", "k", "0.01", "100", "EXPANSION", "0"],
            "ERR expansion should be greater or equal to 1",
        ),
        (
            &["bf.reserve", "k", "0.01", "100", "a", "b", "c", "d"],
            "ERR wrong number of arguments for 'bf.reserve' command",
        ),
        (
            &["bf.reserve", "k", "0.01"],
            "ERR wrong number of arguments for 'bf.reserve' command",
        ),
        (
            &["bf.reserve", "k", "0.01", "1000000000000000"],
            "ERR Insufficient memory to create filter",
        ),
    ];
    for (argv, text) in cases {
        assert_eq!(err(argv), *text, "{argv:?}");
    }
    assert!(testing::value(b"k", TYPE_ID).is_none());
}

#[test]
fn insert_options() {
    testing::reset();
    assert_eq!(
        ok(&[
            "bf.insert",
            "i",
            "CAPACITY",
            "1000",
            "ERROR",
            "0.001",
            "EXPANSION",
            "3",
            "ITEMS",
            "a",
            "b",
            "a"
        ]),
        ints(&[1, 1, 0])
    );
    assert_eq!(
        ok(&["bf.info", "i"]).into_array().expect("array"),
        vec![
            Reply::Status("Capacity".into()),
            Reply::Int(1000),
            Reply::Status("Size".into()),
            Reply::Int(
                ok(&["bf.info", "i", "size"]).into_array().expect("array")[0]
                    .as_int()
                    .expect("int")
            ),
            Reply::Status("Number of filters".into()),
            Reply::Int(1),
            Reply::Status("Number of items inserted".into()),
            Reply::Int(2),
            Reply::Status("Expansion rate".into()),
            Reply::Int(3),
        ]
    );
    // NOCREATE on a missing key.
    assert_eq!(
        err(&["bf.insert", "none", "NOCREATE", "ITEMS", "a"]),
        "ERR not found"
    );
    assert!(testing::value(b"none", TYPE_ID).is_none());
    // NOCREATE on an existing one works.
    assert_eq!(
        ok(&["bf.insert", "i", "nocreate", "items", "c"]),
        ints(&[1])
    );
    // Options by first letter, as RedisBloom parses them.
    assert_eq!(
        ok(&[
            "bf.insert",
            "j",
            "cap",
            "5",
            "e",
            "2",
            "err",
            "0.1",
            "i",
            "x"
        ]),
        ints(&[1])
    );
    assert_eq!(ok(&["bf.info", "j", "capacity"]), ints(&[5]));
    assert_eq!(ok(&["bf.info", "j", "expansion"]), ints(&[2]));
}

#[test]
fn insert_errors() {
    testing::reset();
    let cases: &[(&[&str], &str)] = &[
        (
            &["bf.insert", "k", "ERROR", "x", "ITEMS", "a"],
            "Bad error rate",
        ),
        (
            &["bf.insert", "k", "CAPACITY", "x", "ITEMS", "a"],
            "Bad capacity",
        ),
        (
            &["bf.insert", "k", "EXPANSION", "x", "ITEMS", "a"],
            "Bad expansion",
        ),
        (
            &["bf.insert", "k", "FOO", "ITEMS", "a"],
            "Unknown argument received",
        ),
        (
            &["bf.insert", "k", "", "ITEMS", "a"],
            "Unknown argument received",
        ),
        (
            &["bf.insert", "k", "ERROR", "1", "ITEMS", "a"],
            "Bad argument received",
        ),
        (
            &["bf.insert", "k", "ERROR", "0", "ITEMS", "a"],
            "Bad argument received",
        ),
        (
            &["bf.insert", "k", "CAPACITY", "0", "ITEMS", "a"],
            "Bad argument received",
        ),
        (
            &["bf.insert", "k", "EXPANSION", "0", "ITEMS", "a"],
            "Bad argument received",
        ),
        (
            &["bf.insert", "k", "CAPACITY", "10", "ITEMS"],
            "ERR wrong number of arguments for 'bf.insert' command",
        ),
        (
            &["bf.insert", "k", "CAPACITY", "10", "NONSCALING"],
            "ERR wrong number of arguments for 'bf.insert' command",
        ),
        (
            &["bf.insert", "k", "NONSCALING", "CAPACITY"],
            "ERR wrong number of arguments for 'bf.insert' command",
        ),
        (
            &["bf.insert", "k", "ITEMS"],
            "ERR wrong number of arguments for 'bf.insert' command",
        ),
    ];
    for (argv, text) in cases {
        assert_eq!(err(argv), *text, "{argv:?}");
    }
    assert!(testing::value(b"k", TYPE_ID).is_none());
}

#[test]
fn nonscaling_full() {
    testing::reset();
    assert_eq!(
        ok(&["bf.reserve", "n", "0.01", "3", "NONSCALING"]),
        Reply::ok()
    );
    let reply = ok(&["bf.madd", "n", "a", "b", "c", "d", "e"]);
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Int(1),
            Reply::Int(1),
            Reply::Error("ERR non scaling filter is full".into()),
        ])
    );
    assert_eq!(err(&["bf.add", "n", "f"]), "ERR non scaling filter is full");
    // An item already in is still answered.
    assert_eq!(ok(&["bf.add", "n", "a"]), Reply::Int(0));
    assert_eq!(ok(&["bf.card", "n"]), Reply::Int(3));
    // BF.INSERT NONSCALING creates a non-scaling filter.
    assert_eq!(
        ok(&[
            "bf.insert",
            "m",
            "CAPACITY",
            "1",
            "NONSCALING",
            "ITEMS",
            "a",
            "b",
            "c"
        ]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Error("ERR non scaling filter is full".into()),
        ])
    );
}

#[test]
fn scaling() {
    testing::reset();
    let items: Vec<String> = (0..1000).map(|i| format!("item{i}")).collect();
    let mut argv = vec!["bf.madd", "s"];
    argv.extend(items.iter().map(String::as_str));
    ok(&argv);
    assert_eq!(ok(&["bf.info", "s", "filters"]), ints(&[4]));
    assert_eq!(ok(&["bf.info", "s", "capacity"]), ints(&[1500]));
    let card = ok(&["bf.card", "s"]).as_int().expect("int");
    assert!((980..=1000).contains(&card), "{card}");
    argv[0] = "bf.mexists";
    assert_eq!(ok(&argv), ints(&[1; 1000]));
}

#[test]
fn info() {
    testing::reset();
    assert_eq!(err(&["bf.info", "nokey"]), "ERR not found");
    ok(&["bf.add", "f", "x"]);
    assert_eq!(
        ok(&["bf.info", "f"]),
        Reply::Map(vec![
            (Reply::Status("Capacity".into()), Reply::Int(100)),
            (Reply::Status("Size".into()), Reply::Int(240)),
            (Reply::Status("Number of filters".into()), Reply::Int(1)),
            (
                Reply::Status("Number of items inserted".into()),
                Reply::Int(1)
            ),
            (Reply::Status("Expansion rate".into()), Reply::Int(2)),
        ])
    );
    assert_eq!(ok(&["bf.info", "f", "Capacity"]), ints(&[100]));
    assert_eq!(ok(&["bf.info", "f", "SIZE"]), ints(&[240]));
    assert_eq!(ok(&["bf.info", "f", "filters"]), ints(&[1]));
    assert_eq!(ok(&["bf.info", "f", "items"]), ints(&[1]));
    assert_eq!(ok(&["bf.info", "f", "expansion"]), ints(&[2]));
    assert_eq!(err(&["bf.info", "f", "bogus"]), "Invalid information value");
    assert_eq!(
        err(&["bf.info", "f", "capacity", "x"]),
        "ERR wrong number of arguments for 'bf.info' command"
    );
}

#[test]
fn arity_errors_name_the_command_as_typed() {
    testing::reset();
    assert_eq!(
        err(&["BF.RESERVE", "k", "0.1", "10", "1", "2", "3", "4"]),
        "ERR wrong number of arguments for 'BF.RESERVE' command"
    );
    assert_eq!(
        err(&["bf.add", "k"]),
        "ERR wrong number of arguments for 'bf.add' command"
    );
}

#[test]
fn scandump_loadchunk_round_trip() {
    testing::reset();
    ok(&["bf.reserve", "src", "0.01", "20", "EXPANSION", "2"]);
    let items: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let mut argv = vec!["bf.madd", "src"];
    argv.extend(items.iter().map(String::as_str));
    ok(&argv);

    let mut chunks: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut iter = 0i64;
    loop {
        let reply = ok(&["bf.scandump", "src", &iter.to_string()]);
        let parts = reply.into_array().expect("array");
        let next = parts[0].as_int().expect("iterator");
        let data = parts[1].as_bytes().expect("data").to_vec();
        if next == 0 {
            assert!(data.is_empty());
            break;
        }
        chunks.push((next, data));
        iter = next;
    }
    assert_eq!(chunks[0].0, 1, "the header comes first, with iterator 1");
    for (iter, data) in &chunks {
        let argv: Vec<&[u8]> = vec![
            b"bf.loadchunk",
            b"dst",
            iter.to_string().leak().as_bytes(),
            data,
        ];
        assert_eq!(EMBER_MODULE.run(&argv).expect("load"), Reply::ok());
    }
    argv[0] = "bf.mexists";
    argv[1] = "dst";
    assert_eq!(ok(&argv), ints(&[1; 200]));
    assert_eq!(ok(&["bf.info", "dst"]), ok(&["bf.info", "src"]));
    assert_eq!(
        testing::value(b"dst", TYPE_ID),
        testing::value(b"src", TYPE_ID)
    );
}

#[test]
fn scandump_loadchunk_errors() {
    testing::reset();
    assert_eq!(err(&["bf.scandump", "nokey", "0"]), "ERR not found");
    ok(&["bf.add", "f", "x"]);
    assert_eq!(
        err(&["bf.scandump", "f", "x"]),
        "Second argument must be numeric"
    );
    assert_eq!(
        ok(&["bf.scandump", "f", "1000"]),
        Reply::Array(vec![Reply::Int(0), Reply::Bulk(vec![])])
    );
    assert_eq!(
        ok(&["bf.scandump", "f", "-1"]),
        Reply::Array(vec![Reply::Int(0), Reply::Bulk(vec![])])
    );
    assert_eq!(
        err(&["bf.loadchunk", "g", "x", "data"]),
        "ERR Second argument must be numeric"
    );
    assert_eq!(
        err(&["bf.loadchunk", "g", "1", "junk"]),
        "ERR received bad data"
    );
    assert_eq!(err(&["bf.loadchunk", "g", "5", "junk"]), "ERR not found");
    assert!(testing::value(b"g", TYPE_ID).is_none());
    // Chunks into an existing filter.
    assert_eq!(
        err(&["bf.loadchunk", "f", "0", "x"]),
        "ERR received bad data"
    );
    assert_eq!(
        err(&["bf.loadchunk", "f", "2", "xyz"]),
        "ERR received bad data"
    );
    assert_eq!(
        err(&["bf.loadchunk", "f", "500", "xyz"]),
        "ERR invalid offset - no link found"
    );
    let big = "x".repeat(150);
    assert_eq!(
        err(&["bf.loadchunk", "f", "151", &big]),
        "ERR invalid chunk - Too big for current filter"
    );
    assert_eq!(ok(&["bf.loadchunk", "f", "4", "xyz"]), Reply::ok());
}

#[test]
fn debug() {
    testing::reset();
    assert_eq!(err(&["bf.debug", "nokey"]), "ERR not found");
    ok(&["bf.reserve", "d", "0.01", "2", "EXPANSION", "2"]);
    ok(&["bf.madd", "d", "a", "b", "c"]);
    assert_eq!(
        ok(&["bf.debug", "d"]),
        Reply::Array(vec![
            Reply::Bulk(b"size:3".to_vec()),
            Reply::Bulk(
                b"bytes:8 bits:64 hashes:8 hashwidth:64 capacity:2 size:2 ratio:0.005".to_vec()
            ),
            Reply::Bulk(
                b"bytes:8 bits:64 hashes:9 hashwidth:64 capacity:4 size:1 ratio:0.0025".to_vec()
            ),
        ])
    );
}

#[test]
fn g_format() {
    assert_eq!(format_g(0.005), "0.005");
    assert_eq!(format_g(0.01), "0.01");
    assert_eq!(format_g(0.000625), "0.000625");
    assert_eq!(format_g(0.0000390625), "3.90625e-05");
    assert_eq!(format_g(1.52587890625e-07), "1.52588e-07");
    assert_eq!(format_g(0.5), "0.5");
    assert_eq!(format_g(0.123456789), "0.123457");
    assert_eq!(format_g(1e-300), "1e-300");
}

#[test]
fn registration() {
    assert_eq!(EMBER_MODULE.name, "bf");
    assert_eq!(EMBER_MODULE.types, ["MBbloom--"]);
    for name in [
        "bf.reserve",
        "bf.add",
        "bf.madd",
        "bf.insert",
        "bf.exists",
        "bf.mexists",
        "bf.info",
        "bf.card",
        "bf.scandump",
        "bf.loadchunk",
        "bf.debug",
    ] {
        let cmd = EMBER_MODULE.command(name).expect(name);
        assert_eq!(
            cmd.keys_of(&[name.into(), b"k".to_vec(), b"x".to_vec()]),
            [b"k"]
        );
    }
}
