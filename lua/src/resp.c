/* Conversions between RESP and Lua values, with Redis 7.0's rules
 * (script_lua.c): replies of redis.call become Lua values, and the value a
 * script returns becomes its reply. */
#include "engine.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void buf_reset(buf_t *b) { b->len = 0; }

void buf_reserve(buf_t *b, size_t total) {
    if (total > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < total) cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL) {
            /* At the memory limit, the garbage of a script that caught its
             * own "not enough memory" may be what fills it. */
            engine_collect_garbage();
            p = realloc(b->p, cap);
        }
        if (p == NULL) __builtin_trap(); /* still full: the host reports the limit */
        b->p = p;
        b->cap = cap;
    }
}

void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, b->len + n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_fmt_int(buf_t *b, char prefix, long long n) {
    char tmp[32];
    int i = sizeof tmp;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do { tmp[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (n < 0) tmp[--i] = '-';
    tmp[--i] = prefix;
    buf_add(b, tmp + i, sizeof tmp - i);
}

/* (long long)n as x86-64 computes it, which is what Redis replies: values
 * outside the range (and NaN) give the "integer indefinite" INT64_MIN; wasm's
 * conversion would trap instead. */
long long lua_number_to_int(lua_Number n) {
    if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0)) return (long long)(-9223372036854775807LL - 1);
    return (long long)n;
}

/* Reads one RESP line starting at p (after the type byte); returns the start
 * of the next line, NULL when malformed. */
static const char *line_end(const char *p, const char *end) {
    const char *q = memchr(p, '\r', (size_t)(end - p));
    if (q == NULL || q + 1 >= end || q[1] != '\n') return NULL;
    return q;
}

static long long parse_ll(const char *p, const char *q) {
    long long v = 0;
    int neg = 0;
    if (p < q && *p == '-') { neg = 1; p++; }
    for (; p < q; p++) v = v * 10 + (*p - '0');
    return neg ? -v : v;
}

static void set_field_str(lua_State *L, const char *field, const char *s, size_t n) {
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, field);
}

/* Pushes the RESP value at p as a Lua value; returns the end of it. The
 * replies come from the host, which builds them well formed; a malformed one
 * raises an error rather than being trusted. */
const char *resp_to_lua(lua_State *L, const char *p, const char *end, int depth) {
    const char *q;
    long long n, i;
    if (p >= end) goto bad;
    if (!lua_checkstack(L, 5) || depth > 1000) luaL_error(L, "reached lua stack limit");
    q = line_end(p + 1, end);
    if (q == NULL) goto bad;
    switch (*p) {
    case ':':
        lua_pushnumber(L, (lua_Number)parse_ll(p + 1, q));
        return q + 2;
    case '$':
        n = parse_ll(p + 1, q);
        if (n < 0) { lua_pushboolean(L, 0); return q + 2; }
        if (q + 2 + n + 2 > end) goto bad;
        lua_pushlstring(L, q + 2, (size_t)n);
        return q + 2 + n + 2;
    case '+':
        lua_newtable(L);
        set_field_str(L, "ok", p + 1, (size_t)(q - p - 1));
        return q + 2;
    case '-':
        ldb_log_call_error(p, (size_t)(q - p)); /* the debugger's <error> line */
        lua_newtable(L);
        set_field_str(L, "err", p + 1, (size_t)(q - p - 1));
        return q + 2;
    case '*':
    case '~':
    case '%': {
        char kind = *p;
        n = parse_ll(p + 1, q);
        p = q + 2;
        if (n < 0) { lua_pushboolean(L, 0); return p; }
        if (kind == '*') {
            lua_createtable(L, n > 1000 ? 1000 : (int)n, 0);
            for (i = 0; i < n; i++) {
                p = resp_to_lua(L, p, end, depth + 1);
                lua_rawseti(L, -2, (int)(i + 1));
            }
            return p;
        }
        /* {map={k=v}} and {set={k=true}}, as Redis hands RESP3 to Lua */
        lua_newtable(L);
        lua_newtable(L);
        for (i = 0; i < n; i++) {
            p = resp_to_lua(L, p, end, depth + 1);
            if (kind == '%') p = resp_to_lua(L, p, end, depth + 1);
            else lua_pushboolean(L, 1);
            lua_settable(L, -3);
        }
        lua_setfield(L, -2, kind == '%' ? "map" : "set");
        return p;
    }
    case '_':
        lua_pushnil(L);
        return q + 2;
    case '#':
        lua_pushboolean(L, p[1] == 't');
        return q + 2;
    case ',': {
        char tmp[64];
        size_t len = (size_t)(q - p - 1);
        if (len >= sizeof tmp) len = sizeof tmp - 1;
        memcpy(tmp, p + 1, len);
        tmp[len] = '\0';
        lua_newtable(L);
        lua_pushnumber(L, strtod(tmp, NULL));
        lua_setfield(L, -2, "double");
        return q + 2;
    }
    case '(':
        lua_newtable(L);
        set_field_str(L, "big_number", p + 1, (size_t)(q - p - 1));
        return q + 2;
    case '=':
        n = parse_ll(p + 1, q);
        if (n < 4 || q + 2 + n + 2 > end) goto bad;
        lua_newtable(L);
        lua_newtable(L);
        set_field_str(L, "string", q + 2 + 4, (size_t)n - 4);
        set_field_str(L, "format", q + 2, 3);
        lua_setfield(L, -2, "verbatim_string");
        return q + 2 + n + 2;
    }
bad:
    luaL_error(L, "malformed reply from the server");
    return end;
}

/* Appends s with \r and \n turned into spaces, as Redis sanitises status and
 * error replies. */
static void add_line(buf_t *out, const char *s, size_t n) {
    size_t i, start = out->len;
    buf_add(out, s, n);
    for (i = start; i < out->len; i++)
        if (out->p[i] == '\r' || out->p[i] == '\n') out->p[i] = ' ';
}

static void add_bulk(buf_t *out, const char *s, size_t n) {
    buf_fmt_int(out, '$', (long long)n);
    buf_add(out, s, n);
    buf_add(out, "\r\n", 2);
}

/* Aggregates whose element count is only known once their elements are
 * converted get a fixed-width header ("*0000000000\r\n"), noted here; one
 * pass at the end writes the counts and closes up the unused digits (the
 * host's RESP parser, like Redis's, refuses leading zeros). One pass, not a
 * move of the rest of the reply per aggregate: a reply nested thousands deep
 * would cost quadratic time. */
typedef struct {
    size_t header; /* offset of the header in the reply */
    long long count;
} patch_t;

#define HEADER_DIGITS 10

static void close_up_headers(buf_t *out, const patch_t *patches, size_t n) {
    size_t i, w, r;
    if (n == 0) return;
    w = patches[0].header;
    r = w;
    for (i = 0; i < n; i++) {
        char digits[24];
        int nd = 0, k;
        long long c = patches[i].count;
        size_t h = patches[i].header;
        /* the bytes between the previous header and this one move down */
        memmove(out->p + w, out->p + r, h - r);
        w += h - r;
        do { digits[nd++] = (char)('0' + c % 10); c /= 10; } while (c);
        out->p[w++] = out->p[h]; /* the type byte */
        for (k = 0; k < nd; k++) out->p[w++] = digits[nd - 1 - k];
        r = h + 1 + HEADER_DIGITS;
    }
    memmove(out->p + w, out->p + r, out->len - r);
    out->len = w + (out->len - r);
}

/* Looks up t[field] (raw) for the table at the top; leaves it pushed and
 * returns its type. */
static int field(lua_State *L, const char *name) {
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    return lua_type(L, -1);
}

/* An aggregate being converted: its table sits on the Lua stack (for maps
 * and sets the {map=...}/{set=...} wrapper below it, and the iteration key
 * above it between elements). */
enum { AGG_ARRAY, AGG_MAP, AGG_SET };
typedef struct {
    int kind;
    int value_next;  /* a map whose key was converted: its value is next */
    long long next;  /* arrays: the next index */
    size_t patch;    /* its entry in the patch list */
} frame_t;

typedef struct {
    frame_t *frames;
    size_t nframes, cap_frames;
    patch_t *patches;
    size_t npatches, cap_patches;
} walk_t;

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    *cap = *cap ? *cap * 2 : 16;
    if (*cap < need) *cap = need;
    p = realloc(p, *cap * size);
    if (p == NULL) __builtin_trap(); /* the host discards the trapped instance */
    return p;
}

/* Starts an aggregate: writes its header placeholder and opens a frame. */
static void open_aggregate(walk_t *w, buf_t *out, int kind) {
    frame_t *f;
    w->patches = grow(w->patches, &w->cap_patches, w->npatches + 1, sizeof *w->patches);
    w->frames = grow(w->frames, &w->cap_frames, w->nframes + 1, sizeof *w->frames);
    w->patches[w->npatches].header = out->len;
    w->patches[w->npatches].count = 0;
    buf_str(out, kind == AGG_MAP ? "%0000000000\r\n" : kind == AGG_SET ? "~0000000000\r\n"
                                                                         : "*0000000000\r\n");
    f = &w->frames[w->nframes++];
    f->kind = kind;
    f->value_next = 0;
    f->next = 1;
    f->patch = w->npatches++;
}

/* Converts the value at the top of the stack: a scalar (or an error, status,
 * double ... table) is written and popped; an aggregate is opened and stays
 * on the stack until its elements are done. */
static void convert_one(lua_State *L, walk_t *w, buf_t *out) {
    size_t n;
    const char *s;
    /* Redis's limit on nesting: the Lua stack (LUAI_MAXCSTACK) runs out. */
    if (!lua_checkstack(L, 4)) {
        buf_str(out, "-ERR reached lua stack limit\r\n");
        lua_pop(L, 1);
        return;
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, &n);
        add_bulk(out, s, n);
        break;
    case LUA_TBOOLEAN:
        if (engine_state(L)->resp == 2) buf_str(out, lua_toboolean(L, -1) ? ":1\r\n" : "$-1\r\n");
        else buf_str(out, lua_toboolean(L, -1) ? "#t\r\n" : "#f\r\n");
        break;
    case LUA_TNUMBER:
        buf_fmt_int(out, ':', lua_number_to_int(lua_tonumber(L, -1)));
        break;
    case LUA_TTABLE: {
        if (field(L, "err") == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &n);
            buf_add(out, "-", 1);
            add_line(out, s, n);
            buf_add(out, "\r\n", 2);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        if (field(L, "ok") == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &n);
            buf_add(out, "+", 1);
            add_line(out, s, n);
            buf_add(out, "\r\n", 2);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        if (field(L, "double") == LUA_TNUMBER) {
            char tmp[64];
            int len = snprintf(tmp, sizeof tmp, ",%.17g\r\n", lua_tonumber(L, -1));
            buf_add(out, tmp, (size_t)len);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        if (field(L, "big_number") == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &n);
            buf_add(out, "(", 1);
            add_line(out, s, n);
            buf_add(out, "\r\n", 2);
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
        if (field(L, "verbatim_string") == LUA_TTABLE) {
            size_t fn;
            const char *fmt;
            lua_getfield(L, -1, "format");
            lua_getfield(L, -2, "string");
            fmt = lua_tolstring(L, -2, &fn);
            s = lua_tolstring(L, -1, &n);
            if (fmt != NULL && s != NULL && fn == 3) {
                buf_fmt_int(out, '=', (long long)n + 4);
                buf_add(out, fmt, 3);
                buf_add(out, ":", 1);
                buf_add(out, s, n);
                buf_add(out, "\r\n", 2);
                lua_pop(L, 4);
                return;
            }
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
        if (field(L, "map") == LUA_TTABLE) {
            open_aggregate(w, out, AGG_MAP);
            lua_pushnil(L); /* stack: wrapper, map, key */
            return;
        }
        lua_pop(L, 1);
        if (field(L, "set") == LUA_TTABLE) {
            open_aggregate(w, out, AGG_SET);
            lua_pushnil(L);
            return;
        }
        lua_pop(L, 1);
        /* an array: elements 1..n up to the first nil */
        open_aggregate(w, out, AGG_ARRAY);
        return;
    }
    default:
        /* nil, functions, userdata ...: a nil reply */
        buf_str(out, "$-1\r\n");
        break;
    }
    lua_pop(L, 1);
}

/* Appends the reply for the value at the top of the stack and pops it.
 * Iterative, with the aggregates being converted in `walk_t`: a reply
 * nested as deep as the Lua stack allows (Redis's limit, about 8000) would
 * overflow the wasm stack as recursion. */
void lua_to_resp(lua_State *L, buf_t *out) {
    walk_t w = {0};
    for (;;) {
        convert_one(L, &w, out);
        /* Find the next value to convert: push it, or close aggregates. */
        while (w.nframes > 0) {
            frame_t *f = &w.frames[w.nframes - 1];
            if (f->kind == AGG_ARRAY) {
                lua_rawgeti(L, -1, (int)f->next);
                if (!lua_isnil(L, -1)) {
                    f->next++;
                    w.patches[f->patch].count++;
                    break;
                }
                lua_pop(L, 2); /* the nil, the array */
            } else if (f->value_next) {
                f->value_next = 0; /* stack: ..., key, value: the value next */
                break;
            } else if (lua_next(L, -2)) {
                w.patches[f->patch].count++;
                if (f->kind == AGG_MAP) {
                    lua_pushvalue(L, -2); /* the key, then the value */
                    f->value_next = 1;
                } else {
                    lua_pop(L, 1);
                    lua_pushvalue(L, -1); /* a set's members are its keys */
                }
                break;
            } else {
                lua_pop(L, 2); /* the map or set, and its wrapper */
            }
            w.nframes--;
        }
        if (w.nframes == 0) break;
    }
    close_up_headers(out, w.patches, w.npatches);
    free(w.frames);
    free(w.patches);
}
