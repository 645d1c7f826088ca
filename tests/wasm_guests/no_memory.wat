;; no_memory.wat: exports no memory.
(module
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
