;; module_dup_module.wat: registers WATHELLO.PING again under another module name: refused
;; while module_hello.wat is loaded.
;; A module as docs/abi.md describes it, written by hand: ember_init registers
;; the module and one command; ember_invoke(0) runs it.
(module
  (import "ember" "register" (func $register (param i32 i32) (result i32)))
  (import "ember" "last_reply" (func $last_reply (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "*3\r\n$6\r\nmodule\r\n$9\r\nwathello2\r\n$1\r\n1\r\n")  ;; 38 bytes
  (data (i32.const 0x140) "*10\r\n$7\r\ncommand\r\n$13\r\nwathello.ping\r\n$1\r\n0\r\n$2\r\n-1\r\n$13\r\nreadonly fast\r\n$1\r\n0\r\n$1\r\n0\r\n$1\r\n0\r\n$0\r\n\r\n$24\r\na command written in WAT\r\n")  ;; 131 bytes
  (data (i32.const 0x1f0) "+hijacked\r\n")  ;; 11 bytes

  (func (export "ember_abi_version") (result i32) (i32.const 1))

  ;; A refused registration: fetch its text with last_reply and make it the
  ;; error reply ("-" text "\r\n" at 0x1000), then fail ember_init.
  (func $fail (param $n i32) (result i32)
    (if (i32.gt_u (local.get $n) (i32.const 0x1000)) (then (local.set $n (i32.const 0x1000))))
    (i32.store8 (i32.const 0x1000) (i32.const 45))
    (drop (call $last_reply (i32.const 0x1001) (local.get $n)))
    (i32.store16 (i32.add (i32.const 0x1001) (local.get $n)) (i32.const 0x0a0d))
    (call $reply (i32.const 0x1000) (i32.add (local.get $n) (i32.const 3)))
    (i32.const 1))

  (func (export "ember_init") (result i32)
    (local $n i32)
    (if (local.tee $n (call $register (i32.const 0x100) (i32.const 38)))
      (then (return (call $fail (local.get $n)))))
    (if (local.tee $n (call $register (i32.const 0x140) (i32.const 131)))
      (then (return (call $fail (local.get $n)))))
    (i32.const 0))

  (func (export "ember_invoke") (param $handler i32) (result i32)
    (call $reply (i32.const 0x1f0) (i32.const 11))
    (i32.const 0))
)
