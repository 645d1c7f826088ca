;; counter.wat: builds its own RESP requests, written by hand from
;; docs/abi.md without the SDK.
;;
;;   EVAL <counter> 1 key          -> INCR key
;;   EVAL <counter> 1 key value    -> SET key value, then INCR key
;;
;; It replies with INCR's reply. A command error (say, INCR on a value that
;; is not a number) is returned with code 1, like an uncaught redis.call
;; error, so the host undoes the SET too.
;;
;; Memory: constants below 0x100, replies at 0x400 (up to 0x8000), the input
;; at 0x10000 (the memory grows when it does not fit), the request being
;; built right after the input.
(module
  (import "ember" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "ember" "last_reply" (func $last_reply (param i32 i32) (result i32)))
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 2)

  (data (i32.const 0x00) "SET")
  (data (i32.const 0x10) "INCR")
  (data (i32.const 0x20) "-ERR counter needs one key\r\n")  ;; 28 bytes

  (global $pos (mut i32) (i32.const 0))   ;; input parser position
  (global $w (mut i32) (i32.const 0))     ;; request writer position
  (global $req (mut i32) (i32.const 0))   ;; where requests are built

  (func (export "ember_abi_version") (result i32) (i32.const 1))

  (func $cap (param $p i32) (result i32)
    (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $p)))

  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable)))))

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

  ;; Appends one byte / a byte range / a decimal number to the request.
  (func $put_byte (param $b i32)
    (i32.store8 (global.get $w) (local.get $b))
    (global.set $w (i32.add (global.get $w) (i32.const 1))))
  (func $put (param $p i32) (param $len i32)
    (call $ensure (i32.add (global.get $w) (i32.add (local.get $len) (i32.const 64))))
    (memory.copy (global.get $w) (local.get $p) (local.get $len))
    (global.set $w (i32.add (global.get $w) (local.get $len))))
  (func $put_crlf
    (call $put_byte (i32.const 13))
    (call $put_byte (i32.const 10)))
  (func $put_num (param $n i32)
    (local $div i32)
    (local.set $div (i32.const 1))
    (block $b
      (loop $l
        (br_if $b (i32.lt_u (i32.div_u (local.get $n) (local.get $div)) (i32.const 10)))
        (local.set $div (i32.mul (local.get $div) (i32.const 10)))
        (br $l)))
    (loop $l
      (call $put_byte (i32.add (i32.const 48)
                               (i32.rem_u (i32.div_u (local.get $n) (local.get $div)) (i32.const 10))))
      (local.set $div (i32.div_u (local.get $div) (i32.const 10)))
      (br_if $l (local.get $div))))
  ;; "$<len>\r\n<bytes>\r\n"
  (func $put_bulk (param $p i32) (param $len i32)
    (call $put_byte (i32.const 36))
    (call $put_num (local.get $len))
    (call $put_crlf)
    (call $put (local.get $p) (local.get $len))
    (call $put_crlf))

  ;; Sends the request built at $req and leaves the reply at 0x400;
  ;; returns its length.
  (func $send (result i32)
    (local $n i32)
    (local.set $n (call $call (global.get $req) (i32.sub (global.get $w) (global.get $req))
                              (i32.const 0x400) (i32.const 0x7c00)))
    (if (i32.gt_u (local.get $n) (i32.const 0x7c00))
      (then unreachable))  ;; an INCR or SET reply is short
    (local.get $n))

  (func (export "ember_main") (result i32)
    (local $n i32)
    (local $nkeys i32)
    (local $nargs i32)
    (local $key i32)
    (local $key_len i32)
    (local $val i32)
    (local $val_len i32)
    ;; The input, at 0x10000.
    (local.set $n (call $input (i32.const 0x10000) (call $cap (i32.const 0x10000))))
    (if (i32.gt_u (local.get $n) (call $cap (i32.const 0x10000)))
      (then
        (call $ensure (i32.add (i32.const 0x10000) (local.get $n)))
        (drop (call $input (i32.const 0x10000) (local.get $n)))))
    (global.set $req (i32.add (i32.const 0x10008) (local.get $n)))
    (call $ensure (i32.add (global.get $req) (i32.const 64)))
    (global.set $pos (i32.const 0x10000))
    (drop (call $header))                  ;; *2
    (local.set $nkeys (call $header))      ;; *K
    (if (i32.ne (local.get $nkeys) (i32.const 1))
      (then (call $reply (i32.const 0x20) (i32.const 28)) (return (i32.const 1))))
    (local.set $key_len (call $header))
    (local.set $key (global.get $pos))
    (global.set $pos (i32.add (global.get $pos) (i32.add (local.get $key_len) (i32.const 2))))
    (local.set $nargs (call $header))      ;; *A
    (if (local.get $nargs)
      (then
        (local.set $val_len (call $header))
        (local.set $val (global.get $pos))
        ;; SET key value
        (global.set $w (global.get $req))
        (call $put_byte (i32.const 42))     ;; '*'
        (call $put_num (i32.const 3))
        (call $put_crlf)
        (call $put_bulk (i32.const 0x00) (i32.const 3))
        (call $put_bulk (local.get $key) (local.get $key_len))
        (call $put_bulk (local.get $val) (local.get $val_len))
        (local.set $n (call $send))
        (if (i32.eq (i32.load8_u (i32.const 0x400)) (i32.const 45))
          (then (call $reply (i32.const 0x400) (local.get $n)) (return (i32.const 1))))))
    ;; INCR key
    (global.set $w (global.get $req))
    (call $put_byte (i32.const 42))
    (call $put_num (i32.const 2))
    (call $put_crlf)
    (call $put_bulk (i32.const 0x10) (i32.const 4))
    (call $put_bulk (local.get $key) (local.get $key_len))
    (local.set $n (call $send))
    (call $reply (i32.const 0x400) (local.get $n))
    ;; An error reply is not caught: abort, so the SET is undone.
    (i32.eq (i32.load8_u (i32.const 0x400)) (i32.const 45)))
)
