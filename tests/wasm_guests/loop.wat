;; loop.wat: never returns. The host must stop it at wasm-time-limit (or on
;; SCRIPT KILL) while serving every other client.
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
)
