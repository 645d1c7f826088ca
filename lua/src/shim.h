/* Forced into every C file of the Lua guest (clang -include): the file and
 * console functions of stdio become shim.c's, which have no file system and
 * no console behind them, so wasi-libc's stdio back end (and its WASI
 * imports) never gets linked and the module imports only `ember`. What uses
 * them in Lua is out of the sandbox anyway: loadfile/dofile (removed, as in
 * Redis), print (not on Redis's allow-list), debug.debug (no debug library),
 * and the panic message, which goes to the server log. `exit` traps. */
#ifndef EMBER_SHIM_H
#define EMBER_SHIM_H
#include <stdio.h>
#include <stdlib.h>

FILE *ember_fopen(const char *path, const char *mode);
FILE *ember_freopen(const char *path, const char *mode, FILE *f);
int ember_fclose(FILE *f);
int ember_getc(FILE *f);
int ember_ungetc(int c, FILE *f);
size_t ember_fread(void *p, size_t size, size_t n, FILE *f);
size_t ember_fwrite(const void *p, size_t size, size_t n, FILE *f);
int ember_ferror(FILE *f);
int ember_feof(FILE *f);
int ember_fputs(const char *s, FILE *f);
char *ember_fgets(char *s, int n, FILE *f);
int ember_fflush(FILE *f);
int ember_fprintf(FILE *f, const char *fmt, ...);
_Noreturn void ember_exit(int code);
double ember_strtod(const char *s, char **end);

#undef stdin
#undef stdout
#undef stderr
#define stdin ((FILE *)0)
#define stdout ((FILE *)0)
#define stderr ((FILE *)0)
#define fopen ember_fopen
#define freopen ember_freopen
#define fclose ember_fclose
#undef getc
#define getc ember_getc
#define ungetc ember_ungetc
#define fread ember_fread
#define fwrite ember_fwrite
#define ferror ember_ferror
#define feof ember_feof
#define fputs ember_fputs
#define fgets ember_fgets
#define fflush ember_fflush
#define fprintf ember_fprintf
#define exit ember_exit
/* Lua's tonumber and string->number coercions go through strtod; musl's is
 * exact but slow, and scripts convert mostly small integers (shim.c). */
#define strtod ember_strtod
#endif
