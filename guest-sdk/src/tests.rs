//! Native unit tests of the API guests rely on: error texts, argument
//! encoding, input accessors, the builders and the generated registrations.

use crate::testing;
use crate::*;

#[test]
fn error_new_adds_err_only_without_a_code_word() {
    assert_eq!(Error::new("bad thing").text(), "ERR bad thing");
    assert_eq!(Error::new("ERR bad").text(), "ERR bad");
    assert_eq!(
        Error::new("WRONGTYPE Operation").text(),
        "WRONGTYPE Operation"
    );
    assert_eq!(
        Error::new("-NOSCRIPT No matching").text(),
        "NOSCRIPT No matching"
    );
    assert_eq!(Error::new("I failed").text(), "ERR I failed");
    assert_eq!(Error::new("Bad").text(), "ERR Bad");
    assert_eq!(Error::new("").text(), "ERR ");
    assert_eq!(
        Error::wrong_type().text(),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(Error::syntax().text(), "ERR syntax error");
    assert_eq!(
        Error::not_integer().text(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        Error::arity("bf.add").text(),
        "ERR wrong number of arguments for 'bf.add' command"
    );
    assert_eq!(
        Reply::from(Error::syntax()),
        Reply::Error("ERR syntax error".into())
    );
}

#[test]
fn reply_accessors_and_conversions() {
    assert_eq!(Reply::from(5i64), Reply::Int(5));
    assert_eq!(Reply::from("a"), Reply::Bulk(b"a".to_vec()));
    assert_eq!(Reply::from(String::from("a")), Reply::Bulk(b"a".to_vec()));
    assert_eq!(Reply::from(&b"a"[..]), Reply::Bulk(b"a".to_vec()));
    assert_eq!(Reply::from(vec![1u8, 2]), Reply::Bulk(vec![1, 2]));
    assert_eq!(Reply::from(true), Reply::Int(1));
    assert_eq!(Reply::from(false), Reply::Int(0));
    assert_eq!(Reply::from(None::<i64>), Reply::Nil);
    assert_eq!(Reply::from(Some("x")), Reply::Bulk(b"x".to_vec()));
    assert_eq!(
        Reply::from(vec![1i64, 2]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
    );
    assert_eq!(
        Reply::from(vec!["a", "b"]),
        Reply::Array(vec![Reply::from("a"), Reply::from("b")])
    );
    assert_eq!(Reply::from(u64::MAX), Reply::Int(i64::MAX));

    assert_eq!(Reply::Int(7).as_int(), Some(7));
    assert_eq!(Reply::from("42").as_int(), Some(42));
    assert_eq!(Reply::Status("-3".into()).as_int(), Some(-3));
    assert_eq!(Reply::from("4x").as_int(), None);
    assert_eq!(Reply::Nil.as_int(), None);
    assert_eq!(Reply::ok().as_str(), Some("OK"));
    assert_eq!(Reply::from("v").as_bytes(), Some(&b"v"[..]));
    assert_eq!(Reply::Int(1).as_bytes(), None);
    assert_eq!(Reply::Bulk(vec![0xff]).as_str(), None);
    assert!(Reply::Nil.is_nil() && Reply::NilArray.is_nil() && !Reply::Int(0).is_nil());
    assert_eq!(Reply::NilArray.into_array(), None);
    assert_eq!(
        Reply::Map(vec![(Reply::from("k"), Reply::Int(1))]).into_array(),
        Some(vec![Reply::from("k"), Reply::Int(1)])
    );
}

fn request(args: &[&dyn Arg]) -> Vec<u8> {
    let mut out = Vec::new();
    resp::write_header(&mut out, b'*', args.len());
    args.iter().for_each(|a| a.write_arg(&mut out));
    out
}

#[test]
fn args_encode_as_bulk_strings() {
    let key: &[u8] = b"k";
    let owned = b"v".to_vec();
    assert_eq!(
        request(&[&"SET", &key, &owned, &&owned, &String::from("s"), b"ab"]),
        b"*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nv\r\n$1\r\ns\r\n$2\r\nab\r\n"
    );
    assert_eq!(
        request(&[&-5i64, &7u64, &3usize, &-2i32, &9u32, &i64::MIN, &u64::MAX]),
        b"*7\r\n$2\r\n-5\r\n$1\r\n7\r\n$1\r\n3\r\n$2\r\n-2\r\n$1\r\n9\r\n$20\r\n-9223372036854775808\r\n$20\r\n18446744073709551615\r\n"
    );
    assert_eq!(
        request(&[&1.5f64, &3.0f64, &0.1f64]),
        b"*3\r\n$3\r\n1.5\r\n$1\r\n3\r\n$19\r\n0.10000000000000001\r\n"
    );
}

#[test]
fn call_macros_reach_the_host() {
    testing::reset();
    testing::on_call(|argv| match argv[0].as_slice() {
        b"GET" => Reply::Bulk(argv[1].clone()),
        b"INCRBY" => Reply::Int(
            10 + std::str::from_utf8(&argv[2])
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        ),
        _ => Reply::Error("ERR unknown command".into()),
    });
    let key = b"abc".to_vec();
    assert_eq!(call!("GET", key).unwrap(), Reply::from("abc"));
    assert_eq!(call!("INCRBY", &key, 5,).unwrap(), Reply::Int(15));
    assert_eq!(call!("NOPE").unwrap_err().text(), "ERR unknown command");
    assert_eq!(pcall!("NOPE"), Reply::Error("ERR unknown command".into()));
    // An argument that itself calls the host is evaluated first.
    assert_eq!(
        call!("GET", call!("GET", "inner").unwrap().as_bytes().unwrap()).unwrap(),
        Reply::from("inner")
    );
    assert_eq!(call_argv(&[b"GET", b"x"]).unwrap(), Reply::from("x"));
    assert!(pcall_argv(&[b"BAD"]).as_int().is_none());
    testing::reset();
    assert!(call!("GET", "k")
        .unwrap_err()
        .text()
        .contains("no Ember host"));
}

fn input(keys: &[&str], args: &[&str]) -> Input {
    Input {
        keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
    }
}

#[test]
fn input_accessors_and_their_errors() {
    let i = input(&["k"], &["bf.add", "12", "1.5", "-0", "x"]);
    assert_eq!(i.key(0).unwrap(), b"k");
    assert_eq!(i.arg(0).unwrap(), b"bf.add");
    assert_eq!(i.arg_i64(1).unwrap(), 12);
    assert_eq!(i.arg_f64(2).unwrap(), 1.5);
    assert_eq!(i.arg_str(4).unwrap(), "x");
    assert_eq!(i.arg_i64(2).unwrap_err(), Error::not_integer());
    assert_eq!(i.arg_i64(3).unwrap_err(), Error::not_integer());
    assert_eq!(
        i.arg_f64(4).unwrap_err().text(),
        "ERR value is not a valid float"
    );
    let bin = Input {
        keys: vec![],
        args: vec![vec![0xff]],
    };
    assert!(bin.arg_str(0).is_err());
    // Outside a script, a missing argument is the command's arity error.
    assert_eq!(
        i.arg(9).unwrap_err().text(),
        "ERR wrong number of arguments for 'bf.add' command"
    );
    assert_eq!(i.key(1).unwrap_err(), Error::arity("bf.add"));
    let parsed = Input::from_resp(b"*2\r\n*1\r\n$1\r\nk\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n").unwrap();
    assert_eq!(
        parsed,
        Input {
            keys: vec![b"k".to_vec()],
            args: vec![b"a".to_vec(), vec![]]
        }
    );
    assert!(Input::from_resp(b"*2\r\n").is_err());
}

#[test]
fn input_reads_the_host() {
    testing::reset();
    testing::set_input(&[b"k1"], &[b"a", b"b"]);
    assert_eq!(crate::input(), input(&["k1"], &["a", "b"]));
    testing::reset();
    assert_eq!(crate::input(), Input::default());
}

fn echo(i: &Input) -> Result<Reply> {
    Ok(Reply::from(i.keys.clone()))
}
fn fail(i: &Input) -> Result<Reply> {
    Err(Error::new(format!("failed with {} args", i.args.len())))
}
fn need_argv2(i: &Input) -> Result<Reply> {
    i.arg(1).map(Reply::from)
}

static MODULE: Module = Module {
    name: "test",
    version: 2,
    types: &["testtype1"],
    commands: &[
        Command::new("t.echo", echo)
            .arity(-2)
            .flags("readonly fast")
            .keys(1, -1, 2)
            .acl("test")
            .summary("Echo keys"),
        Command::new("t.fail", fail).arity(1),
    ],
    init: None,
};

#[test]
fn module_commands_run_like_the_host_runs_them() {
    assert_eq!(
        MODULE.run(&[b"T.ECHO", b"a", b"1", b"b", b"2"]).unwrap(),
        Reply::from(vec!["a", "b"])
    );
    assert_eq!(
        MODULE.run(&[b"t.echo"]).unwrap_err(),
        Error::arity("t.echo")
    );
    assert_eq!(
        MODULE.run(&[b"t.fail", b"x"]).unwrap_err(),
        Error::arity("t.fail")
    );
    assert_eq!(
        MODULE.run(&[b"t.fail"]).unwrap_err().text(),
        "ERR failed with 1 args"
    );
    assert!(MODULE.run(&[b"t.none"]).is_err());
    assert_eq!(MODULE.command("t.echo").map(|c| c.name()), Some("t.echo"));
}

#[test]
fn command_specs_follow_the_abi() {
    let mut out = Vec::new();
    MODULE.commands[0].spec(0, &mut out);
    assert_eq!(
        Reply::parse(&out).unwrap().0,
        Reply::from(vec![
            "command",
            "t.echo",
            "0",
            "-2",
            "readonly fast",
            "1",
            "-1",
            "2",
            "test",
            "Echo keys"
        ])
    );
    out.clear();
    MODULE.commands[1].spec(1, &mut out);
    assert_eq!(
        Reply::parse(&out).unwrap().0,
        Reply::from(vec!["command", "t.fail", "1", "1", "", "0", "0", "0", ""])
    );
}

#[test]
fn key_positions() {
    let argv: Vec<Vec<u8>> = ["cmd", "a", "b", "c"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let keys = |first, last, step| -> Vec<Vec<u8>> {
        Command::new("x", echo)
            .keys(first, last, step)
            .keys_of(&argv)
    };
    assert_eq!(keys(1, 1, 1), vec![b"a".to_vec()]);
    assert_eq!(keys(1, -1, 1).len(), 3);
    assert_eq!(keys(2, -2, 1), vec![b"b".to_vec()]);
    assert_eq!(keys(1, 10, 1).len(), 3);
    assert!(keys(0, 0, 0).is_empty());
    assert!(keys(5, 6, 1).is_empty());
}

#[test]
fn script_flags_are_bits() {
    assert_eq!(__private::script_flags(""), 0);
    assert_eq!(__private::script_flags("no-writes"), 1);
    assert_eq!(
        __private::script_flags(" no-writes  whole-keyspace allow-oom "),
        1 | 32 | 2
    );
    assert_eq!(
        __private::script_flags("allow-stale no-cluster allow-cross-slot-keys"),
        4 | 8 | 16
    );
}

#[test]
fn values_in_the_simulated_host() {
    testing::reset();
    assert_eq!(value::len(b"k", 0).unwrap(), None);
    assert_eq!(value::read_all(b"k", 0).unwrap(), None);
    let mut buf = [0u8; 4];
    assert_eq!(value::read(b"k", 0, 0, &mut buf).unwrap(), 0);
    assert_eq!(value::write(b"k", 0, 2, b"ab").unwrap(), 4);
    assert_eq!(
        value::read_all(b"k", 0).unwrap(),
        Some(vec![0, 0, b'a', b'b'])
    );
    assert_eq!(value::read(b"k", 0, 3, &mut buf).unwrap(), 1);
    assert_eq!(value::len(b"k", 1).unwrap_err(), Error::wrong_type());
    assert_eq!(
        value::write(b"k", 1, 0, b"x").unwrap_err(),
        Error::wrong_type()
    );
    assert_eq!(value::truncate(b"k", 0, 1).unwrap(), 1);
    assert_eq!(testing::value(b"k", 0), Some(vec![0]));
    assert!(value::truncate(b"k", 0, 1 << 40).is_err());
}

static SCRIPT: Script = Script {
    main: need_argv2,
    flags: 0,
};

#[test]
fn script_errors_name_the_missing_argument() {
    assert_eq!(SCRIPT.run(&[], &[b"a", b"b"]).unwrap(), Reply::from("b"));
    assert_eq!(
        SCRIPT.run(&[], &[b"a"]).unwrap_err().text(),
        "ERR wrong number of arguments: ARGV[2] is missing"
    );
}

#[test]
fn clock_random_and_log() {
    testing::reset();
    assert!(time_ms() > 1_600_000_000_000);
    testing::set_time_ms(42);
    assert_eq!(time_ms(), 42);
    assert_ne!(random_u64(), random_u64());
    log(LogLevel::Notice, "hello");
    assert_eq!(
        testing::logs(),
        vec![(LogLevel::Notice, "hello".to_string())]
    );
}

/// The macros expand in a user's crate; these modules stand in for three.
mod macro_module {
    use crate::{Command, Error, Input, Reply, Result};

    fn get(i: &Input) -> Result<Reply> {
        Ok(Reply::from(i.key(0)?))
    }
    fn setup(i: &Input) -> Result<()> {
        if i.args.is_empty() {
            Ok(())
        } else {
            Err(Error::syntax())
        }
    }

    crate::module! {
        name: "mm",
        version: 3,
        commands: [
            Command::new("mm.get", get).arity(2).flags("readonly").keys(1, 1, 1),
        ],
        init: setup,
    }
}

mod macro_module_with_types {
    use crate::{Command, Input, Reply, Result};

    fn noop(_: &Input) -> Result<Reply> {
        Ok(Reply::Nil)
    }

    crate::module! {
        name: "mt",
        version: 1,
        types: ["mttype---", "mttype2--"],
        commands: [Command::new("mt.noop", noop).arity(1)],
    }
}

mod macro_library {
    use crate::{Function, Input, Reply, Result};

    fn hello(i: &Input) -> Result<Reply> {
        Ok(Reply::from(format!("hello {}", i.arg_str(0)?)))
    }

    crate::library! {
        name: "lib",
        functions: [Function::new("hello", hello).flags("no-writes").description("greets")],
    }
}

mod macro_script {
    use crate::{Input, Reply, Result};

    fn main(i: &Input) -> Result<Reply> {
        Ok(Reply::Int(i.keys.len() as i64))
    }

    crate::script!(main, flags = "no-writes allow-stale");
}

mod macro_script_plain {
    use crate::{Input, Reply, Result};

    fn main(_: &Input) -> Result<Reply> {
        Ok(Reply::ok())
    }

    crate::script!(main);
}

#[test]
fn macros_declare_what_they_are_given() {
    let m = &macro_module::EMBER_MODULE;
    assert_eq!((m.name, m.version, m.types.len()), ("mm", 3, 0));
    assert_eq!(m.run(&[b"MM.GET", b"key"]).unwrap(), Reply::from("key"));
    let init = m.init.expect("init given");
    assert!(init(&Input::default()).is_ok());
    assert_eq!(init(&input(&[], &["x"])).unwrap_err(), Error::syntax());

    let t = &macro_module_with_types::EMBER_MODULE;
    assert_eq!(t.types, &["mttype---", "mttype2--"]);
    assert!(t.init.is_none());

    let l = &macro_library::EMBER_LIBRARY;
    assert_eq!(l.name, "lib");
    assert_eq!(
        l.run("hello", &[], &[b"you"]).unwrap(),
        Reply::from("hello you")
    );
    assert!(l.run("nope", &[], &[]).is_err());

    assert_eq!(macro_script::EMBER_SCRIPT.flags, 1 | 4);
    assert_eq!(
        macro_script::EMBER_SCRIPT.run(&[b"a", b"b"], &[]).unwrap(),
        Reply::Int(2)
    );
    assert_eq!(macro_script_plain::EMBER_SCRIPT.flags, 0);
}
