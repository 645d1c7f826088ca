/*
 * lua_bit.c -- the `bit` library that Redis scripts see: 32-bit bitwise operations on Lua
 * numbers with the API of LuaBitOp 1.0.2 (bit.tobit, tohex, bnot, band, bor, bxor, lshift,
 * rshift, arshift, rol, ror, bswap).
 *
 * Written for Ember from LuaBitOp's documented API and checked against redis-server 7.0
 * (lua/test/run.sh); Debian's lua-bitop source package could not be fetched here (see
 * lua/third_party.sh). No source of LuaBitOp or Redis was used.
 *
 * Semantics: every argument is a number (strings that convert are accepted) normalised to a
 * 32-bit integer by rounding to nearest (ties to even) and keeping the low 32 bits of the
 * result; results are signed 32-bit numbers. Shift counts use their low 5 bits. tohex(x, n)
 * gives the low |n| (at most 8, default 8) hex digits, upper case when n < 0.
 *
 * No stdio, no files: this compiles for wasm32-wasi without pulling any import in.
 */

#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

/*
 * Adding 2^52 + 2^51 puts the integer part of any |n| < 2^51 in the low bits of the double's
 * mantissa, rounded to nearest by the FPU; the low 32 bits of the representation are then n
 * modulo 2^32. Larger values and inf/NaN give whatever those bits are, as in Redis.
 */
static uint32_t to_bits(lua_State *L, int idx) {
  double d = (double)lua_tonumber(L, idx) + 6755399441055744.0;
  uint64_t raw;
  uint32_t b;
  memcpy(&raw, &d, sizeof raw);
  b = (uint32_t)(raw & 0xffffffffu);
  if (b == 0 && !lua_isnumber(L, idx)) luaL_typerror(L, idx, "number");
  return b;
}

static int push_bits(lua_State *L, uint32_t b) {
  lua_pushnumber(L, (lua_Number)(int32_t)b);
  return 1;
}

static int bit_tobit(lua_State *L) {
  return push_bits(L, to_bits(L, 1));
}

static int bit_bnot(lua_State *L) {
  return push_bits(L, ~to_bits(L, 1));
}

/* band/bor/bxor take one or more arguments; they are read from the last to the first. */
static int bit_band(lua_State *L) {
  uint32_t b = to_bits(L, 1);
  int i;
  for (i = lua_gettop(L); i > 1; i--) b &= to_bits(L, i);
  return push_bits(L, b);
}

static int bit_bor(lua_State *L) {
  uint32_t b = to_bits(L, 1);
  int i;
  for (i = lua_gettop(L); i > 1; i--) b |= to_bits(L, i);
  return push_bits(L, b);
}

static int bit_bxor(lua_State *L) {
  uint32_t b = to_bits(L, 1);
  int i;
  for (i = lua_gettop(L); i > 1; i--) b ^= to_bits(L, i);
  return push_bits(L, b);
}

static int bit_lshift(lua_State *L) {
  uint32_t b = to_bits(L, 1), n = to_bits(L, 2) & 31;
  return push_bits(L, b << n);
}

static int bit_rshift(lua_State *L) {
  uint32_t b = to_bits(L, 1), n = to_bits(L, 2) & 31;
  return push_bits(L, b >> n);
}

static int bit_arshift(lua_State *L) {
  uint32_t b = to_bits(L, 1), n = to_bits(L, 2) & 31;
  /* Arithmetic shift written without relying on signed right shift of negative values. */
  uint32_t fill = (b & 0x80000000u) && n ? ~(0xffffffffu >> n) : 0;
  return push_bits(L, (b >> n) | fill);
}

static int bit_rol(lua_State *L) {
  uint32_t b = to_bits(L, 1), n = to_bits(L, 2) & 31;
  return push_bits(L, n ? (b << n) | (b >> (32 - n)) : b);
}

static int bit_ror(lua_State *L) {
  uint32_t b = to_bits(L, 1), n = to_bits(L, 2) & 31;
  return push_bits(L, n ? (b >> n) | (b << (32 - n)) : b);
}

static int bit_bswap(lua_State *L) {
  uint32_t b = to_bits(L, 1);
  b = (b >> 24) | ((b >> 8) & 0xff00u) | ((b & 0xff00u) << 8) | (b << 24);
  return push_bits(L, b);
}

static int bit_tohex(lua_State *L) {
  uint32_t b = to_bits(L, 1);
  int32_t n = lua_isnone(L, 2) ? 8 : (int32_t)to_bits(L, 2);
  const char *digits = "0123456789abcdef";
  char out[8];
  int i;
  if (n < 0) {
    n = n == INT32_MIN ? 8 : -n;
    digits = "0123456789ABCDEF";
  }
  if (n > 8) n = 8;
  for (i = n - 1; i >= 0; i--) {
    out[i] = digits[b & 15];
    b >>= 4;
  }
  lua_pushlstring(L, out, (size_t)n);
  return 1;
}

static const luaL_Reg bit_functions[] = {
  {"tobit", bit_tobit},
  {"bnot", bit_bnot},
  {"band", bit_band},
  {"bor", bit_bor},
  {"bxor", bit_bxor},
  {"lshift", bit_lshift},
  {"rshift", bit_rshift},
  {"arshift", bit_arshift},
  {"rol", bit_rol},
  {"ror", bit_ror},
  {"bswap", bit_bswap},
  {"tohex", bit_tohex},
  {NULL, NULL}
};

/* Opens the library as the global table `bit`. */
int luaopen_bit(lua_State *L) {
  luaL_register(L, "bit", bit_functions);
  return 1;
}
