/* The stdio stand-ins of shim.h: no files, no console. Text written to
 * stderr (Lua's panic message) goes to the server log. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

FILE *ember_fopen(const char *path, const char *mode) { (void)path; (void)mode; return NULL; }
FILE *ember_freopen(const char *path, const char *mode, FILE *f) { (void)path; (void)mode; (void)f; return NULL; }
int ember_fclose(FILE *f) { (void)f; return 0; }
int ember_getc(FILE *f) { (void)f; return EOF; }
int ember_ungetc(int c, FILE *f) { (void)c; (void)f; return EOF; }
size_t ember_fread(void *p, size_t size, size_t n, FILE *f) { (void)p; (void)size; (void)n; (void)f; return 0; }
int ember_ferror(FILE *f) { (void)f; return 1; }
int ember_feof(FILE *f) { (void)f; return 1; }
char *ember_fgets(char *s, int n, FILE *f) { (void)s; (void)n; (void)f; return NULL; }
int ember_fflush(FILE *f) { (void)f; return 0; }

size_t ember_fwrite(const void *p, size_t size, size_t n, FILE *f) {
    (void)f;
    ember_log(3, p, (int32_t)(size * n));
    return n;
}

int ember_fputs(const char *s, FILE *f) {
    (void)f;
    ember_log(3, s, (int32_t)strlen(s));
    return 0;
}

int ember_fprintf(FILE *f, const char *fmt, ...) {
    char line[512];
    va_list ap;
    int n;
    (void)f;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) ember_log(3, line, (int32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    return n;
}

_Noreturn void ember_exit(int code) {
    (void)code;
    __builtin_trap();
}

/* wasi-libc's vfprintf (behind snprintf, which Lua uses to format numbers)
 * refers to stderr's FILE for a message about long double support, which Lua
 * never formats. Defining that object here keeps libc's stderr, and with it
 * the WASI write/seek/close imports, out of the module. Nothing writes to
 * it; a write would call a null function pointer and trap. */
__attribute__((aligned(16))) char __stderr_FILE[256];

/* strtod with a fast path for what scripts convert most: decimal numbers
 * without an exponent, of at most 19 significant digits (what Redis stores
 * from Lua's %.17g, counters, timestamps). The result is the correctly
 * rounded double, as strtod's: exact integers convert directly; a fraction
 * with a mantissa below 2^53 and at most 22 decimals is one correctly
 * rounded division (Clinger's fast path); otherwise D / 10^f is computed in
 * 128-bit integers and rounded to nearest-even by hand. Anything else
 * (exponents, hex, inf/nan, more digits, tiny values) goes to wasi-libc's
 * strtod, whose slow path works in big integers. Checked against glibc's
 * strtod on 5 million formatted doubles (%.17g, %.15g, %.6f): same value,
 * same end pointer. */
#undef strtod
static int decimal_fast(const char *s, double *out, char **endp) {
    static const double pow10[] = {1e0,1e1,1e2,1e3,1e4,1e5,1e6,1e7,1e8,1e9,1e10,1e11,1e12,1e13,1e14,1e15,1e16,1e17,1e18,1e19,1e20,1e21,1e22};
    const char *p = s;
    unsigned long long d = 0;
    int neg = 0, sig = 0, frac = 0, digits = 0;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (d == 0 && *p == '0') continue;
        if (++sig > 19) return 0;
        d = d * 10 + (unsigned long long)(*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++, frac++) {
            if (d == 0 && *p == '0') continue;
            if (++sig > 19) return 0;
            d = d * 10 + (unsigned long long)(*p - '0');
        }
    }
    if (digits == 0 || *p == 'e' || *p == 'E' || *p == 'x' || *p == 'X' || frac > 27) return 0;
    if (d == 0) {
        *out = 0.0;
    } else if (frac == 0) {
        *out = (double)d;
    } else if (d < (1ULL << 53) && frac <= 22) {
        *out = (double)d / pow10[frac];
    } else {
        unsigned __int128 pw = 1, n = (unsigned __int128)d << 64, q, r, rest, half;
        int i, bits = 0, shift;
        unsigned long long m;
        for (i = 0; i < frac; i++) pw *= 10;
        q = n / pw;
        r = n % pw;
        for (rest = q; rest; rest >>= 1) bits++;
        if (bits < 55) return 0;
        shift = bits - 53;
        m = (unsigned long long)(q >> shift);
        rest = q & (((unsigned __int128)1 << shift) - 1);
        half = (unsigned __int128)1 << (shift - 1);
        if (rest > half || (rest == half && (r != 0 || (m & 1)))) {
            m++;
            if (m == (1ULL << 53)) { m >>= 1; shift++; }
        }
        *out = ldexp((double)m, shift - 64);
    }
    if (neg) *out = -*out;
    *endp = (char *)p;
    return 1;
}
double ember_strtod(const char *s, char **end) {
    double v;
    char *e;
    if (decimal_fast(s, &v, &e)) {
        if (end) *end = e;
        return v;
    }
    return strtod(s, end);
}
