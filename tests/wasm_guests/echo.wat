;; echo.wat: replies with its own input, the RESP array [KEYS, ARGV] the host
;; hands every script (docs/abi.md, "input"). Written by hand from the spec,
;; without the SDK.
;;
;; It first asks `input` with an empty buffer (dst_cap 0): the host copies
;; nothing and returns the full length; the guest grows its memory to fit and
;; asks again. That is the "retry with a bigger buffer" rule of the ABI.
;;
;;   redis-cli eval "$(cat echo.wat)" 2 k1 k2 a1  ->  1) 1) "k1" 2) "k2"  2) 1) "a1"
(module
  (import "ember" "input" (func $input (param i32 i32) (result i32)))
  (import "ember" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)

  (func (export "ember_abi_version") (result i32) (i32.const 1))

  (func (export "ember_main") (result i32)
    (local $n i32)
    (local $have i32)
    ;; How long is the input? (nothing is copied: the buffer holds 0 bytes)
    (local.set $n (call $input (i32.const 0) (i32.const 0)))
    ;; The input goes at 1024; grow the memory until it fits.
    (local.set $have (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1024)))
    (if (i32.gt_u (local.get $n) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $n) (local.get $have)) (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    ;; Now the same call copies it, and returns the same length.
    (if (i32.ne (call $input (i32.const 1024) (local.get $n)) (local.get $n))
      (then unreachable))
    (call $reply (i32.const 1024) (local.get $n))
    (i32.const 0))
)
