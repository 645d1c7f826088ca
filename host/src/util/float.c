/* Long-double helpers for INCRBYFLOAT and HINCRBYFLOAT.
 *
 * Redis does this arithmetic in C `long double` (80-bit on x86-64) and prints
 * the result with "%.17Lf" before trimming zeros. Rust has no 80-bit float, and
 * doing it in f64 gives different digits (10.5 + 0.1 prints 10.59999999999999964
 * in f64 but 10.6 in Redis), so we use the C compiler's long double to be
 * byte-compatible. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Same acceptance rules as Redis's string2ld. Returns 1 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Formats like Redis's ld2string(LD_STR_HUMAN). Returns the length or -1. */
static int format_ld(long double value, char *out, size_t outlen) {
    int l;
    char *p;
    if (isinf(value)) return -1;
    l = snprintf(out, outlen, "%.17Lf", value);
    if (l < 0 || (size_t)l + 1 > outlen) return -1;
    if (strchr(out, '.') != NULL) {
        p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}

/* current + incr, each given as bytes. Returns the formatted length, or
 * -1: current is not a float, -2: incr is not a float, -3: NaN or infinity,
 * -4: the output does not fit. */
int ember_ld_incr(const char *cur, size_t cur_len, const char *incr, size_t incr_len,
                  char *out, size_t out_len) {
    long double a, b, v;
    int l;
    if (!parse_ld(cur, cur_len, &a)) return -1;
    if (!parse_ld(incr, incr_len, &b)) return -2;
    v = a + b;
    if (isnan(v) || isinf(v)) return -3;
    l = format_ld(v, out, out_len);
    return l < 0 ? -4 : l;
}

/* Checks that `s` parses as a long double the way Redis's string2ld does. */
int ember_ld_valid(const char *s, size_t len) {
    long double v;
    return parse_ld(s, len, &v);
}
