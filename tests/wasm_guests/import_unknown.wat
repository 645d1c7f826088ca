;; import_unknown.wat: imports a function module `ember` does not have.
(module
  (import "ember" "exec" (func $exec (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
