//! Example EVAL script: a crawler's "seen it?" check and its frontier push as one atomic step
//! (README.md beside this file).
//!
//! `EVALSHA <sha> 2 <bloom filter> <frontier list> url [url ...]` adds the URLs to the Bloom
//! filter of the bundled `bf` module (BF.MADD) and RPUSHes to the frontier exactly those the
//! filter had not seen, in argument order; it replies how many it enqueued. Because both steps
//! run in one invocation, a URL can never be marked seen without being enqueued (a crawler dying
//! between a BF.MADD and its RPUSH would lose it), and if the RPUSH fails (the frontier key is
//! not a list) the filter additions are undone too. A Bloom filter never forgets a URL it saw,
//! so nothing is enqueued twice; a false positive (by the filter's error rate) skips a new URL.
use ember_guest_sdk::{call_argv, Input, Reply, Result};

fn main(input: &Input) -> Result<Reply> {
    let (filter, frontier) = (input.key(0)?, input.key(1)?);
    if input.args.is_empty() {
        return Ok(Reply::Int(0));
    }
    let mut madd: Vec<&[u8]> = vec![b"BF.MADD", filter];
    madd.extend(input.args.iter().map(Vec::as_slice));
    let added = call_argv(&madd)?.into_array().unwrap_or_default();
    // BF.MADD answers 1 for an item the filter did not have (a repeat within the same batch
    // answers 0 the second time), so each new URL is pushed once.
    let mut push: Vec<&[u8]> = vec![b"RPUSH", frontier];
    push.extend(
        input
            .args
            .iter()
            .zip(&added)
            .filter(|(_, new)| new.as_int() == Some(1))
            .map(|(url, _)| url.as_slice()),
    );
    let enqueued = push.len() as i64 - 2;
    if enqueued > 0 {
        call_argv(&push)?;
    }
    Ok(Reply::Int(enqueued))
}

ember_guest_sdk::script!(main);

#[cfg(test)]
mod tests {
    use super::EMBER_SCRIPT;
    use ember_guest_sdk::{testing, Reply};
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::rc::Rc;

    /// An exact "filter" (a set) and the frontier list, standing in for BF.MADD and RPUSH.
    #[derive(Default)]
    struct Store {
        seen: HashSet<Vec<u8>>,
        frontier: Vec<Vec<u8>>,
        calls: usize,
    }

    fn setup() -> Rc<RefCell<Store>> {
        testing::reset();
        let store = Rc::new(RefCell::new(Store::default()));
        let s = Rc::clone(&store);
        testing::on_call(move |argv| {
            let mut s = s.borrow_mut();
            s.calls += 1;
            match argv[0].as_slice() {
                b"BF.MADD" => Reply::Array(
                    argv[2..]
                        .iter()
                        .map(|u| Reply::Int(s.seen.insert(u.clone()).into()))
                        .collect(),
                ),
                b"RPUSH" => {
                    s.frontier.extend(argv[2..].iter().cloned());
                    Reply::Int(s.frontier.len() as i64)
                }
                other => panic!("unexpected {}", String::from_utf8_lossy(other)),
            }
        });
        store
    }

    fn submit(urls: &[&str]) -> Reply {
        let urls: Vec<&[u8]> = urls.iter().map(|u| u.as_bytes()).collect();
        EMBER_SCRIPT.run(&[b"seen", b"frontier"], &urls).unwrap()
    }

    #[test]
    fn enqueues_each_new_url_once_in_order() {
        let store = setup();
        assert_eq!(submit(&["/a", "/b", "/a"]), Reply::Int(2));
        assert_eq!(submit(&["/b", "/c"]), Reply::Int(1));
        assert_eq!(submit(&["/a", "/c"]), Reply::Int(0));
        assert_eq!(
            store.borrow().frontier,
            [b"/a".to_vec(), b"/b".to_vec(), b"/c".to_vec()]
        );
    }

    #[test]
    fn no_urls_no_calls_and_keys_required() {
        let store = setup();
        assert_eq!(
            EMBER_SCRIPT.run(&[b"seen", b"frontier"], &[]),
            Ok(Reply::Int(0))
        );
        assert_eq!(store.borrow().calls, 0);
        assert!(EMBER_SCRIPT.run(&[b"seen"], &[b"/a"]).is_err());
    }
}
