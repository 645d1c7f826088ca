/* memcmp eight bytes at a time. wasi-libc's is musl's byte loop, and Lua
 * compares strings with it whenever a new string lands in a hash bucket
 * with others (Lua 5.1 hashes long strings by sampling, so strings that
 * differ only in a few places share buckets): with the byte loop, building
 * many long strings that differ only at the end ran ~50x slower than on
 * Redis. Defining memcmp here keeps libc's out of the link. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *p = a, *q = b;
    while (n >= 8) {
        uint64_t x, y;
        __builtin_memcpy(&x, p, 8); /* unaligned loads: wasm allows them */
        __builtin_memcpy(&y, q, 8);
        if (x != y) break;
        p += 8;
        q += 8;
        n -= 8;
    }
    for (; n; n--, p++, q++)
        if (*p != *q) return *p - *q;
    return 0;
}
