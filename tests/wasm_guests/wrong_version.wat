;; wrong_version.wat: speaks ABI version 2, which this host does not.
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 2))
  (func (export "ember_main") (result i32) (i32.const 0))
)
