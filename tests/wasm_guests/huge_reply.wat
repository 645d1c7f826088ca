;; huge_reply.wat: EVAL <huge_reply> 0 N replies with a bulk string of N
;; bytes 'x' (its memory grows to hold it: N + a few pages).
(module
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)

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

  (func (export "ember_main") (result i32)
    (local $n i32)
    (local $h i32)
    (local $need i32)
    (local.set $n (call $arg_int))
    ;; the reply at 0x1000: "$<n>\r\n" then n bytes then "\r\n"
    (local.set $need (i32.add (local.get $n) (i32.const 0x1040)))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow
                      (i32.shr_u (i32.add (i32.sub (local.get $need)
                                                   (i32.mul (memory.size) (i32.const 65536)))
                                          (i32.const 65535))
                                 (i32.const 16)))
                    (i32.const -1))
          (then unreachable))))
    (i32.store8 (i32.const 0x1000) (i32.const 36))   ;; '$'
    (local.set $h (i32.add (i32.const 1) (call $itoa (local.get $n) (i32.const 0x1001))))
    (i32.store16 (i32.add (i32.const 0x1000) (local.get $h)) (i32.const 0x0a0d))
    (local.set $h (i32.add (local.get $h) (i32.const 2)))
    (memory.fill (i32.add (i32.const 0x1000) (local.get $h)) (i32.const 120) (local.get $n))
    (i32.store16 (i32.add (i32.add (i32.const 0x1000) (local.get $h)) (local.get $n)) (i32.const 0x0a0d))
    (call $reply (i32.const 0x1000) (i32.add (local.get $h) (i32.add (local.get $n) (i32.const 2))))
    (i32.const 0))

  (func $itoa (param $n i32) (param $dst i32) (result i32)
    (local $len i32)
    (local $t i32)
    (local $i i32)
    (local.set $t (local.get $n))
    (local.set $len (i32.const 1))
    (block $b
      (loop $l
        (br_if $b (i32.lt_u (local.get $t) (i32.const 10)))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $l)))
    (local.set $i (local.get $len))
    (local.set $t (local.get $n))
    (loop $l
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
                  (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
      (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
      (br_if $l (i32.gt_u (local.get $i) (i32.const 0))))
    (local.get $len))
)
