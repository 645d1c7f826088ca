;; oob.wat: passes out-of-bounds pointer/length pairs to the imports of
;; module `ember`, one case per call: EVAL <oob> 0 CASE. Every case first
;; writes the key oob:written through `call` (the guest is flagged
;; whole-keyspace, so the key needs no declaration); a fault must undo it.
;; The memory is exactly one page (65536 bytes).
;;
;;   0  call        request (0x7ffffff0, 16)
;;   1  call        destination (65530, 100)
;;   2  last_reply  destination (65536, 1): starts at the end
;;   3  input       destination (-1, 10): negative pointer
;;   4  reply       (65000, 1000)
;;   5  log         (65536, 1)
;;   6  random      (0, 65537)
;;   7  register    (0xfffffff0, 32): wraps around
;;   8  value_len   key (70000, 1)
;;   9  value_read  destination (65535, 2)
;;  10  value_write source (65536, 1)
;;  11  value_truncate key (0, 65537)
;;  12  call        request (0, -1): negative length
;;  13  register    in bounds, but outside ember_init
;;  14  input       destination (65536, 0): empty and at the very end, which
;;                  is in bounds; replies +edge ok and keeps its write
(module
  (import "ember" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "ember" "last_reply" (func $last_reply (param i32 i32) (result i32)))
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (import "ember" "log" (func $log (param i32 i32 i32)))
  (import "ember" "random" (func $random (param i32 i32)))
  (import "ember" "register" (func $register (param i32 i32) (result i32)))
  (import "ember" "value_len" (func $value_len (param i32 i32 i32) (result i64)))
  (import "ember" "value_read" (func $value_read (param i32 i32 i32 i64 i32 i32) (result i64)))
  (import "ember" "value_write" (func $value_write (param i32 i32 i32 i64 i32 i32) (result i64)))
  (import "ember" "value_truncate" (func $value_truncate (param i32 i32 i32 i64) (result i64)))
  (memory (export "memory") 1)

  (data (i32.const 0x400) "*3\r\n$3\r\nSET\r\n$11\r\noob:written\r\n$1\r\n1\r\n")  ;; 38 bytes
  (data (i32.const 0x440) "+edge ok\r\n")                                      ;; 10 bytes
  (data (i32.const 0x460) "*2\r\n$6\r\nmodule\r\n$1\r\nm\r\n")                  ;; 23 bytes

  (global $pos (mut i32) (i32.const 0))

  ;; "<type byte><digits>\r\n" at $pos -> the number
  (func $header (result i32)
    (local $n i32)
    (local $c i32)
    (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
    (block $done
      (loop $digit
        (local.set $c (i32.load8_u (global.get $pos)))
        (br_if $done (i32.eq (local.get $c) (i32.const 13)))
        (local.set $n
          (i32.add (i32.mul (local.get $n) (i32.const 10))
                   (i32.sub (local.get $c) (i32.const 48))))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (br $digit)))
    (global.set $pos (i32.add (global.get $pos) (i32.const 2)))
    (local.get $n))

  ;; ARGV[1] (the first argument after the keys) as a decimal number; the
  ;; input (small for these guests) is read to 0x100..0x400.
  (func $arg_int (result i32)
    (local $k i32)
    (local $len i32)
    (local $n i32)
    (if (i32.gt_u (call $input (i32.const 0x100) (i32.const 0x300)) (i32.const 0x300))
      (then unreachable))
    (global.set $pos (i32.const 0x100))
    (drop (call $header))                 ;; *2
    (local.set $k (call $header))         ;; *K: skip the keys
    (block $keys_done
      (loop $skip
        (br_if $keys_done (i32.eqz (local.get $k)))
        (global.set $pos (i32.add (i32.add (call $header) (i32.const 2)) (global.get $pos)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $skip)))
    (if (i32.eqz (call $header)) (then unreachable))   ;; *A: need one
    (local.set $len (call $header))       ;; $L
    (block $done
      (loop $digit
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                               (i32.sub (i32.load8_u (global.get $pos)) (i32.const 48))))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $digit)))
    (local.get $n))

  (func (export "ember_abi_version") (result i32) (i32.const 1))
  ;; whole-keyspace: the SET below may touch a key the caller did not declare
  (func (export "ember_flags") (result i32) (i32.const 32))

  (func (export "ember_main") (result i32)
    (local $case i32)
    (local.set $case (call $arg_int))
    (drop (call $call (i32.const 0x400) (i32.const 38) (i32.const 0x500) (i32.const 0x100)))
    (block $edge
    (block $c13
    (block $c12
    (block $c11
    (block $c10
    (block $c9
    (block $c8
    (block $c7
    (block $c6
    (block $c5
    (block $c4
    (block $c3
    (block $c2
    (block $c1
    (block $c0
      (br_table $c0 $c1 $c2 $c3 $c4 $c5 $c6 $c7 $c8 $c9 $c10 $c11 $c12 $c13 $edge
                (local.get $case)))
      (drop (call $call (i32.const 0x7ffffff0) (i32.const 16) (i32.const 0x500) (i32.const 0x100)))
      (return (i32.const 0)))
      (drop (call $call (i32.const 0x400) (i32.const 38) (i32.const 65530) (i32.const 100)))
      (return (i32.const 0)))
      (drop (call $last_reply (i32.const 65536) (i32.const 1)))
      (return (i32.const 0)))
      (drop (call $input (i32.const -1) (i32.const 10)))
      (return (i32.const 0)))
      (call $reply (i32.const 65000) (i32.const 1000))
      (return (i32.const 0)))
      (call $log (i32.const 3) (i32.const 65536) (i32.const 1))
      (return (i32.const 0)))
      (call $random (i32.const 0) (i32.const 65537))
      (return (i32.const 0)))
      (drop (call $register (i32.const 0xfffffff0) (i32.const 32)))
      (return (i32.const 0)))
      (drop (call $value_len (i32.const 70000) (i32.const 1) (i32.const 0)))
      (return (i32.const 0)))
      (drop (call $value_read (i32.const 0x400) (i32.const 3) (i32.const 0) (i64.const 0)
                               (i32.const 65535) (i32.const 2)))
      (return (i32.const 0)))
      (drop (call $value_write (i32.const 0x400) (i32.const 3) (i32.const 0) (i64.const 0)
                                (i32.const 65536) (i32.const 1)))
      (return (i32.const 0)))
      (drop (call $value_truncate (i32.const 0) (i32.const 65537) (i32.const 0) (i64.const 0)))
      (return (i32.const 0)))
      (drop (call $call (i32.const 0) (i32.const -1) (i32.const 0x500) (i32.const 0x100)))
      (return (i32.const 0)))
      (drop (call $register (i32.const 0x460) (i32.const 23)))
      (return (i32.const 0)))
    (drop (call $input (i32.const 65536) (i32.const 0)))
    (call $reply (i32.const 0x440) (i32.const 10))
    (i32.const 0))
)
