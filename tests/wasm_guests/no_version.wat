;; no_version.wat: does not export ember_abi_version.
(module
  (memory (export "memory") 1)
  (func (export "ember_main") (result i32) (i32.const 0))
)
