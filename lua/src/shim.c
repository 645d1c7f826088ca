/* The stdio stand-ins of shim.h: no files, no console. Text written to
 * stderr (Lua's panic message) goes to the server log. */
#include <stdarg.h>
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

/* strtod with a fast path for what scripts convert most: an optionally
 * signed decimal integer of at most 15 digits (exact in a double), not
 * followed by a fraction, an exponent or more digits. Anything else goes to
 * wasi-libc's strtod, so the result and the end pointer are always strtod's. */
#undef strtod
double ember_strtod(const char *s, char **end) {
    const char *p = s;
    unsigned long long v = 0;
    int neg = 0, n = 0;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    while (*p >= '0' && *p <= '9' && n < 16) {
        v = v * 10 + (unsigned long long)(*p++ - '0');
        n++;
    }
    if (n == 0 || n > 15 || *p == '.' || *p == 'e' || *p == 'E' || *p == 'x' || *p == 'X' ||
        (*p >= '0' && *p <= '9'))
        return strtod(s, end);
    if (end) *end = (char *)p;
    return neg ? -(double)v : (double)v;
}
