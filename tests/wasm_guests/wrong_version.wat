;; wrong_version.wat: speaks ABI version 3, which this host does not (it speaks 1 and 2).
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 3))
  (func (export "ember_main") (result i32) (i32.const 0))
)
