;; recurse.wat: EVAL <recurse> 0 DEPTH recurses DEPTH calls deep and replies
;; with :DEPTH; DEPTH 0 recurses without end, until the host's wasm stack
;; limit stops it. Each frame keeps a few values live across the call so it
;; uses real stack.
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

  ;; depth(n) = 1 + depth(n - 1), depth(0) = 0; from -1 it never reaches 0.
  (func $depth (param $n i32) (result i32)
    (local $a i64)
    (local $b i64)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (local.set $a (i64.extend_i32_u (local.get $n)))
    (local.set $b (i64.mul (local.get $a) (i64.const 3)))
    (i32.add
      (i32.add (i32.const 1) (call $depth (i32.sub (local.get $n) (i32.const 1))))
      (i32.wrap_i64 (i64.sub (local.get $b) (i64.mul (local.get $a) (i64.const 3))))))

  (func (export "ember_main") (result i32)
    (local $n i32)
    (local $d i32)
    (local.set $n (call $arg_int))
    (if (i32.eqz (local.get $n)) (then (local.set $n (i32.const -1))))
    (local.set $d (call $depth (local.get $n)))
    ;; reply ":<d>\r\n" (d < 10^9)
    (i32.store8 (i32.const 0x40) (i32.const 58))
    (local.set $n (i32.const 0))
    (block $b
      (loop $l
        (i32.store8 (i32.sub (i32.const 0x5f) (local.get $n))
                    (i32.add (i32.const 48) (i32.rem_u (local.get $d) (i32.const 10))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $d (i32.div_u (local.get $d) (i32.const 10)))
        (br_if $l (local.get $d))))
    (memory.copy (i32.const 0x41) (i32.sub (i32.const 0x60) (local.get $n)) (local.get $n))
    (i32.store16 (i32.add (i32.const 0x41) (local.get $n)) (i32.const 0x0a0d))
    (call $reply (i32.const 0x40) (i32.add (local.get $n) (i32.const 3)))
    (i32.const 0))
)
