;; panic.wat: traps at once (what a Rust guest's panic = "abort" becomes).
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32)
    unreachable)
)
