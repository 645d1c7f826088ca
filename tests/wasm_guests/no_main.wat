;; no_main.wat: a script without ember_main.
(module
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "main") (result i32) (i32.const 0))
)
