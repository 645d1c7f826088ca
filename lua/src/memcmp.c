/* memcmp with wasm SIMD, 64 then 16 then 8 bytes at a time. wasi-libc's is
 * musl's byte loop, and Lua compares strings with it whenever a new string
 * lands in a hash bucket with others: Lua 5.1 hashes a long string by
 * sampling one byte in 32, so strings that differ in a few places (`prefix
 * .. i`) share buckets and every new one is compared with its bucket. Redis
 * has the same collisions but a vectorised memcmp; with the byte loop that
 * workload ran ~50x slower than on Redis. Defining memcmp here keeps libc's
 * out of the link; build.sh compiles this file with -msimd128. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

static int tail_cmp(const unsigned char *p, const unsigned char *q, size_t n) {
    for (; n; n--, p++, q++)
        if (*p != *q) return *p - *q;
    return 0;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *p = a, *q = b;
    /* Loads may be unaligned: wasm allows it. */
    while (n >= 64) {
        v128_t d = wasm_v128_or(
            wasm_v128_or(wasm_v128_xor(wasm_v128_load(p), wasm_v128_load(q)),
                         wasm_v128_xor(wasm_v128_load(p + 16), wasm_v128_load(q + 16))),
            wasm_v128_or(wasm_v128_xor(wasm_v128_load(p + 32), wasm_v128_load(q + 32)),
                         wasm_v128_xor(wasm_v128_load(p + 48), wasm_v128_load(q + 48))));
        if (wasm_v128_any_true(d)) break;
        p += 64;
        q += 64;
        n -= 64;
    }
    while (n >= 16) {
        if (wasm_v128_any_true(wasm_v128_xor(wasm_v128_load(p), wasm_v128_load(q)))) break;
        p += 16;
        q += 16;
        n -= 16;
    }
    while (n >= 8) {
        uint64_t x, y;
        __builtin_memcpy(&x, p, 8);
        __builtin_memcpy(&y, q, 8);
        if (x != y) break;
        p += 8;
        q += 8;
        n -= 8;
    }
    return tail_cmp(p, q, n < 16 ? n : 16);
}
