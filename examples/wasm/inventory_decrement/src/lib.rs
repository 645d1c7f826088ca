//! Example EVAL script: the general-admission inventory decrement, in Rust.
//!
//! `EVALSHA <sha> 1 <stock key> <qty>` takes `qty` units from the integer stored at the stock key
//! if, and only if, that many are left: it replies 1 when the units were taken, 0 when there is
//! not enough stock (nothing changes; a missing key is a stock of 0). A script holds its key's
//! lock for its whole run, so the check and the DECRBY cannot interleave with another buyer's:
//! under any concurrency the stock never goes below zero. See README.md for loading and calling it.

use ember_guest_sdk::{call, Error, Input, Reply, Result};

fn main(input: &Input) -> Result<Reply> {
    let key = input.key(0)?;
    let qty = input.arg_i64(0)?;
    if qty <= 0 {
        return Err(Error::new("ERR quantity must be a positive integer"));
    }
    let current = call!("GET", key)?;
    let stock = if current.is_nil() {
        0
    } else {
        current.as_int().ok_or_else(Error::not_integer)?
    };
    if stock < qty {
        return Ok(Reply::Int(0));
    }
    call!("DECRBY", key, qty)?;
    Ok(Reply::Int(1))
}

ember_guest_sdk::script!(main);

#[cfg(test)]
#[path = "../../../../modules/testkit/keyspace.rs"]
mod keyspace;

#[cfg(test)]
mod tests {
    use super::EMBER_SCRIPT;
    use crate::keyspace::Keyspace;
    use ember_guest_sdk::{testing, Reply};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn setup() -> Rc<RefCell<Keyspace>> {
        testing::reset();
        let ks = Rc::new(RefCell::new(Keyspace::default()));
        let inner = Rc::clone(&ks);
        testing::on_call(move |argv| inner.borrow_mut().exec(argv));
        ks
    }

    fn run(qty: &str) -> Result<Reply, String> {
        EMBER_SCRIPT
            .run(&[b"stock"], &[qty.as_bytes()])
            .map_err(|e| e.0)
    }

    #[test]
    fn decrements_only_while_enough_is_left() {
        let ks = setup();
        ks.borrow_mut()
            .exec(&[b"SET".to_vec(), b"stock".to_vec(), b"5".to_vec()]);
        assert_eq!(run("3"), Ok(Reply::Int(1)));
        assert_eq!(run("3"), Ok(Reply::Int(0)));
        assert_eq!(run("2"), Ok(Reply::Int(1)));
        assert_eq!(run("1"), Ok(Reply::Int(0)));
        assert_eq!(ks.borrow_mut().string(b"stock"), Some(b"0".to_vec()));
    }

    #[test]
    fn missing_stock_and_bad_arguments() {
        let ks = setup();
        assert_eq!(run("1"), Ok(Reply::Int(0)));
        assert_eq!(ks.borrow_mut().string(b"stock"), None);
        assert_eq!(
            run("0"),
            Err("ERR quantity must be a positive integer".into())
        );
        assert_eq!(
            run("x"),
            Err("ERR value is not an integer or out of range".into())
        );
        ks.borrow_mut()
            .exec(&[b"SET".to_vec(), b"stock".to_vec(), b"many".to_vec()]);
        assert_eq!(
            run("1"),
            Err("ERR value is not an integer or out of range".into())
        );
        ks.borrow_mut().exec(&[b"DEL".to_vec(), b"stock".to_vec()]);
        ks.borrow_mut().exec(&[
            b"HSET".to_vec(),
            b"stock".to_vec(),
            b"f".to_vec(),
            b"v".to_vec(),
        ]);
        assert_eq!(
            run("1"),
            Err("WRONGTYPE Operation against a key holding the wrong kind of value".into())
        );
    }
}
