;; import_env.wat: imports env.abort (what AssemblyScript emits): refused at
;; load, naming it.
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
