# The wasm exception tag LLVM's setjmp/longjmp lowering throws and catches.
# clang >= 20 leaves it undefined in the objects it emits; the runtime defines it.
	.tagtype __c_longjmp i32
	.globl __c_longjmp
__c_longjmp:
