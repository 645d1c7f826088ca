/*
 * lua/test/harness.c -- native test harness for lua/src/lua_struct.c and lua/src/lua_cmsgpack.c.
 *
 * Built against Debian's Lua 5.1 (liblua5.1-0-dev) by lua/test/run.sh. Reads the wrapper
 * (wrap.lua, with an @BODY@ placeholder) and a cases file (one Lua body per line; blank lines and
 * lines starting with "--" are skipped), runs each wrapped case in a Lua state that has the
 * standard libraries plus struct, cmsgpack, bit and (when built WITH_CJSON) the patched cjson, and prints one result line per case. run.sh sends
 * the same wrapped bodies to redis-server with EVAL and compares the lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

int luaopen_struct(lua_State *L);
int luaopen_cmsgpack(lua_State *L);
int luaopen_bit(lua_State *L);
#ifdef WITH_CJSON
int luaopen_cjson(lua_State *L);
#endif

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (f == NULL) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

int main(int argc, char **argv) {
  size_t wlen, clen;
  char *wrap, *cases, *line, *hole;
  lua_State *L;
  if (argc != 3) { fprintf(stderr, "usage: %s wrap.lua cases.txt\n", argv[0]); return 2; }
  wrap = slurp(argv[1], &wlen);
  cases = slurp(argv[2], &clen);
  hole = strstr(wrap, "@BODY@");
  if (hole == NULL) { fprintf(stderr, "no @BODY@ in %s\n", argv[1]); return 2; }
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_struct); lua_call(L, 0, 0);
  lua_pushcfunction(L, luaopen_cmsgpack); lua_call(L, 0, 0);
  lua_pushcfunction(L, luaopen_bit); lua_call(L, 0, 0);
#ifdef WITH_CJSON
  lua_pushcfunction(L, luaopen_cjson); lua_call(L, 0, 0);
#endif
  for (line = strtok(cases, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    luaL_Buffer b;
    if (line[0] == '\0' || strncmp(line, "--", 2) == 0) continue;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, wrap, (size_t)(hole - wrap));
    luaL_addstring(&b, line);
    luaL_addstring(&b, hole + 6);
    luaL_pushresult(&b);
    {
      size_t n;
      const char *chunk = lua_tolstring(L, -1, &n);
      if (luaL_loadbuffer(L, chunk, n, "@user_script") != 0 || lua_pcall(L, 0, 1, 0) != 0) {
        printf("HARNESS-ERROR %s\n", lua_tostring(L, -1));
      } else {
        printf("%s\n", lua_tostring(L, -1));
      }
      lua_settop(L, 0);
    }
  }
  lua_close(L);
  return 0;
}
