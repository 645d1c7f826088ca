/* The runtime LLVM's wasm setjmp/longjmp lowering calls (the ABI of
 * wasi-libc's libsetjmp, which Debian's wasi-libc predates). setjmp records
 * which invocation and site it was; longjmp throws the __c_longjmp wasm
 * exception carrying the jmp_buf, and the code LLVM generated at the setjmp
 * site catches it and asks __wasm_setjmp_test whether it is its own. */
#include <setjmp.h>
#include <stdint.h>

void __wasm_setjmp(void *env, uint32_t label, void *invocation) {
    struct ember_jmp_buf *jb = env;
    if (label == 0 || invocation == 0) __builtin_trap();
    jb->invocation = invocation;
    jb->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *invocation) {
    struct ember_jmp_buf *jb = env;
    if (jb->label == 0 || invocation == 0) __builtin_trap();
    return jb->invocation == invocation ? jb->label : 0;
}

void __wasm_longjmp(void *env, int val) {
    struct ember_jmp_buf *jb = env;
    jb->arg.env = env;
    jb->arg.val = val == 0 ? 1 : val;
    __builtin_wasm_throw(1, &jb->arg); /* tag 1 is __c_longjmp (longjmp_tag.S) */
}
