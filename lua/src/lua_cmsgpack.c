/*
 * lua_cmsgpack.c -- the `cmsgpack` library that Redis scripts see: MessagePack encoding and
 * decoding of Lua values (cmsgpack.pack, unpack, unpack_one, unpack_limit).
 *
 * Written for Ember from the library's documented behaviour and checked byte for byte against
 * redis-server 7.0 (lua/test/run.sh). No source of Redis or of the original library was used.
 *
 * Encoding (pack):
 *   nil, and values of other types (functions, userdata, threads) -> nil (0xc0)
 *   booleans -> 0xc2 / 0xc3
 *   numbers with an exact 64-bit integer value (also -0.0) -> the smallest integer form
 *     (positive/negative fixint, uint8..uint64 for >= 0, int8..int64 for < 0);
 *     other numbers -> float32 (0xca) when the float holds the value exactly, else float64 (0xcb)
 *   strings -> fixstr / str8 / str16 / str32
 *   tables -> an array when the keys are exactly the integers 1..n (an empty table too), its
 *     elements 1..#t; otherwise a map of all pairs in lua_next order. Tables nested deeper than
 *     16 levels are encoded as nil.
 * pack(...) encodes every argument and concatenates them; with no argument it is an error.
 *
 * Decoding (unpack): every MessagePack type except ext and bin (refused, as in Redis); str gives
 * strings; uint64 is read as signed (as Redis does); integers
 * and floats give Lua numbers; arrays give tables indexed from 1 (a nil element leaves a hole);
 * maps give tables. Truncated input: "Missing bytes in input."; ext and 0xc1: "Bad data format
 * in input.".
 *   unpack(s)                 -> all the values in s
 *   unpack_one(s [, off])     -> next offset (or -1 at the end), one value
 *   unpack_limit(s, n [, off])-> next offset (or -1 at the end), up to n values
 *     (with n == 0 and off == 0, like unpack: all values and no offset)
 *
 * No stdio, no files: this compiles for wasm32-wasi without pulling any import in.
 */

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

/* Tables deeper than this are packed as nil, as Redis does. */
#define PACK_MAX_NESTING 16

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * The output grows in a full userdata kept in one stack slot (replaced by a bigger copy when it
 * fills up), so that an error raised half-way (out of memory, stack overflow) leaks nothing: the
 * garbage collector frees it. A luaL_Buffer cannot be used, because encoding pushes the keys and
 * values of tables on top of the stack that the buffer also uses.
 */
typedef struct {
  int slot; /* absolute stack index of the userdata */
  unsigned char *data;
  size_t len, cap;
} outbuf;

static void out_reserve(lua_State *L, outbuf *o, size_t extra) {
  size_t cap = o->cap ? o->cap : 64;
  unsigned char *grown;
  if (o->cap - o->len >= extra) return;
  while (cap - o->len < extra) {
    if (cap > ((size_t)-1) / 2) luaL_error(L, "not enough memory");
    cap *= 2;
  }
  grown = (unsigned char *)lua_newuserdata(L, cap);
  if (o->len) memcpy(grown, o->data, o->len);
  lua_replace(L, o->slot);
  o->data = grown;
  o->cap = cap;
}

static void out_bytes(lua_State *L, outbuf *o, const void *p, size_t n) {
  out_reserve(L, o, n);
  memcpy(o->data + o->len, p, n);
  o->len += n;
}

static void out_byte(lua_State *L, outbuf *o, unsigned char c) {
  out_bytes(L, o, &c, 1);
}

/* A tag byte followed by `bytes` big-endian bytes of v. */
static void out_be(lua_State *L, outbuf *o, unsigned char tag, uint64_t v, int bytes) {
  unsigned char out[9];
  int i;
  out[0] = tag;
  for (i = bytes; i >= 1; i--) {
    out[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
  out_bytes(L, o, out, (size_t)bytes + 1);
}

static void pack_int(lua_State *L, outbuf *o, int64_t n) {
  if (n >= 0) {
    if (n <= 0x7f) out_byte(L, o, (unsigned char)n);
    else if (n <= 0xff) out_be(L, o, 0xcc, (uint64_t)n, 1);
    else if (n <= 0xffff) out_be(L, o, 0xcd, (uint64_t)n, 2);
    else if (n <= 0xffffffffLL) out_be(L, o, 0xce, (uint64_t)n, 4);
    else out_be(L, o, 0xcf, (uint64_t)n, 8);
  } else {
    if (n >= -32) out_byte(L, o, (unsigned char)(0xe0 | (n + 32)));
    else if (n >= -128) out_be(L, o, 0xd0, (uint64_t)n, 1);
    else if (n >= -32768) out_be(L, o, 0xd1, (uint64_t)n, 2);
    else if (n >= -2147483648LL) out_be(L, o, 0xd2, (uint64_t)n, 4);
    else out_be(L, o, 0xd3, (uint64_t)n, 8);
  }
}

static void pack_number(lua_State *L, outbuf *o, lua_Number n) {
  /* Range-checked before converting: a wasm float-to-int truncation traps out of range. */
  if (n >= -9223372036854775808.0 && n < 9223372036854775808.0 && (lua_Number)(int64_t)n == n) {
    pack_int(L, o, (int64_t)n);
  } else {
    float f = (float)n;
    if ((double)f == (double)n) {
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      out_be(L, o, 0xca, bits, 4);
    } else {
      uint64_t bits;
      double d = (double)n;
      memcpy(&bits, &d, sizeof bits);
      out_be(L, o, 0xcb, bits, 8);
    }
  }
}

static void pack_string(lua_State *L, outbuf *o, const char *s, size_t len) {
  if (len < 32) out_byte(L, o, (unsigned char)(0xa0 | len));
  else if (len <= 0xff) out_be(L, o, 0xd9, len, 1);
  else if (len <= 0xffff) out_be(L, o, 0xda, len, 2);
  else out_be(L, o, 0xdb, len, 4);
  out_bytes(L, o, s, len);
}

/* Array (0x90/0xdc/0xdd) or map (0x80/0xde/0xdf) header. */
static void pack_header(lua_State *L, outbuf *o, int is_map, size_t n) {
  if (n < 16) out_byte(L, o, (unsigned char)((is_map ? 0x80 : 0x90) | n));
  else if (n <= 0xffff) out_be(L, o, is_map ? 0xde : 0xdc, n, 2);
  else out_be(L, o, is_map ? 0xdf : 0xdd, n, 4);
}

/* Whether the table at index t has exactly the keys 1..n (no others); an empty table does. */
static int table_is_array(lua_State *L, int t) {
  long long count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_Number k;
    lua_pop(L, 1); /* the value; the key stays for lua_next */
    k = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
    if (!(k >= 1 && k < 9223372036854775808.0) || (lua_Number)(long long)k != k) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
    if ((long long)k > max) max = (long long)k;
  }
  return count == max;
}

/* Encode the value at absolute stack index `idx`, `level` tables deep. */
static void pack_value(lua_State *L, outbuf *o, int idx, int level) {
  int t = lua_type(L, idx);
  luaL_checkstack(L, 4, "in function mp_encode_lua_type");
  if (t == LUA_TTABLE && level == PACK_MAX_NESTING) t = LUA_TNIL;
  switch (t) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      pack_string(L, o, s, len);
      break;
    }
    case LUA_TBOOLEAN:
      out_byte(L, o, lua_toboolean(L, idx) ? 0xc3 : 0xc2);
      break;
    case LUA_TNUMBER:
      pack_number(L, o, lua_tonumber(L, idx));
      break;
    case LUA_TTABLE:
      if (table_is_array(L, idx)) {
        size_t i, len = lua_objlen(L, idx);
        pack_header(L, o, 0, len);
        for (i = 1; i <= len; i++) {
          lua_rawgeti(L, idx, (int)i);
          pack_value(L, o, lua_gettop(L), level + 1);
          lua_pop(L, 1);
        }
      } else {
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          n++;
          lua_pop(L, 1);
        }
        pack_header(L, o, 1, n);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          int top = lua_gettop(L);
          pack_value(L, o, top - 1, level + 1);
          pack_value(L, o, top, level + 1);
          lua_pop(L, 1);
        }
      }
      break;
    default:
      out_byte(L, o, 0xc0);
  }
}

static int mp_pack(lua_State *L) {
  int nargs = lua_gettop(L);
  int i;
  outbuf o;
  if (nargs == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  luaL_checkstack(L, 2, "in function mp_pack");
  lua_pushnil(L); /* the output slot */
  o.slot = lua_gettop(L);
  o.data = NULL;
  o.len = o.cap = 0;
  for (i = 1; i <= nargs; i++) pack_value(L, &o, i, 0);
  lua_pushlstring(L, (const char *)o.data, o.len);
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

enum { DEC_OK = 0, DEC_EOF = 1, DEC_BAD = 2 };

typedef struct {
  const unsigned char *p;
  size_t left;
  int err;
} cursor;

static int need(cursor *c, size_t n) {
  if (c->left < n) {
    c->err = DEC_EOF;
    return 0;
  }
  return 1;
}

static uint64_t read_be(cursor *c, int bytes) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < bytes; i++) v = (v << 8) | c->p[i];
  c->p += bytes;
  c->left -= (size_t)bytes;
  return v;
}

static void decode_string(lua_State *L, cursor *c, size_t len) {
  if (!need(c, len)) return;
  lua_pushlstring(L, (const char *)c->p, len);
  c->p += len;
  c->left -= len;
}

/*
 * Stack checks: one slot before every top-level value, two before every array and every map,
 * with Redis's messages, so that the same nesting depths (3999; keys nest with one slot per
 * level) and value count (7999) fail as in Redis. Each level pushes at most a table and a key.
 */
#define TOO_MANY_VALUES "too many return values at once; use unpack_one or unpack_limit instead."

/*
 * Decoding is iterative: the open arrays and maps are kept in `open_stack` instead of the C stack, so
 * that nesting as deep as Redis allows (thousands of levels) costs no native or wasm call stack.
 * Their tables (and, for arrays, the pending index) are on the Lua stack, whose limit of 8000
 * slots bounds the depth below OPEN_MAX. The decoder never calls back into Lua, so one static
 * array serves every call.
 */
#define OPEN_MAX 8192

typedef struct {
  uint32_t left;    /* elements (arrays) or pairs (maps) still to read */
  uint32_t next;    /* arrays: the index of the next element */
  unsigned char is_map;
  unsigned char have_key; /* maps: the key of the current pair is on the stack */
} open_container;

static open_container open_stack[OPEN_MAX];

/* Read the header of the next value. A scalar or string is pushed (returns 1: a value is
 * complete); an array or map is opened (its table pushed, returns 1 if it is empty, else 0). */
static int decode_start(lua_State *L, cursor *c, int *depth) {
  unsigned char tag;
  size_t len = 0;
  int is_map = 0;
  if (!need(c, 1)) return 1;
  tag = c->p[0];
  c->p++;
  c->left--;
  if (tag <= 0x7f) { lua_pushnumber(L, tag); return 1; }
  if (tag >= 0xe0) { lua_pushnumber(L, (lua_Number)((int)tag - 256)); return 1; }
  if ((tag & 0xe0) == 0xa0) { decode_string(L, c, tag & 0x1f); return 1; }
  switch (tag) {
    case 0xc0: lua_pushnil(L); return 1;
    case 0xc2: lua_pushboolean(L, 0); return 1;
    case 0xc3: lua_pushboolean(L, 1); return 1;
    case 0xcc: if (need(c, 1)) lua_pushnumber(L, (lua_Number)read_be(c, 1)); return 1;
    case 0xcd: if (need(c, 2)) lua_pushnumber(L, (lua_Number)read_be(c, 2)); return 1;
    case 0xce: if (need(c, 4)) lua_pushnumber(L, (lua_Number)read_be(c, 4)); return 1;
    /* uint64 is read as a signed 64-bit value, as Redis does (0xcf ff..ff is -1). */
    case 0xcf: if (need(c, 8)) lua_pushnumber(L, (lua_Number)(int64_t)read_be(c, 8)); return 1;
    case 0xd0: if (need(c, 1)) lua_pushnumber(L, (lua_Number)(int8_t)read_be(c, 1)); return 1;
    case 0xd1: if (need(c, 2)) lua_pushnumber(L, (lua_Number)(int16_t)read_be(c, 2)); return 1;
    case 0xd2: if (need(c, 4)) lua_pushnumber(L, (lua_Number)(int32_t)read_be(c, 4)); return 1;
    case 0xd3: if (need(c, 8)) lua_pushnumber(L, (lua_Number)(int64_t)read_be(c, 8)); return 1;
    case 0xca:
      if (need(c, 4)) {
        uint32_t bits = (uint32_t)read_be(c, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
      }
      return 1;
    case 0xcb:
      if (need(c, 8)) {
        uint64_t bits = read_be(c, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        lua_pushnumber(L, (lua_Number)d);
      }
      return 1;
    case 0xd9: if (need(c, 1)) decode_string(L, c, (size_t)read_be(c, 1)); return 1;
    case 0xda: if (need(c, 2)) decode_string(L, c, (size_t)read_be(c, 2)); return 1;
    case 0xdb: if (need(c, 4)) decode_string(L, c, (size_t)read_be(c, 4)); return 1;
    case 0xdc: if (!need(c, 2)) return 1; len = (size_t)read_be(c, 2); break;
    case 0xdd: if (!need(c, 4)) return 1; len = (size_t)read_be(c, 4); break;
    case 0xde: if (!need(c, 2)) return 1; len = (size_t)read_be(c, 2); is_map = 1; break;
    case 0xdf: if (!need(c, 4)) return 1; len = (size_t)read_be(c, 4); is_map = 1; break;
    default:
      if ((tag & 0xf0) == 0x90) { len = tag & 0x0f; break; }
      if ((tag & 0xf0) == 0x80) { len = tag & 0x0f; is_map = 1; break; }
      c->err = DEC_BAD; /* 0xc1, bin and ext types: Redis refuses them too */
      return 1;
  }
  luaL_checkstack(L, 2, is_map ? TOO_MANY_VALUES : "in function mp_decode_to_lua_array");
  lua_newtable(L);
  if (len == 0) return 1;
  if (*depth == OPEN_MAX) luaL_error(L, "stack overflow (nesting too deep)");
  open_stack[*depth].left = (uint32_t)len;
  open_stack[*depth].next = 1;
  open_stack[*depth].is_map = (unsigned char)is_map;
  open_stack[*depth].have_key = 0;
  (*depth)++;
  if (!is_map) lua_pushnumber(L, 1); /* the index of the first element */
  return 0;
}

/* Decode one value (with everything nested in it) and push it; on error sets c->err (the
 * caller then raises, which resets the stack). */
static void decode_value(lua_State *L, cursor *c) {
  int depth = 0;
  for (;;) {
    int done = decode_start(L, c, &depth);
    if (c->err) return;
    /* A complete value is on top: store it in the innermost open container, closing every
     * container that this completes. */
    while (done) {
      open_container *o;
      if (depth == 0) return;
      o = &open_stack[depth - 1];
      if (o->is_map && !o->have_key) {
        o->have_key = 1; /* the key is on the stack; its value comes next */
        break;
      }
      lua_settable(L, -3); /* table[key] = value */
      o->have_key = 0;
      if (--o->left > 0) {
        if (!o->is_map) lua_pushnumber(L, (lua_Number)++o->next);
        break;
      }
      depth--; /* the container is complete: it is now the value on top */
    }
  }
}

static int unpack_full(lua_State *L, lua_Integer limit, lua_Integer offset) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int all = limit == 0 && offset == 0;
  int count;
  cursor c;
  if (offset < 0 || limit < 0)
    return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.",
                      (int)offset, (int)len);
  if ((uint64_t)offset > (uint64_t)len) /* offset >= 0 here; compared in 64 bits */
    return luaL_error(L, "Start offset %d greater than input length %d.", (int)offset, (int)len);
  if (all) limit = INT_MAX;
  c.p = (const unsigned char *)s + offset;
  c.left = len - (size_t)offset;
  c.err = DEC_OK;
  for (count = 0; c.left > 0 && count < limit; count++) {
    luaL_checkstack(L, 1, TOO_MANY_VALUES);
    decode_value(L, &c);
    if (c.err == DEC_EOF) return luaL_error(L, "Missing bytes in input.");
    if (c.err == DEC_BAD) return luaL_error(L, "Bad data format in input.");
  }
  if (all) return count;
  luaL_checkstack(L, 1, "in function mp_unpack_full");
  lua_pushinteger(L, c.left == 0 ? -1 : (lua_Integer)(len - c.left));
  lua_insert(L, 2); /* the offset comes first, after the input string */
  return count + 1;
}

static int mp_unpack(lua_State *L) {
  return unpack_full(L, 0, 0);
}

static int mp_unpack_one(lua_State *L) {
  lua_Integer offset = luaL_optinteger(L, 2, 0);
  lua_settop(L, 1);
  return unpack_full(L, 1, offset);
}

static int mp_unpack_limit(lua_State *L) {
  lua_Integer limit = luaL_checkinteger(L, 2);
  lua_Integer offset = luaL_optinteger(L, 3, 0);
  lua_settop(L, 1);
  return unpack_full(L, limit, offset);
}

static const luaL_Reg cmsgpack_functions[] = {
  {"pack", mp_pack},
  {"unpack", mp_unpack},
  {"unpack_one", mp_unpack_one},
  {"unpack_limit", mp_unpack_limit},
  {NULL, NULL}
};

/* Opens the library as the global table `cmsgpack`, with the same metadata fields as Redis's. */
int luaopen_cmsgpack(lua_State *L) {
  lua_newtable(L);
  luaL_register(L, NULL, cmsgpack_functions);
  lua_pushliteral(L, "cmsgpack");
  lua_setfield(L, -2, "_NAME");
  lua_pushliteral(L, "lua-cmsgpack 0.4.0");
  lua_setfield(L, -2, "_VERSION");
  lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
  lua_setfield(L, -2, "_COPYRIGHT");
  lua_pushliteral(L, "MessagePack C implementation for Lua");
  lua_setfield(L, -2, "_DESCRIPTION");
  lua_pushvalue(L, -1);
  lua_setglobal(L, "cmsgpack");
  return 1;
}
