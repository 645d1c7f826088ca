;; proxy.wat: forwards RESP requests given as ARGV to the host's `call`,
;; written by hand from docs/abi.md without the SDK. It proves the ABI is
;; enough for a guest that only knows RESP, and lets one guest drive many
;; tests: every failure mode below runs *after* the requests, so a test can
;; check that none of their writes remain (all-or-nothing).
;;
;;   EVAL <proxy> numkeys key.. MODE req1 req2 ...
;;
;; Each reqN is one whole command as a RESP array of bulk strings, e.g.
;; "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n". MODE (its first byte counts):
;;
;;   call    run the requests in order; stop at the first error reply and
;;           return it with code 1 (like an uncaught redis.call error);
;;           otherwise reply with the last request's reply
;;   pcall   run them all; reply with an array of every reply (like
;;           redis.pcall: errors are values)
;;   abort   run them all, then reply "-ERR guest said no" and return 1
;;   nabort  run them all, then reply "+OK" (not an error) and return 1
;;   empty   run them all, never call `reply`, return 0
;;   trap    run them all, then execute `unreachable`
;;   spin    run them all, then loop forever (time limit / SCRIPT KILL)
;;   grow    run them all, then grow the memory one page at a time forever
;;   deep    run them all, then recurse forever (stack limit)
;;   oob     run them all, then pass an out-of-bounds pointer to `reply`
;;   malformed  run them all, then reply "*5\r\n" (claims 5 elements, has none)
;;   2       run them all, then reply with the last reply and return 2
;;   raw     reply with req1's bytes verbatim (no call): any RESP value
;;   xraw    the same, and return 1 (abort)
;;
;; Memory: constants below 0x100, scratch at 0x100, the (ptr, len) table of
;; KEYS then ARGV at 0x1000, the input at 0x10000, replies after the input.
(module
  (import "ember" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "ember" "last_reply" (func $last_reply (param i32 i32) (result i32)))
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 2)

  (data (i32.const 0x00) "-ERR guest said no\r\n")  ;; 20 bytes
  (data (i32.const 0x40) "+OK\r\n")                 ;; 5 bytes
  (data (i32.const 0x80) "*5\r\n")                  ;; 4 bytes

  (global $pos (mut i32) (i32.const 0))
  (global $nkeys (mut i32) (i32.const 0))
  (global $nargs (mut i32) (i32.const 0))
  (global $in_end (mut i32) (i32.const 0))

  (func (export "ember_abi_version") (result i32) (i32.const 1))

  ;; Bytes of memory from $p to its end.
  (func $cap (param $p i32) (result i32)
    (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $p)))

  ;; Grows the memory so that [0, $end) lies inside it.
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

  ;; Reads "<type byte><digits>\r\n" at $pos and returns the number.
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

  ;; Records $count bulk strings at $pos as (ptr, len) pairs from $slot on.
  (func $bulks (param $count i32) (param $slot i32) (result i32)
    (local $len i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (if (i32.ge_u (local.get $slot) (i32.const 0x10000)) (then unreachable))
        (local.set $len (call $header))
        (i32.store (local.get $slot) (global.get $pos))
        (i32.store offset=4 (local.get $slot) (local.get $len))
        (global.set $pos (i32.add (global.get $pos) (i32.add (local.get $len) (i32.const 2))))
        (local.set $slot (i32.add (local.get $slot) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next)))
    (local.get $slot))

  ;; Fetches the input (asking again with a bigger buffer when it does not
  ;; fit) and indexes KEYS and ARGV.
  (func $parse_input
    (local $n i32)
    (local $slot i32)
    (local.set $n (call $input (i32.const 0x10000) (call $cap (i32.const 0x10000))))
    (if (i32.gt_u (local.get $n) (call $cap (i32.const 0x10000)))
      (then
        (call $ensure (i32.add (i32.const 0x10000) (local.get $n)))
        (drop (call $input (i32.const 0x10000) (local.get $n)))))
    (global.set $in_end (i32.add (i32.const 0x10000) (local.get $n)))
    (global.set $pos (i32.const 0x10000))
    (drop (call $header))                    ;; *2
    (global.set $nkeys (call $header))       ;; *K
    (local.set $slot (call $bulks (global.get $nkeys) (i32.const 0x1000)))
    (global.set $nargs (call $header))       ;; *A
    (drop (call $bulks (global.get $nargs) (local.get $slot))))

  (func $arg_ptr (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 0x1000)
                       (i32.shl (i32.add (global.get $nkeys) (local.get $i)) (i32.const 3)))))
  (func $arg_len (param $i i32) (result i32)
    (i32.load offset=4 (i32.add (i32.const 0x1000)
                       (i32.shl (i32.add (global.get $nkeys) (local.get $i)) (i32.const 3)))))

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

  (func $recurse (param $n i32) (result i32)
    (i32.add (i32.const 1) (call $recurse (i32.add (local.get $n) (i32.const 1)))))

  (func (export "ember_main") (result i32)
    (local $mode i32)
    (local $i i32)
    (local $out i32)
    (local $cursor i32)
    (local $n i32)
    (local $last i32)
    (local $h i32)
    (call $parse_input)
    (if (i32.eqz (global.get $nargs))
      (then (call $reply (i32.const 0) (i32.const 20)) (return (i32.const 1))))
    (local.set $mode (i32.load8_u (call $arg_ptr (i32.const 0))))

    ;; raw / xraw: reply with req1 verbatim.
    (if (i32.or (i32.eq (local.get $mode) (i32.const 114))      ;; 'r'
                (i32.eq (local.get $mode) (i32.const 120)))     ;; 'x'
      (then
        (call $reply (call $arg_ptr (i32.const 1)) (call $arg_len (i32.const 1)))
        (return (i32.eq (local.get $mode) (i32.const 120)))))

    ;; Replies go after the input, 64 bytes later: room for pcall's header.
    (local.set $out (i32.add (i32.and (i32.add (global.get $in_end) (i32.const 7)) (i32.const -8))
                             (i32.const 64)))
    (call $ensure (i32.add (local.get $out) (i32.const 16)))
    (local.set $cursor (local.get $out))
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $nargs)))
        (local.set $n (call $call (call $arg_ptr (local.get $i)) (call $arg_len (local.get $i))
                                  (local.get $cursor) (call $cap (local.get $cursor))))
        (if (i32.gt_u (local.get $n) (call $cap (local.get $cursor)))
          (then
            ;; It did not fit: nothing was copied; fetch it with last_reply.
            (call $ensure (i32.add (local.get $cursor) (local.get $n)))
            (if (i32.ne (call $last_reply (local.get $cursor) (local.get $n)) (local.get $n))
              (then unreachable))))
        (local.set $last (local.get $cursor))
        ;; call: an error reply ends the script with it.
        (if (i32.and (i32.eq (local.get $mode) (i32.const 99))             ;; 'c'
                     (i32.eq (i32.load8_u (local.get $cursor)) (i32.const 45)))  ;; '-'
          (then
            (call $reply (local.get $cursor) (local.get $n))
            (return (i32.const 1))))
        ;; pcall keeps every reply; the other modes only the last one.
        (if (i32.eq (local.get $mode) (i32.const 112))                     ;; 'p'
          (then (local.set $cursor (i32.add (local.get $cursor) (local.get $n)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))

    (block $two
      (block $malformed
      (block $oob
      (block $deep
      (block $grow
      (block $spin
      (block $trap
      (block $empty
      (block $nabort
      (block $abort
      (block $pcall
      (block $call
        (br_if $call (i32.eq (local.get $mode) (i32.const 99)))     ;; c
        (br_if $pcall (i32.eq (local.get $mode) (i32.const 112)))   ;; p
        (br_if $abort (i32.eq (local.get $mode) (i32.const 97)))    ;; a
        (br_if $nabort (i32.eq (local.get $mode) (i32.const 110)))  ;; n
        (br_if $empty (i32.eq (local.get $mode) (i32.const 101)))   ;; e
        (br_if $trap (i32.eq (local.get $mode) (i32.const 116)))    ;; t
        (br_if $spin (i32.eq (local.get $mode) (i32.const 115)))    ;; s
        (br_if $grow (i32.eq (local.get $mode) (i32.const 103)))    ;; g
        (br_if $deep (i32.eq (local.get $mode) (i32.const 100)))    ;; d
        (br_if $oob (i32.eq (local.get $mode) (i32.const 111)))     ;; o
        (br_if $malformed (i32.eq (local.get $mode) (i32.const 109))) ;; m
        (br_if $two (i32.eq (local.get $mode) (i32.const 50)))      ;; 2
        ;; unknown mode
        (call $reply (i32.const 0) (i32.const 20))
        (return (i32.const 1)))
      ;; call: the last reply (nil when there was no request)
      (if (i32.gt_u (global.get $nargs) (i32.const 1))
        (then (call $reply (local.get $last) (local.get $n))))
      (return (i32.const 0)))
      ;; pcall: "*<count>\r\n" written just before the replies
      (i32.store8 (i32.const 0x100) (i32.const 42))                   ;; '*'
      (local.set $h (i32.add (i32.const 1)
                             (call $itoa (i32.sub (global.get $nargs) (i32.const 1)) (i32.const 0x101))))
      (i32.store16 (i32.add (i32.const 0x100) (local.get $h)) (i32.const 0x0a0d))  ;; "\r\n"
      (local.set $h (i32.add (local.get $h) (i32.const 2)))
      (memory.copy (i32.sub (local.get $out) (local.get $h)) (i32.const 0x100) (local.get $h))
      (call $reply (i32.sub (local.get $out) (local.get $h))
                   (i32.add (local.get $h) (i32.sub (local.get $cursor) (local.get $out))))
      (return (i32.const 0)))
      ;; abort
      (call $reply (i32.const 0) (i32.const 20))
      (return (i32.const 1)))
      ;; nabort
      (call $reply (i32.const 0x40) (i32.const 5))
      (return (i32.const 1)))
      ;; empty
      (return (i32.const 0)))
      ;; trap
      unreachable)
      ;; spin
      (loop $forever (br $forever))
      unreachable)
      ;; grow
      (loop $more
        (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      ;; memory.grow said no without trapping: report it as an abort.
      (call $reply (i32.const 0) (i32.const 20))
      (return (i32.const 1)))
      ;; deep
      (return (call $recurse (i32.const 0))))
      ;; oob: a buffer that starts inside the memory and ends past it
      (call $reply (i32.sub (call $cap (i32.const 0)) (i32.const 2)) (i32.const 10))
      (return (i32.const 0)))
      ;; malformed
      (call $reply (i32.const 0x80) (i32.const 4))
      (return (i32.const 0)))
    ;; 2: any non-zero code other than 1 is an abort too
    (if (i32.gt_u (global.get $nargs) (i32.const 1))
      (then (call $reply (local.get $last) (local.get $n))))
    (i32.const 2))
)
