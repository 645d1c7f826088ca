;; one_call.wat: calls the host's `call` import once with PING, the cheapest
;; command there is, and sets no reply (the client gets nil). Compared with
;; empty.wat it prices one host call: copy the request out of the guest, parse
;; it, look the command up, run it, copy the reply back.
;; Its Lua twin on redis-server is `redis.call('PING')`.
(module
  (import "ember" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "*1\r\n$4\r\nPING\r\n")  ;; 14 bytes
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32)
    ;; The reply (+PONG, 7 bytes) lands at 0x100.
    (drop (call $call (i32.const 0) (i32.const 14) (i32.const 0x100) (i32.const 0x100)))
    (i32.const 0))
)
