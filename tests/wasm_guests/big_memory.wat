;; big_memory.wat: declares 1 GiB of initial memory (16384 pages), far over
;; the default wasm-memory-limit of 64 MiB: refused when instantiated.
(module
  (memory (export "memory") 16384)
  (func (export "ember_abi_version") (result i32) (i32.const 1))
  (func (export "ember_main") (result i32) (i32.const 0))
)
