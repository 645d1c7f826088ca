;; empty.wat: the cheapest possible script, for the benchmark driver's `wasm`
;; suite (tests/bench/run.py). ember_main calls no import and sets no reply,
;; so the client gets nil: what is left is the cost of EVALSHA itself (parse,
;; script lookup, taking a warm instance, entering and leaving wasm).
;; Its Lua twin on redis-server is `return nil`.
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
