/* math.random and math.randomseed as Redis defines them: a 48-bit linear
 * congruential generator with the constants of POSIX lrand48 (Redis's
 * redisLrand48), so a script gets the numbers it gets on Redis. The state
 * starts where Redis's unseeded generator starts and carries on from call to
 * call, as Redis's does (one generator per Lua state here, i.e. per warm
 * instance, where Redis has one per server). */
#include "engine.h"
#include <math.h>
#include <stdint.h>

#define RAND48_MAX 2147483647 /* INT32_MAX, Redis's REDIS_LRAND48_MAX */

static uint64_t rand48_state = 0x1234ABCD330EULL;

void ember_srand48(int32_t seed) {
    rand48_state = (((uint64_t)(uint32_t)seed) << 16) | 0x330E;
}

static int32_t ember_lrand48(void) {
    rand48_state = (rand48_state * 0x5DEECE66DULL + 0xB) & ((1ULL << 48) - 1);
    return (int32_t)(rand48_state >> 17);
}

static int math_random(lua_State *L) {
    lua_Number r = (lua_Number)(ember_lrand48() % RAND48_MAX) / (lua_Number)RAND48_MAX;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int u = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= u, 1, "interval is empty");
        lua_pushnumber(L, floor(r * u) + 1);
        break;
    }
    case 2: {
        int l = luaL_checkint(L, 1);
        int u = luaL_checkint(L, 2);
        luaL_argcheck(L, l <= u, 2, "interval is empty");
        lua_pushnumber(L, floor(r * (u - l + 1)) + l);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int math_randomseed(lua_State *L) {
    ember_srand48(luaL_checkint(L, 1));
    return 0;
}

/* Replaces the stock functions in the math table on top of the stack. */
void ember_install_random(lua_State *L) {
    lua_pushcfunction(L, math_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, math_randomseed);
    lua_setfield(L, -2, "randomseed");
}
