;; ten_calls.wat: one_call.wat's PING ten times in a loop, no reply (nil).
;; (ten_calls - one_call) / 9 is the cost of one more host call, free of the
;; fixed per-script cost. Its Lua twin is `for i = 1, 10 do redis.call('PING') end`.
(module
  (import "ember" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "*1\r\n$4\r\nPING\r\n")  ;; 14 bytes
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32)
    (local $i i32)
    (local.set $i (i32.const 10))
    (loop $again
      (drop (call $call (i32.const 0) (i32.const 14) (i32.const 0x100) (i32.const 0x100)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $again (local.get $i)))
    (i32.const 0))
)
