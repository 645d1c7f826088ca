/*
 * lua_struct.c -- the `struct` library that Redis scripts see: struct.pack, struct.unpack and
 * struct.size, converting between Lua values and binary strings laid out like C structs.
 *
 * Written for Ember from the library's documented behaviour and checked byte for byte against
 * redis-server 7.0 (lua/test/run.sh). No source of Redis or of the original library was used.
 *
 * The layout is the one Redis has on x86-64, whatever the target: `h` is 2 bytes, `i` 4, `l` and
 * `T` 8, `!` alone aligns to 8, and the native byte order is little-endian. So a wasm32 build
 * (where `long` and `size_t` are 4 bytes) packs exactly what Redis packs. Float-to-integer
 * conversions are written out by hand so that out-of-range values give the x86-64 results instead
 * of undefined behaviour (a wasm `i64.trunc_f64_s` would trap).
 *
 * Format string (spaces are ignored):
 *   >  <      big / little endian from here on (default little)
 *   !N        align fields to min(field size, N); N a power of 2, default 8; initially 1
 *   x         one zero byte (pack) / one skipped byte (unpack)
 *   b B h H l L T      signed/unsigned char, short, long; size_t
 *   iN IN     signed/unsigned integer of N bytes (default 4, at most 32)
 *   f d       float, double (Redis's struct has no `n`)
 *   cN        N bytes of a string (c0: the whole string on pack, a length taken from the
 *             previous unpacked value on unpack)
 *   s         a zero-terminated string
 *
 * No stdio, no files: this compiles for wasm32-wasi without pulling any import in.
 */

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

/* The largest integer size and the default `!` alignment, as on Redis's 64-bit builds. */
#define STRUCT_MAX_INT 32
#define STRUCT_MAX_ALIGN 8

/* Sizes of the C types as x86-64 has them (see the header comment). */
#define SIZE_SHORT 2
#define SIZE_INT 4
#define SIZE_LONG 8
#define SIZE_SIZE_T 8

typedef struct {
  int big;   /* 1: big-endian, 0: little-endian */
  int align; /* current maximum alignment */
} layout;

static void layout_init(layout *lay) {
  lay->big = 0;
  lay->align = 1;
}

/* Read a decimal count at *fmt (advancing it), or return `dflt` if there is none. */
static int read_count(lua_State *L, const char **fmt, int dflt) {
  int n = 0;
  if (!isdigit((unsigned char)**fmt)) return dflt;
  while (isdigit((unsigned char)**fmt)) {
    int digit = **fmt - '0';
    if (n > (INT_MAX - digit) / 10) luaL_error(L, "integral size overflow");
    n = n * 10 + digit;
    (*fmt)++;
  }
  return n;
}

/* The number of bytes option `opt` occupies (0 for options that are not fields or whose size
 * is not known in advance). Reads the option's count from *fmt where it takes one. */
static size_t field_size(lua_State *L, int opt, const char **fmt) {
  switch (opt) {
    case 'b': case 'B': case 'x': return 1;
    case 'h': case 'H': return SIZE_SHORT;
    case 'l': case 'L': return SIZE_LONG;
    case 'T': return SIZE_SIZE_T;
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'c': return (size_t)read_count(L, fmt, 1);
    case 'i': case 'I': {
      int n = read_count(L, fmt, SIZE_INT);
      if (n > STRUCT_MAX_INT)
        luaL_error(L, "integral size %d is larger than limit of %d", n, STRUCT_MAX_INT);
      return (size_t)n;
    }
    default: return 0;
  }
}

/* Padding needed before a field of `size` bytes at offset `at`. */
static size_t padding(size_t at, const layout *lay, int opt, size_t size) {
  size_t a;
  if (size == 0 || opt == 'c') return 0;
  a = size < (size_t)lay->align ? size : (size_t)lay->align;
  return (a - (at & (a - 1))) & (a - 1);
}

/* Apply an option that is not a field (endianness, alignment, space); anything else is an
 * invalid option. */
static void apply_control(lua_State *L, int opt, const char **fmt, layout *lay) {
  switch (opt) {
    case ' ': return;
    case '>': lay->big = 1; return;
    case '<': lay->big = 0; return;
    case '!': {
      int a = read_count(L, fmt, STRUCT_MAX_ALIGN);
      if (a <= 0 || (a & (a - 1)) != 0)
        luaL_error(L, "alignment %d is not a power of 2", a);
      lay->align = a;
      return;
    }
    default:
      luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
  }
}

/* x86-64's conversion of a double to a signed 64-bit integer (cvttsd2si): truncation, and the
 * "integer indefinite" value for NaN and out-of-range inputs. */
static int64_t to_i64(double d) {
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) return (int64_t)d;
  return INT64_MIN;
}

/* What gcc emits on x86-64 for a double to unsigned 64-bit conversion: one cvttsd2si below
 * 2^63 (and for NaN), otherwise a cvttsd2si of d - 2^63 with the top bit flipped. */
static uint64_t to_u64(double d) {
  if (!(d >= 9223372036854775808.0)) return (uint64_t)to_i64(d); /* NaN too */
  return (uint64_t)to_i64(d - 9223372036854775808.0) ^ ((uint64_t)1 << 63);
}

/* Write the integer argument `arg` as `size` bytes. Negative numbers are two's complement of
 * their 64-bit value; bytes beyond the 8th are zero. */
static void pack_integer(lua_State *L, luaL_Buffer *b, int arg, const layout *lay, size_t size) {
  lua_Number n = luaL_checknumber(L, arg);
  uint64_t v = n < 0 ? (uint64_t)to_i64(n) : to_u64(n);
  char bytes[STRUCT_MAX_INT];
  size_t i;
  for (i = 0; i < size; i++) {
    char byte = (char)(v & 0xff);
    v = i < 7 ? v >> 8 : 0;
    if (lay->big) bytes[size - 1 - i] = byte;
    else bytes[i] = byte;
  }
  luaL_addlstring(b, bytes, size);
}

/* Read `size` bytes as an integer; only the last 8 significant bytes count. For signed
 * formats the sign bit of the `size`-byte value is extended (with x86-64's shift-count wrap for
 * sizes above 8, as Redis behaves). */
static lua_Number unpack_integer(const unsigned char *p, const layout *lay, int is_signed,
                                 size_t size) {
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < size; i++) {
    unsigned char byte = lay->big ? p[i] : p[size - 1 - i];
    v = (v << 8) | byte;
  }
  if (!is_signed) return (lua_Number)v;
  {
    uint64_t mask = ~(uint64_t)0 << ((size * 8 - 1) & 63);
    if (v & mask) v |= mask;
    return (lua_Number)(int64_t)v;
  }
}

/* Reverse `n` bytes in place when the wanted order is not the (little-endian) host order. */
static void order_bytes(unsigned char *p, size_t n, const layout *lay) {
  size_t i;
  if (!lay->big) return;
  for (i = 0; i < n / 2; i++) {
    unsigned char t = p[i];
    p[i] = p[n - 1 - i];
    p[n - 1 - i] = t;
  }
}

static int struct_pack(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  int arg = 2;
  size_t total = 0;
  layout lay;
  luaL_Buffer b;
  layout_init(&lay);
  lua_pushnil(L); /* keeps the buffer's stack slots apart from the arguments */
  luaL_buffinit(L, &b);
  while (*fmt != '\0') {
    int opt = (unsigned char)*fmt++;
    size_t size = field_size(L, opt, &fmt);
    size_t pad = padding(total, &lay, opt, size);
    total += pad;
    while (pad-- > 0) luaL_addchar(&b, '\0');
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i':
      case 'I':
        pack_integer(L, &b, arg++, &lay, size);
        break;
      case 'x':
        luaL_addchar(&b, '\0');
        break;
      case 'f':
      case 'd': {
        lua_Number n = luaL_checknumber(L, arg++);
        unsigned char raw[sizeof(double)];
        if (opt == 'f') {
          float f = (float)n;
          memcpy(raw, &f, sizeof f);
        } else {
          double d = (double)n;
          memcpy(raw, &d, sizeof d);
        }
        order_bytes(raw, size, &lay);
        luaL_addlstring(&b, (const char *)raw, size);
        break;
      }
      case 'c':
      case 's': {
        size_t len;
        const char *s = luaL_checklstring(L, arg++, &len);
        if (size == 0) size = len;
        luaL_argcheck(L, len >= size, arg, "string too short");
        luaL_addlstring(&b, s, size);
        if (opt == 's') {
          luaL_addchar(&b, '\0');
          size++;
        }
        break;
      }
      default:
        apply_control(L, opt, &fmt, &lay);
    }
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

/* Is there room for `size` bytes at `pos` in data of length `len`? */
static int fits(uint64_t pos, uint64_t size, size_t len) {
  return size <= len && pos <= len - size;
}

static int struct_unpack(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  /* 64-bit like Redis's size_t, also where size_t is 32 bits: an offset of 2^32 + 1 is past
   * the end, not 1. */
  uint64_t pos = (uint64_t)luaL_optinteger(L, 3, 1);
  int results = 0;
  layout lay;
  luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
  pos--; /* 0-based from here on */
  layout_init(&lay);
  while (*fmt != '\0') {
    int opt = (unsigned char)*fmt++;
    size_t size = field_size(L, opt, &fmt);
    pos += padding((size_t)pos, &lay, opt, size);
    luaL_argcheck(L, fits(pos, size, len), 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i':
      case 'I':
        lua_pushnumber(L, unpack_integer((const unsigned char *)data + pos, &lay,
                                         islower(opt), size));
        results++;
        break;
      case 'x':
        break;
      case 'f':
      case 'd': {
        unsigned char raw[sizeof(double)];
        memcpy(raw, data + pos, size);
        order_bytes(raw, size, &lay);
        if (opt == 'f') {
          float f;
          memcpy(&f, raw, sizeof f);
          lua_pushnumber(L, (lua_Number)f);
        } else {
          double d;
          memcpy(&d, raw, sizeof d);
          lua_pushnumber(L, (lua_Number)d);
        }
        results++;
        break;
      }
      case 'c':
        if (size == 0) {
          if (results == 0 || !lua_isnumber(L, -1))
            luaL_error(L, "format 'c0' needs a previous size");
          {
            uint64_t want = to_u64(lua_tonumber(L, -1));
            lua_pop(L, 1);
            results--;
            luaL_argcheck(L, fits(pos, want, len), 2, "data string too short");
            size = (size_t)want;
          }
        }
        lua_pushlstring(L, data + pos, size);
        results++;
        break;
      case 's': {
        const char *end = memchr(data + pos, '\0', len - pos);
        if (end == NULL) luaL_error(L, "unfinished string in data");
        size = (size_t)(end - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        results++;
        break;
      }
      default:
        apply_control(L, opt, &fmt, &lay);
    }
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)(pos + 1));
  return results + 1;
}

static int struct_size(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  size_t pos = 0;
  layout lay;
  layout_init(&lay);
  while (*fmt != '\0') {
    int opt = (unsigned char)*fmt++;
    size_t size = field_size(L, opt, &fmt);
    pos += padding(pos, &lay, opt, size);
    if (opt == 's')
      luaL_argerror(L, 1, "option 's' has no fixed size");
    else if (opt == 'c' && size == 0)
      luaL_argerror(L, 1, "option 'c0' has no fixed size");
    if (!isalnum(opt)) apply_control(L, opt, &fmt, &lay);
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

static const luaL_Reg struct_functions[] = {
  {"pack", struct_pack},
  {"unpack", struct_unpack},
  {"size", struct_size},
  {NULL, NULL}
};

/* Opens the library as the global table `struct` (Lua 5.1's luaL_register sets the global). */
int luaopen_struct(lua_State *L) {
  luaL_register(L, "struct", struct_functions);
  return 1;
}
