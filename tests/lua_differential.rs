//! Differential test of Lua scripting: the same Lua bodies sent to redis-server 7.0 and to
//! ember-server, replies compared byte for byte (errors included), in RESP2 and RESP3.
//!
//! The corpus is `tests/corpus_lua/*.txt`, in the format of tests/differential.rs (see
//! `tests/common/corpus.rs`): EVAL/EVALSHA/EVAL_RO/EVALSHA_RO, SCRIPT LOAD/EXISTS/FLUSH, KEYS/ARGV,
//! the Lua<->RESP2/RESP3 conversion rules, redis.call/pcall and their error tables, the redis.*
//! helpers, global protection, math.random, the cjson/cmsgpack/bit/struct libraries, error texts
//! with `user_script:LINE` and the script's sha, shebang flags, and FUNCTION LOAD / FCALL /
//! FUNCTION LIST/DUMP/RESTORE of `#!lua` libraries. Every line was first checked against a
//! second redis-server (`EMBER_DIFF_SELFTEST=1`), so a mismatch is an Ember bug.
//!
//! `EMBER_DIFF_FILES=lua_conv` runs only the matching files; `EMBER_DIFF_VERBOSE=1` prints
//! every reply.

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
mod corpus;

use std::path::Path;

#[test]
fn lua_differential_corpus() {
    // A reply nested 8000 levels deep (lua_limits.txt) is decoded recursively: give the
    // comparing thread a stack that holds it.
    let runner = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            corpus::run_differential(
                Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus_lua")),
                &[],
            )
        })
        .expect("spawn the corpus runner");
    if let Err(panic) = runner.join() {
        std::panic::resume_unwind(panic);
    }
}
