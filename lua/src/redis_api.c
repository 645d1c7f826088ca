/* The `redis` table scripts see, as Redis 7.0 defines it (script_lua.c,
 * function_lua.c): call/pcall over the ember ABI's `call` import, the error
 * and status helpers, log, sha1hex, setresp, set_repl, acl_check_cmd and the
 * constants; and, for FUNCTION LOAD, register_function. Error texts are
 * Redis's, byte for byte. */
#include "engine.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static buf_t req;      /* the request being built */
static buf_t answer;   /* the reply of the last call */

/* Pushes Redis's error table {err = "CODE message"}: a message that starts
 * with '-' brings its own code (its first word), any other gets "ERR".
 * Trailing CR/LF are dropped. */
void push_error_table(lua_State *L, const char *msg, size_t len) {
    luaL_Buffer b;
    while (len > 0 && (msg[len - 1] == '\r' || msg[len - 1] == '\n')) len--;
    ldb_log_error(msg, len); /* shown while stepping in the debugger */
    luaL_buffinit(L, &b);
    if (len > 0 && msg[0] == '-') {
        const char *sp = memchr(msg, ' ', len);
        if (sp == NULL) {
            luaL_addstring(&b, "ERR ");
            luaL_addlstring(&b, msg + 1, len - 1);
        } else {
            luaL_addlstring(&b, msg + 1, (size_t)(sp - msg - 1));
            luaL_addchar(&b, ' ');
            luaL_addlstring(&b, sp + 1, len - (size_t)(sp - msg) - 1);
        }
    } else {
        luaL_addstring(&b, "ERR ");
        luaL_addlstring(&b, msg, len);
    }
    lua_newtable(L);
    lua_pushstring(L, "err");
    luaL_pushresult(&b);
    lua_settable(L, -3);
}

/* Raises Redis's error table for `msg` (luaPushError + luaError). */
int raise_error(lua_State *L, const char *msg) {
    push_error_table(L, msg, strlen(msg));
    return lua_error(L);
}

/* The decimal digits of n (with its sign) into tmp (at least 21 bytes);
 * returns their count. */
static int snprintf_int(char *tmp, long long n) {
    char rev[24];
    int i = 0, len = 0;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do { rev[i++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (n < 0) tmp[len++] = '-';
    while (i > 0) tmp[len++] = rev[--i];
    return len;
}

static void req_bulk(const char *s, size_t n) {
    buf_fmt_int(&req, '$', (long long)n);
    buf_add(&req, s, n);
    buf_add(&req, "\r\n", 2);
}

/* Builds the RESP request from the arguments at 1..argc; 0 when one of them
 * is neither a string nor a number. */
static int build_request(lua_State *L, int argc) {
    int j;
    buf_reset(&req);
    buf_fmt_int(&req, '*', argc);
    for (j = 1; j <= argc; j++) {
        if (lua_type(L, j) == LUA_TNUMBER) {
            /* Redis 7.0 formats numbers with %.17g (Lua's own %.14g loses precision) */
            char tmp[64];
            double d = (double)lua_tonumber(L, j);
            int n;
            /* An integer below 1e17 (not -0) is what %.17g prints it as:
             * its digits. Timestamps and counts skip printf that way. */
            if (d > -1e17 && d < 1e17 && d == (double)(long long)d && !(d == 0 && signbit(d)))
                n = snprintf_int(tmp, (long long)d);
            else
                n = snprintf(tmp, sizeof tmp, "%.17g", d);
            req_bulk(tmp, (size_t)n);
        } else if (lua_type(L, j) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, j, &n);
            req_bulk(s, n);
        } else {
            return 0;
        }
    }
    return 1;
}

/* Runs the request through the host; leaves the reply in `answer`. */
static void run_request(void) {
    int32_t n;
    buf_reserve(&answer, 4096);
    n = ember_call(req.p, (int32_t)req.len, answer.p, (int32_t)answer.cap);
    if ((size_t)n > answer.cap) {
        buf_reserve(&answer, (size_t)n);
        ember_last_reply(answer.p, (int32_t)answer.cap);
    }
    answer.len = (size_t)n;
}

static int generic_call(lua_State *L, int raise) {
    int argc = lua_gettop(L);
    if (argc == 0 || !build_request(L, argc)) {
        const char *msg = argc == 0 ? "Please specify at least one argument for this redis lib call"
                                    : "Lua redis lib command arguments must be strings or integers";
        push_error_table(L, msg, strlen(msg));
        return raise ? lua_error(L) : 1;
    }
    ldb_log_command(req.p, req.len);
    run_request();
    resp_to_lua(L, answer.p, answer.p + answer.len, 0);
    ldb_log_reply(answer.p, answer.len);
    if (raise && answer.len > 0 && answer.p[0] == '-') return lua_error(L);
    return 1;
}

static int redis_call(lua_State *L) { return generic_call(L, 1); }
static int redis_pcall(lua_State *L) { return generic_call(L, 0); }

static int redis_error_reply(lua_State *L) {
    size_t n;
    const char *s;
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_table(L, "wrong number or type of arguments", 33);
        return 1;
    }
    s = lua_tolstring(L, -1, &n);
    if (n > 0 && s[0] == '-') {
        push_error_table(L, s, n);
    } else {
        lua_pushliteral(L, "-");
        lua_pushvalue(L, 1);
        lua_concat(L, 2);
        s = lua_tolstring(L, -1, &n);
        push_error_table(L, s, n);
    }
    return 1;
}

static int redis_status_reply(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error_table(L, "wrong number or type of arguments", 33);
        return 1;
    }
    lua_newtable(L);
    lua_pushstring(L, "ok");
    lua_pushvalue(L, 1);
    lua_settable(L, -3);
    return 1;
}

static int redis_sha1hex(lua_State *L) {
    char hex[41];
    size_t n;
    const char *s;
    if (lua_gettop(L) != 1) return raise_error(L, "wrong number of arguments");
    s = lua_tolstring(L, 1, &n);
    if (s == NULL) { s = ""; n = 0; }
    ember_sha1hex(s, n, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int redis_log(lua_State *L) {
    int argc = lua_gettop(L), j, level;
    luaL_Buffer b;
    size_t n;
    const char *line;
    if (argc < 2) return raise_error(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1)) return raise_error(L, "First argument must be a number (log level).");
    level = (int)lua_tonumber(L, 1);
    if (level < 0 || level > 3) return raise_error(L, "Invalid debug level.");
    luaL_buffinit(L, &b);
    for (j = 2; j <= argc; j++) {
        const char *s = lua_tolstring(L, j, &n);
        if (s) {
            if (j != 2) luaL_addchar(&b, ' ');
            luaL_addlstring(&b, s, n);
        }
    }
    luaL_pushresult(&b);
    line = lua_tolstring(L, -1, &n);
    ember_log(level, line, (int32_t)n);
    return 0;
}

static int redis_setresp(lua_State *L) {
    int v;
    if (lua_gettop(L) != 1) return raise_error(L, "redis.setresp() requires one argument.");
    v = (int)lua_tonumber(L, 1); /* as Redis: a non-number is 0, so "must be 2 or 3" */
    if (v != 2 && v != 3) return raise_error(L, "RESP version must be 2 or 3.");
    engine_state(L)->resp = v;
    ember_protocol(v);
    return 0;
}

/* (Redis says "two arguments" for a one-argument function; its text is kept.)
 * The flags (REPL_AOF 1, REPL_REPLICA 2) choose where the effects of the
 * following redis.call writes go, until the script ends (docs/abi.md). */
static int redis_set_repl(lua_State *L) {
    int flags;
    if (lua_gettop(L) != 1) return raise_error(L, "redis.set_repl() requires two arguments.");
    flags = (int)lua_tonumber(L, 1); /* as Redis: a non-number is 0 (REPL_NONE) */
    if (flags & ~3)
        return raise_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    ember_set_repl(flags);
    return 0;
}

static int redis_replicate_commands(lua_State *L) {
    lua_pushboolean(L, 1);
    return 1;
}

static int redis_acl_check_cmd(lua_State *L) {
    int argc = lua_gettop(L), r;
    if (argc == 0) return raise_error(L, "Please specify at least one argument for this redis lib call");
    if (!build_request(L, argc))
        return raise_error(L, "Lua redis lib command arguments must be strings or integers");
    r = ember_acl_check(req.p, (int32_t)req.len);
    if (r < 0) return raise_error(L, "Invalid command passed to redis.acl_check_cmd()");
    lua_pushboolean(L, r);
    return 1;
}

static void set_fn(lua_State *L, const char *name, lua_CFunction f) {
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
}

static void set_num(lua_State *L, const char *name, lua_Number v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

/* The version scripts see: the Redis release whose behaviour Ember follows. */
#define REDIS_VERSION "7.0.15"
#define REDIS_VERSION_NUM 0x07000f

static void common_fields(lua_State *L) {
    set_fn(L, "log", redis_log);
    set_num(L, "LOG_DEBUG", 0);
    set_num(L, "LOG_VERBOSE", 1);
    set_num(L, "LOG_NOTICE", 2);
    set_num(L, "LOG_WARNING", 3);
    lua_pushstring(L, REDIS_VERSION);
    lua_setfield(L, -2, "REDIS_VERSION");
    set_num(L, "REDIS_VERSION_NUM", REDIS_VERSION_NUM);
}

/* Sets the global `redis` of an EVAL (functions = 0) or FCALL state. */
void redis_api_open(lua_State *L, int functions) {
    lua_newtable(L);
    set_fn(L, "call", redis_call);
    set_fn(L, "pcall", redis_pcall);
    set_fn(L, "error_reply", redis_error_reply);
    set_fn(L, "status_reply", redis_status_reply);
    set_fn(L, "sha1hex", redis_sha1hex);
    set_fn(L, "setresp", redis_setresp);
    set_fn(L, "set_repl", redis_set_repl);
    set_fn(L, "acl_check_cmd", redis_acl_check_cmd);
    set_num(L, "REPL_NONE", 0);
    set_num(L, "REPL_AOF", 1);
    set_num(L, "REPL_SLAVE", 2);
    set_num(L, "REPL_REPLICA", 2);
    set_num(L, "REPL_ALL", 3);
    if (!functions) {
        set_fn(L, "replicate_commands", redis_replicate_commands);
        set_fn(L, "breakpoint", ldb_breakpoint_command); /* ldb.c */
        set_fn(L, "debug", ldb_debug_command);
    }
    common_fields(L);
    lua_setglobal(L, "redis");
}

/* Pushes the `redis` a library's top-level code sees while FUNCTION LOAD
 * runs it: registration and logging only. */
void redis_api_open_load(lua_State *L) {
    lua_newtable(L);
    set_fn(L, "register_function", register_function_impl);
    common_fields(L);
}

/* Library function flags (Redis's names; Ember's whole-keyspace is implied
 * for Lua, whose scripts may name keys they did not declare). */
static const char *const FUNCTION_FLAGS[] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                             "allow-cross-slot-keys", NULL};

static int valid_name(const char *s, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* redis.register_function(name, callback) or
 * redis.register_function{function_name=, callback=, flags=, description=}. */
int register_function_impl(lua_State *L) {
    int argc = lua_gettop(L), name_i = 0, cb_i = 0, flags_i = 0, desc_i = 0;
    luaL_Buffer flags;
    const char *name;
    size_t name_len;
    if (!engine_state(L)->loading)
        return raise_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
    if (argc == 1) {
        if (!lua_istable(L, 1))
            return raise_error(L, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            const char *key;
            lua_pop(L, 1); /* the value; the key stays for lua_next */
            if (lua_type(L, -1) != LUA_TSTRING)
                return raise_error(L, "named argument key given to redis.register_function is not a string");
            key = lua_tostring(L, -1);
            if (strcmp(key, "function_name") && strcmp(key, "callback") && strcmp(key, "flags") &&
                strcmp(key, "description"))
                return raise_error(L, "unknown argument given to redis.register_function");
        }
        lua_getfield(L, 1, "function_name");
        lua_getfield(L, 1, "callback");
        lua_getfield(L, 1, "flags");
        lua_getfield(L, 1, "description");
        name_i = 2; cb_i = 3; flags_i = 4; desc_i = 5;
        if (lua_isnil(L, name_i)) return raise_error(L, "redis.register_function must get a function name argument");
        if (lua_isnil(L, cb_i)) return raise_error(L, "redis.register_function must get a callback argument");
        if (!lua_isstring(L, name_i)) /* numbers pass, as in Redis */
            return raise_error(L, "function_name argument given to redis.register_function must be a string");
        if (!lua_isfunction(L, cb_i))
            return raise_error(L, "callback argument given to redis.register_function must be a function");
        if (!lua_isnil(L, flags_i) && !lua_istable(L, flags_i))
            return raise_error(L, "flags argument to redis.register_function must be a table representing function flags");
        if (!lua_isnil(L, desc_i) && !lua_isstring(L, desc_i))
            return raise_error(L, "description argument given to redis.register_function must be a string");
    } else if (argc == 2) {
        if (!lua_isstring(L, 1))
            return raise_error(L, "first argument to redis.register_function must be a string");
        if (!lua_isfunction(L, 2))
            return raise_error(L, "second argument to redis.register_function must be a function");
        name_i = 1; cb_i = 2; flags_i = 0; desc_i = 0;
    } else {
        return raise_error(L, "wrong number of arguments to redis.register_function");
    }
    luaL_buffinit(L, &flags);
    if (flags_i && lua_istable(L, flags_i)) {
        int j, first = 1;
        for (j = 1;; j++) {
            int k, found = 0;
            const char *f;
            lua_rawgeti(L, flags_i, j);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
            if (lua_type(L, -1) != LUA_TSTRING) return raise_error(L, "unknown flag given");
            f = lua_tostring(L, -1);
            for (k = 0; FUNCTION_FLAGS[k]; k++)
                if (!strcmp(f, FUNCTION_FLAGS[k])) found = 1;
            if (!found) return raise_error(L, "unknown flag given");
            lua_pop(L, 1);
            if (!first) luaL_addchar(&flags, ' ');
            luaL_addstring(&flags, f);
            first = 0;
        }
    }
    luaL_pushresult(&flags);
    name = lua_tolstring(L, name_i, &name_len);
    if (!valid_name(name, name_len))
        return raise_error(L, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    engine_add_function(L, name, cb_i, lua_tostring(L, -1),
                        desc_i && lua_isstring(L, desc_i) ? lua_tostring(L, desc_i) : NULL);
    return 0;
}
