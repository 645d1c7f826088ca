;; grow.wat: EVAL <grow> 0 PAGES grows the memory to PAGES pages of 64 KiB
;; and replies with the page count it has; PAGES 0 means a memory bomb: grow
;; one page at a time until the host stops it. With wasm-memory-limit L the
;; first may reach L / 65536 pages and not one more. (Instances are reused,
;; so the guest grows to a total, never by an amount.)
(module
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "-ERR memory.grow returned -1\r\n")   ;; 30 bytes

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
    (local $target i32)
    (local $n i32)
    (local.set $target (call $arg_int))
    (if (i32.eqz (local.get $target))
      (then
        (loop $bomb
          (br_if $bomb (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        (call $reply (i32.const 0) (i32.const 30))
        (return (i32.const 1))))
    (if (i32.gt_u (local.get $target) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $target) (memory.size))) (i32.const -1))
          (then
            (call $reply (i32.const 0) (i32.const 30))
            (return (i32.const 1))))))
    ;; ":<pages>\r\n" at 0x40
    (i32.store8 (i32.const 0x40) (i32.const 58))
    (local.set $n (call $itoa (memory.size) (i32.const 0x41)))
    (i32.store16 (i32.add (i32.const 0x41) (local.get $n)) (i32.const 0x0a0d))
    (call $reply (i32.const 0x40) (i32.add (local.get $n) (i32.const 3)))
    (i32.const 0))

  ;; Writes the decimal digits of $n at $dst; returns how many.
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
