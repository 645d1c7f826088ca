/* <setjmp.h> for the Lua guest. Debian's wasi-libc (2022 snapshot) has none.
 * With `-mllvm -wasm-enable-sjlj`, LLVM rewrites setjmp/longjmp into calls of
 * __wasm_setjmp, __wasm_setjmp_test and __wasm_longjmp (sjlj.c), which use
 * wasm exceptions; this header only has to give jmp_buf the layout sjlj.c
 * uses. */
#ifndef EMBER_SETJMP_H
#define EMBER_SETJMP_H
struct ember_jmp_buf {
    void *invocation;          /* which call of the function did setjmp */
    unsigned int label;        /* which setjmp site inside it */
    struct { void *env; int val; } arg; /* what the thrown exception carries */
};
typedef struct ember_jmp_buf jmp_buf[1];
int setjmp(jmp_buf env) __attribute__((returns_twice));
void longjmp(jmp_buf env, int val) __attribute__((noreturn));
int _setjmp(jmp_buf env) __attribute__((returns_twice));
void _longjmp(jmp_buf env, int val) __attribute__((noreturn));
#endif
