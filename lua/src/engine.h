/* Shared declarations of the Lua guest: the ember ABI imports it uses
 * (docs/abi.md), the output buffer replies are built in, and the pieces the
 * engine (engine.c), the redis API (redis_api.c) and the RESP conversions
 * (resp.c) share. */
#ifndef EMBER_ENGINE_H
#define EMBER_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#define IMPORT(name) __attribute__((import_module("ember"), import_name(name)))
IMPORT("call") int32_t ember_call(const char *req, int32_t req_len, char *dst, int32_t cap);
IMPORT("last_reply") int32_t ember_last_reply(char *dst, int32_t cap);
IMPORT("input") int32_t ember_input(char *dst, int32_t cap);
IMPORT("reply") void ember_reply(const char *p, int32_t len);
IMPORT("log") void ember_log(int32_t level, const char *p, int32_t len);
IMPORT("register") int32_t ember_register(const char *spec, int32_t len);
IMPORT("code") int32_t ember_code(char *dst, int32_t cap, int32_t part);
IMPORT("protocol") void ember_protocol(int32_t version);
IMPORT("acl_check") int32_t ember_acl_check(const char *req, int32_t len);
IMPORT("interrupted") int32_t ember_interrupted(void);
IMPORT("set_repl") void ember_set_repl(int32_t targets);

/* A growable byte buffer (requests, replies). */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t total);
void buf_add(buf_t *b, const char *s, size_t n);
void buf_str(buf_t *b, const char *s);
void buf_fmt_int(buf_t *b, char prefix, long long n);

/* Per-state settings a script can change while it runs. */
typedef struct {
    int resp;        /* redis.setresp: protocol of redis.call replies, and of booleans returned */
    int functions;   /* this state runs FUNCTION libraries (1) or EVAL scripts (0) */
    int loading;     /* a library's top-level code is running (register_function allowed) */
} engine_state_t;
engine_state_t *engine_state(lua_State *L);

/* resp.c */
const char *resp_to_lua(lua_State *L, const char *p, const char *end, int depth);
void lua_to_resp(lua_State *L, buf_t *out);
long long lua_number_to_int(lua_Number n);

/* redis_api.c */
void redis_api_open(lua_State *L, int functions);
void redis_api_open_load(lua_State *L);
void push_error_table(lua_State *L, const char *msg, size_t len);
int raise_error(lua_State *L, const char *msg);
int register_function_impl(lua_State *L);

/* rand48.c, sha1.c */
void ember_install_random(lua_State *L);
void ember_sha1hex(const char *data, size_t len, char out[41]);

/* ldb.c: the Lua debugger (SCRIPT DEBUG) */
void ldb_start(void);
void ldb_arm(lua_State *L);
void ldb_end(lua_State *L);
int ldb_active(void);
int ldb_logging(void);
void ldb_log_command(const char *req, size_t len);
void ldb_log_reply(const char *reply, size_t len);
void ldb_log_error(const char *msg, size_t len);
void ldb_log_call_error(const char *reply, size_t len);
int ldb_debug_command(lua_State *L);
int ldb_breakpoint_command(lua_State *L);

/* engine.c: a full collection in both states (to make room for a buffer). */
void engine_collect_garbage(void);

/* engine.c: the library being loaded collects its functions here. */
void engine_add_function(lua_State *L, const char *name, int callback_index, const char *flags,
                         const char *description);

#endif
