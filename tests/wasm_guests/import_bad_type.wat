;; import_bad_type.wat: imports ember.call with the wrong signature.
(module
  (import "ember" "call" (func $call (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
