//! Differential tests of blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP, XREAD/XREADGROUP BLOCK): the same multi-connection script runs against
//! Debian's redis-server 7.0 and ember-server and what every connection received is compared
//! byte for byte. The cases are the ones users trip over: the shape of a timeout reply in RESP2
//! and RESP3, several waiters on one key when the first cannot be served (a destination of the
//! wrong type), a key deleted or replaced by another type while clients wait, pushes inside
//! MULTI/EXEC, fractional timeouts, and waiters that disconnect.
//!
//! Every read has a timeout (common/transcript.rs) and the file runs in a few seconds.

#[path = "common/mod.rs"]
mod common;
#[path = "common/transcript.rs"]
mod transcript;

use transcript::{assert_same, Script};

/// Each blocking command times out with the null of its own shape: a null array (`*-1`, RESP3
/// `_`) for all of them in Redis 7.0, including BLMOVE and BRPOPLPUSH whose served reply is a
/// bulk string.
#[test]
fn timeouts_reply_the_null_redis_sends() {
    let cmds: &[&[&str]] = &[
        &["BLPOP", "nokey", "0.05"],
        &["BRPOP", "nokey", "0.05"],
        &["BLMOVE", "nokey", "dst", "LEFT", "RIGHT", "0.05"],
        &["BRPOPLPUSH", "nokey", "dst", "0.05"],
        &["BLMPOP", "0.05", "2", "nokey", "nokey2", "LEFT"],
        &["BZPOPMIN", "nokey", "0.05"],
        &["BZPOPMAX", "nokey", "0.05"],
        &["BZMPOP", "0.05", "1", "nokey", "MAX", "COUNT", "3"],
        &["XREAD", "BLOCK", "50", "STREAMS", "nostream", "$"],
    ];
    let mut s = Script::new(1);
    for c in cmds {
        s.cmd(0, c);
    }
    s.hello3(0);
    for c in cmds {
        s.cmd(0, c);
    }
    // XREADGROUP needs a group to block on.
    s.cmd(0, &["XGROUP", "CREATE", "gs", "g", "$", "MKSTREAM"])
        .cmd(
            0,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "50",
                "STREAMS",
                "gs",
                ">",
            ],
        )
        .hello2(0)
        .cmd(
            0,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "50",
                "STREAMS",
                "gs",
                ">",
            ],
        );
    assert_same(&s);
}

/// Timeouts are validated before anything blocks.
#[test]
fn bad_timeouts_are_errors() {
    let mut s = Script::new(1);
    for t in [
        "-1", "abc", "1e400", "inf", "-inf", "", " 1", "1 ", "nan", "1e-400", "9.3e15",
    ] {
        s.cmd(0, &["BLPOP", "k", t])
            .cmd(0, &["BLMOVE", "k", "d", "LEFT", "LEFT", t])
            .cmd(0, &["BZPOPMIN", "k", t])
            .cmd(0, &["BLMPOP", t, "1", "k", "LEFT"]);
    }
    s.cmd(0, &["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"])
        .cmd(0, &["XREAD", "BLOCK", "x", "STREAMS", "s", "$"]);
    assert_same(&s);
}

/// Three clients wait on one list; the first moves to a destination of the wrong type. Redis
/// answers it WRONGTYPE at once, and the element stays for the waiters behind it.
#[test]
fn wrong_type_destination_errors_the_first_waiter_and_serves_the_next() {
    let mut s = Script::new(4);
    s.cmd(0, &["SET", "dst", "string"])
        .send(1, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "2"])
        .wait_blocked(0, 1)
        .send(2, &["BRPOPLPUSH", "src", "dst2", "2"])
        .wait_blocked(0, 2)
        .send(3, &["BLPOP", "src", "2"])
        .wait_blocked(0, 3)
        .cmd(0, &["RPUSH", "src", "a", "b"])
        .recv(1, 1)
        .recv(2, 1)
        .recv(3, 1)
        .cmd(0, &["LRANGE", "src", "0", "-1"])
        .cmd(0, &["LRANGE", "dst2", "0", "-1"])
        .cmd(0, &["GET", "dst"]);
    assert_same(&s);
}

/// Every waiter with a wrong-type destination gets its own error; nothing is moved.
#[test]
fn all_waiters_with_wrong_type_destinations_error() {
    let mut s = Script::new(3);
    s.cmd(0, &["SADD", "dst", "m"])
        .send(1, &["BRPOPLPUSH", "src", "dst", "2"])
        .wait_blocked(0, 1)
        .send(2, &["BLMOVE", "src", "dst", "RIGHT", "RIGHT", "2"])
        .wait_blocked(0, 2)
        .cmd(0, &["LPUSH", "src", "x"])
        .recv(1, 1)
        .recv(2, 1)
        .cmd(0, &["LRANGE", "src", "0", "-1"])
        .cmd(0, &["SMEMBERS", "dst"]);
    assert_same(&s);
}

/// A key replaced by another type while clients wait does not serve them; once it is a list
/// again, they are served in arrival order.
#[test]
fn key_replaced_by_another_type_while_waiting() {
    let mut s = Script::new(3);
    s.send(1, &["BLPOP", "k", "3"])
        .wait_blocked(0, 1)
        .send(2, &["BZPOPMIN", "k", "3"])
        .wait_blocked(0, 2)
        .cmd(0, &["SET", "k", "v"])
        .cmd(0, &["DEL", "k"])
        .cmd(0, &["ZADD", "k", "1", "z"])
        .recv(2, 1)
        .cmd(0, &["EXISTS", "k"])
        .cmd(0, &["RPUSH", "k", "a"])
        .recv(1, 1)
        .cmd(0, &["EXISTS", "k"]);
    assert_same(&s);
}

/// Writes inside MULTI/EXEC serve waiters after EXEC, with the final state of the key.
#[test]
fn pushes_inside_exec_serve_after_the_transaction() {
    let mut s = Script::new(3);
    s.send(1, &["BLPOP", "q", "3"])
        .wait_blocked(0, 1)
        .send(2, &["BLMPOP", "3", "1", "q", "RIGHT", "COUNT", "5"])
        .wait_blocked(0, 2)
        .cmd(0, &["MULTI"])
        .cmd(0, &["RPUSH", "q", "a", "b", "c", "d"])
        .cmd(0, &["LPOP", "q"])
        .cmd(0, &["RPUSH", "q", "e"])
        .cmd(0, &["EXEC"])
        .recv(1, 1)
        .recv(2, 1)
        .cmd(0, &["EXISTS", "q"]);
    assert_same(&s);
}

/// A sorted-set waiter is served by ZADD inside a transaction that also removes members.
#[test]
fn zset_waiters_and_transactions() {
    let mut s = Script::new(3);
    s.send(1, &["BZPOPMAX", "z", "3"])
        .wait_blocked(0, 1)
        .send(2, &["BZMPOP", "3", "1", "z", "MIN", "COUNT", "10"])
        .wait_blocked(0, 2)
        .cmd(0, &["MULTI"])
        .cmd(0, &["ZADD", "z", "1", "a", "2", "b", "3", "c"])
        .cmd(0, &["ZREM", "z", "c"])
        .cmd(0, &["EXEC"])
        .recv(1, 1)
        .recv(2, 1)
        .cmd(0, &["EXISTS", "z"]);
    assert_same(&s);
}

/// A waiter that disconnected is not served: the element stays for the next one.
#[test]
fn a_disconnected_waiter_takes_nothing() {
    // The transcript runner keeps its connections for the whole script, so the disconnect
    // is played directly against both servers with the same assertions.
    for server in [
        common::ServerProcess::start_redis(&[]),
        common::ServerProcess::start_ember(&[]),
    ] {
        let mut gone = server.connect();
        gone.send(&["BLPOP", "k", "5"]).expect("send");
        let mut ctl = server.connect();
        wait_blocked(&mut ctl, 1);
        drop(gone);
        wait_blocked(&mut ctl, 0);
        let mut next = server.connect();
        next.send(&["BLPOP", "k", "5"]).expect("send");
        wait_blocked(&mut ctl, 1);
        assert_eq!(
            ctl.command(&["RPUSH", "k", "only"]).expect("rpush"),
            b":1\r\n"
        );
        assert_eq!(
            next.read_reply().expect("served"),
            b"*2\r\n$1\r\nk\r\n$4\r\nonly\r\n"
        );
        assert_eq!(
            ctl.command(&["EXISTS", "k"]).expect("exists"),
            b":0\r\n",
            "{}",
            server.kind().name()
        );
    }
}

fn wait_blocked(c: &mut common::RespConn, n: usize) {
    let needle = format!("blocked_clients:{n}\r\n");
    for _ in 0..500 {
        let info = c.command(&["INFO", "clients"]).expect("info");
        if String::from_utf8_lossy(&info).contains(&needle) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("never saw {needle:?}");
}

/// A stream reader blocked on `$` is served by XADD; a group reader by XADD too, and the
/// entries land in its pending list.
#[test]
fn stream_readers_are_served_by_xadd() {
    let mut s = Script::new(3);
    s.cmd(0, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])
        .send(1, &["XREAD", "BLOCK", "3000", "STREAMS", "s", "$"])
        .wait_blocked(0, 1)
        .send(
            2,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "BLOCK",
                "3000",
                "STREAMS",
                "s",
                ">",
            ],
        )
        .wait_blocked(0, 2)
        .cmd(0, &["XADD", "s", "5-1", "f", "v"])
        .recv(1, 1)
        .recv(2, 1)
        .cmd(0, &["XPENDING", "s", "g"]);
    assert_same(&s);
}
