/* The Lua engine guest: Redis's Lua 5.1 behind the ember ABI (docs/abi.md,
 * "Interpreter guests"). It keeps two Lua states per instance, as Redis keeps
 * one for EVAL and one for functions; compiles each script or library once
 * per instance, cached by the id the host gives it (the SHA1 of the code);
 * and reproduces Redis 7.0's sandbox: an allow-list of globals, read-only
 * globals and library tables, errors for unknown globals, Redis's error
 * tables and error texts.
 *
 * Exports: ember_main (run a script), ember_debug (run it under the Lua
 * debugger, ldb.c), ember_invoke (run a library function), ember_load
 * (compile a script, or load a library and register its functions). */
#include "engine.h"
#include "lstate.h" /* nCcalls: see run() */
#include <stdlib.h>
#include <string.h>

LUALIB_API int luaopen_base(lua_State *L);
#ifdef EMBER_HAVE_CJSON
int luaopen_cjson(lua_State *L);
#endif
#ifdef EMBER_HAVE_STRUCT
int luaopen_struct(lua_State *L);
#endif
#ifdef EMBER_HAVE_CMSGPACK
int luaopen_cmsgpack(lua_State *L);
#endif
#ifdef EMBER_HAVE_BIT
int luaopen_bit(lua_State *L);
#endif

static engine_state_t eval_es, func_es;
static lua_State *eval_L, *func_L;
static buf_t in, code, out;

/* Registry keys. */
#define REG_SCRIPTS "ember.scripts"   /* EVAL: id -> compiled function */
#define REG_LIBS "ember.libraries"    /* FCALL: id -> {fns = {...}, names = {...}} */
#define REG_PENDING "ember.pending"   /* the library being loaded */
#define REG_PROXY_MT "ember.proxy_mt" /* metatable of the functions' global proxy */
#define REG_LOAD_API "ember.load_api" /* what library top-level code sees */
#define REG_GLOBALS "ember.globals"   /* the functions state's real globals */

engine_state_t *engine_state(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* Lua's allocator. A NULL from realloc (the instance is at wasm-memory-limit)
 * becomes Lua's "not enough memory" error. */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

int32_t ember_abi_version(void) __attribute__((export_name("ember_abi_version")));
int32_t ember_abi_version(void) { return 1; }

/* ---- globals protection ------------------------------------------------ */

static int nonexistent_global(lua_State *L) {
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      lua_isstring(L, 2) ? lua_tostring(L, 2) : luaL_typename(L, 2));
}

/* Sets metatable {__index = nonexistent_global} on the table at the top. */
static void set_error_metatable(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, nonexistent_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

/* Makes the table at `idx` read-only, with every table reachable from it
 * (values and metatables), as Redis protects globals and libraries. */
static void protect(lua_State *L, int idx) {
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    if (lua_isreadonlytable(L, idx)) return;
    lua_enablereadonlytable(L, idx, 1);
    lua_checkstack(L, 4);
    if (lua_getmetatable(L, idx)) {
        protect(L, -1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_istable(L, -1)) protect(L, -1);
        lua_pop(L, 1);
    }
}

/* The globals scripts may see (Redis 7.0's allow-list). */
static const char *const ALLOWED[] = {
    "_G", "_VERSION", "assert", "collectgarbage", "coroutine", "error", "gcinfo", "getmetatable",
    "ipairs", "load", "loadstring", "math", "next", "pairs", "pcall", "rawequal", "rawget", "rawset",
    "select", "setmetatable", "string", "table", "tonumber", "tostring", "type", "unpack", "xpcall",
    "bit", "cjson", "cmsgpack", "struct", "redis", "__redis__err__handler", NULL};

static void drop_unlisted_globals(lua_State *L) {
    int again = 1;
    while (again) {
        again = 0;
        lua_pushnil(L);
        while (lua_next(L, LUA_GLOBALSINDEX)) {
            int k, ok = 0;
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING)
                for (k = 0; ALLOWED[k]; k++)
                    if (!strcmp(lua_tostring(L, -1), ALLOWED[k])) ok = 1;
            if (!ok) {
                /* removing during traversal is allowed for existing keys */
                lua_pushvalue(L, -1);
                lua_pushnil(L);
                lua_rawset(L, LUA_GLOBALSINDEX);
            }
        }
    }
}

/* The error handler of every call (Redis's __redis__err__handler): turns a
 * string error into {err = "ERR " .. msg} and records where it happened. */
static int error_handler(lua_State *L) {
    lua_Debug ar;
    int have = 0;
    if (lua_getstack(L, 1, &ar)) {
        lua_getinfo(L, "nSl", &ar);
        have = 1;
        if (!strcmp(ar.what, "C")) have = lua_getstack(L, 2, &ar) && lua_getinfo(L, "nSl", &ar);
    }
    if (!lua_istable(L, 1)) {
        /* {err = 'ERR ' .. tostring(err)}, as Redis's handler does */
        lua_newtable(L);
        lua_pushliteral(L, "ERR ");
        lua_getglobal(L, "tostring");
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, 1);
            lua_call(L, 1, 1);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, luaL_typename(L, 1));
        }
        lua_concat(L, 2);
        lua_setfield(L, -2, "err");
        lua_replace(L, 1);
    }
    if (have && !lua_isreadonlytable(L, 1)) {
        lua_pushstring(L, ar.source);
        lua_setfield(L, 1, "source");
        lua_pushinteger(L, ar.currentline);
        lua_setfield(L, 1, "line");
    }
    lua_settop(L, 1);
    return 1;
}

/* Redis 7's pcall: its errors are tables ({err = ...}), but scripts written
 * for older versions expect pcall to give them the message, so a table with
 * an `err` string comes back as that string. */
static int redis_style_pcall(lua_State *L) {
    int argc = lua_gettop(L);
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0)) {
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            if (lua_isstring(L, -1)) lua_replace(L, -2);
            else lua_pop(L, 1);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction f) {
    lua_pushcfunction(L, f);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

/* A new state with Redis's libraries, in Redis's order. */
static lua_State *new_state(engine_state_t *es, int functions) {
    lua_State *L = lua_newstate(lua_alloc, es);
    if (L == NULL) return NULL;
    es->resp = 2;
    es->functions = functions;
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
#ifdef EMBER_HAVE_CJSON
    open_lib(L, "cjson", luaopen_cjson);
#endif
#ifdef EMBER_HAVE_STRUCT
    open_lib(L, "struct", luaopen_struct);
#endif
#ifdef EMBER_HAVE_CMSGPACK
    open_lib(L, "cmsgpack", luaopen_cmsgpack);
#endif
#ifdef EMBER_HAVE_BIT
    open_lib(L, "bit", luaopen_bit);
#endif
    lua_pushcfunction(L, redis_style_pcall);
    lua_setglobal(L, "pcall");
    lua_getglobal(L, "math");
    ember_install_random(L);
    lua_pop(L, 1);
    redis_api_open(L, functions);
    if (!functions) {
        lua_pushcfunction(L, error_handler);
        lua_setglobal(L, "__redis__err__handler");
    }
    lua_pushcfunction(L, error_handler);
    lua_setfield(L, LUA_REGISTRYINDEX, "ember.errh");
    drop_unlisted_globals(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, functions ? REG_LIBS : REG_SCRIPTS);
    /* the string metatable ({__index = string}) is reachable by every script */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    protect(L, -1);
    lua_pop(L, 2);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    set_error_metatable(L);
    protect(L, -1);
    lua_pop(L, 1);
    if (functions) {
        /* Library code runs with a proxy as its globals: an empty read-only
         * table whose metatable's __index is the load API while FUNCTION LOAD
         * runs the library, and the real globals afterwards (so the closures it
         * registered, which keep the proxy, see the full API when called). */
        lua_pushvalue(L, LUA_GLOBALSINDEX);
        lua_setfield(L, LUA_REGISTRYINDEX, REG_GLOBALS);
        lua_newtable(L);                 /* load API */
        redis_api_open_load(L);
        set_error_metatable(L);
        protect(L, -1);
        lua_setfield(L, -2, "redis");
        set_error_metatable(L);
        protect(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, REG_LOAD_API);
        lua_newtable(L);                 /* the proxy */
        lua_newtable(L);                 /* its metatable */
        lua_pushvalue(L, LUA_GLOBALSINDEX);
        lua_setfield(L, -2, "__index");
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, REG_PROXY_MT);
        lua_setmetatable(L, -2);
        lua_enablereadonlytable(L, -1, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "ember.proxy");
    }
    return L;
}

void engine_collect_garbage(void) {
    if (eval_L) lua_gc(eval_L, LUA_GCCOLLECT, 0);
    if (func_L) lua_gc(func_L, LUA_GCCOLLECT, 0);
}

static lua_State *state(int functions) {
    if (functions) {
        if (func_L == NULL) func_L = new_state(&func_es, 1);
        return func_L;
    }
    if (eval_L == NULL) eval_L = new_state(&eval_es, 0);
    return eval_L;
}

/* ---- input and code ---------------------------------------------------- */

static void fetch(buf_t *b, int32_t (*get)(char *, int32_t, int32_t), int32_t part) {
    int32_t n;
    buf_reserve(b, 256);
    n = get(b->p, (int32_t)b->cap, part);
    if ((size_t)n > b->cap) {
        buf_reserve(b, (size_t)n);
        n = get(b->p, (int32_t)b->cap, part);
    }
    b->len = (size_t)n;
}

static int32_t get_input(char *dst, int32_t cap, int32_t part) {
    (void)part;
    return ember_input(dst, cap);
}

/* Parses one array of bulk strings of the input into a new Lua table. */
static const char *push_string_array(lua_State *L, const char *p, const char *end) {
    long long n = 0, i;
    if (p >= end || *p != '*') luaL_error(L, "malformed input");
    for (p++; p < end && *p != '\r'; p++) n = n * 10 + (*p - '0');
    p += 2;
    lua_createtable(L, (int)n, 0);
    for (i = 1; i <= n; i++) {
        long long len = 0;
        if (p >= end || *p != '$') luaL_error(L, "malformed input");
        for (p++; p < end && *p != '\r'; p++) len = len * 10 + (*p - '0');
        p += 2;
        if (p + len + 2 > end) luaL_error(L, "malformed input");
        lua_pushlstring(L, p, (size_t)len);
        lua_rawseti(L, -2, (int)i);
        p += len + 2;
    }
    return p;
}

/* Pushes KEYS and ARGV of this invocation. */
static void push_keys_args(lua_State *L) {
    const char *p, *end;
    fetch(&in, get_input, 0);
    p = in.p;
    end = in.p + in.len;
    if (in.len < 4 || memcmp(p, "*2\r\n", 4)) luaL_error(L, "malformed input");
    p = push_string_array(L, p + 4, end);
    push_string_array(L, p, end);
}

/* ---- replies ------------------------------------------------------------ */

/* Sends the error of a failed call (the error object at the top): Redis's
 * "<err> script: <name>, on <source>:<line>." */
static int32_t reply_error(lua_State *L, const char *name) {
    buf_reset(&out);
    buf_add(&out, "-", 1);
    if (lua_istable(L, -1)) {
        size_t n;
        const char *msg;
        lua_getfield(L, -1, "err");
        msg = lua_tolstring(L, -1, &n);
        if (msg == NULL) {
            buf_str(&out, "ERR Error running script, the error object has no 'err' field");
        } else {
            buf_add(&out, msg, n);
            lua_getfield(L, -2, "source");
            lua_getfield(L, -3, "line");
            if (lua_isstring(L, -2) && lua_isnumber(L, -1)) {
                buf_str(&out, " script: ");
                buf_str(&out, name);
                buf_str(&out, ", on ");
                buf_str(&out, lua_tostring(L, -2));
                buf_str(&out, ":");
                buf_str(&out, lua_tostring(L, -1));
                buf_str(&out, ".");
            }
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    } else {
        /* errors that skip the handler: "not enough memory", "error in error handling" */
        const char *msg = lua_tostring(L, -1);
        char tmp[101];
        snprintf(tmp, sizeof tmp, "%s", msg ? msg : "execution failure");
        buf_str(&out, "ERR Error running script ");
        buf_str(&out, name);
        buf_str(&out, ", ");
        buf_str(&out, tmp);
    }
    {
        size_t i;
        for (i = 1; i < out.len; i++)
            if (out.p[i] == '\r' || out.p[i] == '\n') out.p[i] = ' ';
    }
    buf_add(&out, "\r\n", 2);
    lua_pop(L, 1);
    ember_reply(out.p, (int32_t)out.len);
    return 1;
}

static void reply_text(const char *prefix, const char *msg) {
    size_t i;
    buf_reset(&out);
    buf_str(&out, prefix);
    buf_str(&out, msg);
    for (i = 1; i < out.len; i++)
        if (out.p[i] == '\r' || out.p[i] == '\n') out.p[i] = ' ';
    buf_add(&out, "\r\n", 2);
    ember_reply(out.p, (int32_t)out.len);
}

/* Calls the function below `nargs` arguments under the error handler and
 * replies with its result or its error. */
static int32_t run(lua_State *L, int nargs, const char *name) {
    int base = lua_gettop(L) - nargs, status;
    engine_state_t *es = engine_state(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "ember.errh");
    lua_insert(L, base);
    /* Redis calls the script with lua_pcall straight from C; here the
     * lua_cpcall of guarded() is one C call deeper. Not counting it makes
     * the limits on nested C calls (pcall recursion: "C stack overflow")
     * hit at Redis's depth. lua_pcall puts nCcalls back as it found it,
     * also on error. */
    L->nCcalls--;
    status = lua_pcall(L, nargs, 1, base);
    L->nCcalls++;
    lua_remove(L, base);
    if (status != 0) {
        es->resp = 2;
        return reply_error(L, name);
    }
    buf_reset(&out);
    lua_to_resp(L, &out);
    es->resp = 2;
    ember_reply(out.p, (int32_t)out.len);
    return 0;
}

/* ---- EVAL ---------------------------------------------------------------- */

/* Compiles the host's code (a script body, its shebang line already blank)
 * into the cache; pushes the function or replies with the compile error. */
static int script_function(lua_State *L, char id[41]) {
    fetch(&code, ember_code, 0);
    if (code.len != 40) luaL_error(L, "malformed script id");
    memcpy(id, code.p, 40);
    id[40] = '\0';
    lua_getfield(L, LUA_REGISTRYINDEX, REG_SCRIPTS);
    lua_getfield(L, -1, id);
    if (lua_isfunction(L, -1)) {
        lua_remove(L, -2);
        return 1;
    }
    lua_pop(L, 1);
    fetch(&code, ember_code, 1);
    if (luaL_loadbuffer(L, code.p, code.len, "@user_script")) {
        reply_text("-ERR Error compiling script (new function): ", lua_tostring(L, -1));
        lua_pop(L, 2);
        return 0;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, id);
    lua_remove(L, -2);
    return 1;
}

static int eval_protected(lua_State *L) {
    char id[41];
    int32_t *result = lua_touserdata(L, 1);
    if (!script_function(L, id)) {
        *result = 1;
        return 0;
    }
    if (ldb_active()) ldb_arm(L);
    /* KEYS and ARGV are globals of EVAL: set them through the protection */
    push_keys_args(L);
    lua_enablereadonlytable(L, LUA_GLOBALSINDEX, 0);
    lua_setglobal(L, "ARGV");
    lua_setglobal(L, "KEYS");
    lua_enablereadonlytable(L, LUA_GLOBALSINDEX, 1);
    *result = run(L, 0, id);
    return 0;
}

/* SCRIPT KILL / FUNCTION KILL, as Redis does it: a count hook asks the host
 * every KILL_CHECK_EVERY instructions whether the invocation was killed, and
 * if so raises Redis's error where the script is (so the reply names its
 * line), then turns into a line hook so that a script catching the error
 * with pcall meets it again on its next line. The host traps the instance
 * anyway if the error does not end it soon (C code looping, say). */
#define KILL_CHECK_EVERY 100000

static void kill_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (ember_interrupted()) {
        lua_sethook(L, kill_hook, LUA_MASKLINE, 0);
        raise_error(L, "Script killed by user with SCRIPT KILL...");
    }
}

static void arm_kill_hook(lua_State *L) {
    if (lua_gethookmask(L) != LUA_MASKCOUNT) lua_sethook(L, kill_hook, LUA_MASKCOUNT, KILL_CHECK_EVERY);
}

/* Runs `f` in protected mode so that a failure outside the script itself
 * (out of memory while setting up) is an error reply, never a crash. */
static int32_t guarded(lua_State *L, lua_CFunction f, int32_t arg) {
    int32_t result = arg;
    if (L == NULL) {
        reply_text("-ERR ", "Lua engine: not enough memory");
        return 1;
    }
    arm_kill_hook(L);
    if (lua_cpcall(L, f, &result)) {
        reply_text("-ERR Error running script: ", lua_tostring(L, -1));
        lua_pop(L, 1);
        return 1;
    }
    return result;
}

int32_t ember_main(void) __attribute__((export_name("ember_main")));
int32_t ember_main(void) {
    ember_protocol(2);
    return guarded(state(0), eval_protected, 0);
}

/* EVAL under the debugger: the session spans the compile too, so that a
 * script that does not compile still ends it with `<endsession>`. */
int32_t ember_debug(void) __attribute__((export_name("ember_debug")));
int32_t ember_debug(void) {
    lua_State *L = state(0);
    int32_t result;
    ember_protocol(2);
    ldb_start();
    result = guarded(L, eval_protected, 0);
    ldb_end(L);
    return result;
}

/* ---- functions ------------------------------------------------------------ */

void engine_add_function(lua_State *L, const char *name, int callback_index, const char *flags,
                         const char *description) {
    int n;
    lua_getfield(L, LUA_REGISTRYINDEX, REG_PENDING);
    lua_getfield(L, -1, "names");
    n = (int)lua_objlen(L, -1);
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1)) {
        raise_error(L, "Function already exists in the library");
    }
    lua_pop(L, 1);
    lua_pushstring(L, name);
    lua_rawseti(L, -2, n + 1);
    lua_pushinteger(L, n + 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    lua_getfield(L, -1, "fns");
    lua_pushvalue(L, callback_index);
    lua_rawseti(L, -2, n + 1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "flags");
    lua_pushstring(L, flags);
    lua_rawseti(L, -2, n + 1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "descriptions");
    if (description) lua_pushstring(L, description);
    else lua_pushboolean(L, 0);
    lua_rawseti(L, -2, n + 1);
    lua_pop(L, 2);
}

static void set_proxy_index(lua_State *L, const char *reg_key) {
    lua_getfield(L, LUA_REGISTRYINDEX, REG_PROXY_MT);
    lua_enablereadonlytable(L, -1, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, reg_key);
    lua_setfield(L, -2, "__index");
    lua_enablereadonlytable(L, -1, 1);
    lua_pop(L, 1);
}

/* Runs the host's library code (part 1) in load mode. On success leaves the
 * library record {fns, names, flags, descriptions} cached under its id and
 * pushed; on failure replies with Redis's error and pushes nothing. */
static int load_library(lua_State *L, const char *id) {
    engine_state_t *es = engine_state(L);
    int status;
    fetch(&code, ember_code, 1);
    if (luaL_loadbuffer(L, code.p, code.len, "@user_function")) {
        reply_text("-ERR Error compiling function: ", lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "ember.proxy");
    lua_setfenv(L, -2);
    lua_newtable(L);
    lua_newtable(L); lua_setfield(L, -2, "fns");
    lua_newtable(L); lua_setfield(L, -2, "names");
    lua_newtable(L); lua_setfield(L, -2, "flags");
    lua_newtable(L); lua_setfield(L, -2, "descriptions");
    lua_setfield(L, LUA_REGISTRYINDEX, REG_PENDING);
    set_proxy_index(L, REG_LOAD_API);
    es->loading = 1;
    lua_getfield(L, LUA_REGISTRYINDEX, "ember.errh");
    lua_insert(L, -2);
    status = lua_pcall(L, 0, 0, -2);
    es->loading = 0;
    set_proxy_index(L, REG_GLOBALS);
    lua_remove(L, status ? -2 : -1); /* the handler */
    if (status) {
        const char *msg = NULL;
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            msg = lua_tostring(L, -1);
        } else {
            lua_pushvalue(L, -1);
            msg = lua_tostring(L, -1);
        }
        reply_text("-ERR Error registering functions: ", msg ? msg : "unknown error");
        lua_pop(L, 2);
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, REG_PENDING);
        return 0;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, REG_PENDING);
    lua_getfield(L, -1, "fns");
    if (lua_objlen(L, -1) == 0) {
        lua_pop(L, 2);
        reply_text("-ERR ", "No functions registered");
        return 0;
    }
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, REG_LIBS);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, id);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, REG_PENDING);
    return 1;
}

/* Pushes the library record of the host's code, loading it if needed. */
static int library(lua_State *L, char id[41]) {
    fetch(&code, ember_code, 0);
    if (code.len != 40) luaL_error(L, "malformed library id");
    memcpy(id, code.p, 40);
    id[40] = '\0';
    lua_getfield(L, LUA_REGISTRYINDEX, REG_LIBS);
    lua_getfield(L, -1, id);
    lua_remove(L, -2);
    if (lua_istable(L, -1)) return 1;
    lua_pop(L, 1);
    return load_library(L, id);
}

static void add_spec_word(buf_t *b, const char *s) {
    size_t n = strlen(s);
    buf_fmt_int(b, '$', (long long)n);
    buf_add(b, s, n);
    buf_add(b, "\r\n", 2);
}

static int load_protected(lua_State *L) {
    int32_t *result = lua_touserdata(L, 1);
    char id[41];
    int i, n, has_desc;
    if (*result == 0) { /* a script: compile it into the cache */
        lua_State *S = L;
        if (!script_function(S, id)) { *result = 1; return 0; }
        *result = 0;
        return 0;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, REG_LIBS);
    fetch(&code, ember_code, 0);
    if (code.len != 40) luaL_error(L, "malformed library id");
    memcpy(id, code.p, 40);
    id[40] = '\0';
    lua_pushnil(L);
    lua_setfield(L, -2, id); /* FUNCTION LOAD always runs the code anew */
    lua_pop(L, 1);
    if (!load_library(L, id)) { *result = 1; return 0; }
    lua_getfield(L, -1, "names");
    n = (int)lua_objlen(L, -1);
    lua_pop(L, 1);
    for (i = 1; i <= n; i++) {
        char handler[16];
        buf_t spec = {0};
        lua_getfield(L, -1, "names");
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -3, "flags");
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -5, "descriptions");
        lua_rawgeti(L, -1, i);
        has_desc = lua_isstring(L, -1);
        buf_fmt_int(&spec, '*', 4 + has_desc);
        add_spec_word(&spec, "function");
        add_spec_word(&spec, lua_tostring(L, -5));
        snprintf(handler, sizeof handler, "%d", i - 1);
        add_spec_word(&spec, handler);
        add_spec_word(&spec, lua_tostring(L, -3));
        if (has_desc) add_spec_word(&spec, lua_tostring(L, -1));
        lua_pop(L, 6);
        if (ember_register(spec.p, (int32_t)spec.len) != 0) {
            free(spec.p);
            reply_text("-ERR ", "function registration refused");
            *result = 1;
            return 0;
        }
        free(spec.p);
    }
    *result = 0;
    return 0;
}

int32_t ember_load(int32_t kind) __attribute__((export_name("ember_load")));
int32_t ember_load(int32_t kind) {
    ember_protocol(2);
    return guarded(state(kind != 0), load_protected, kind);
}

static int invoke_protected(lua_State *L) {
    int32_t *result = lua_touserdata(L, 1);
    int handler = *result;
    char id[41];
    const char *name;
    if (!library(L, id)) { *result = 1; return 0; }
    lua_getfield(L, -1, "names");
    lua_rawgeti(L, -1, handler + 1);
    name = lua_tostring(L, -1);
    lua_getfield(L, -3, "fns");
    lua_rawgeti(L, -1, handler + 1);
    if (name == NULL || !lua_isfunction(L, -1)) {
        reply_text("-ERR ", "Function not found");
        *result = 1;
        return 0;
    }
    lua_remove(L, -2);
    push_keys_args(L);
    *result = run(L, 2, name);
    return 0;
}

int32_t ember_invoke(int32_t handler) __attribute__((export_name("ember_invoke")));
int32_t ember_invoke(int32_t handler) {
    ember_protocol(2);
    return guarded(state(1), invoke_protected, handler);
}
