/* The Lua debugger (SCRIPT DEBUG YES|SYNC, `redis-cli --ldb`), with Redis
 * 7.0's commands, log lines and replies. While a script runs under it
 * (the `ember_debug` export), a line hook stops where the user asked
 * (step, breakpoints, redis.breakpoint(), a run past the time limit), sends
 * the logs gathered so far to the debugging client through the host's
 * `ldb_send` import, and reads the client's next debugger command with
 * `ldb_recv` (docs/abi.md, "The Lua debugger"). The host owns the client's
 * connection and the session around it; this file owns everything the
 * user sees in it. */
#include "engine.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

IMPORT("ldb_send") void ember_ldb_send(const char *lines, int32_t len);
IMPORT("ldb_recv") int32_t ember_ldb_recv(char *dst, int32_t cap);

#define MAX_BREAKPOINTS 64
#define DEFAULT_MAXLEN 256
/* Deepest table nesting `print` shows (Redis: LUA_MINSTACK / 2). */
#define MAX_VALUE_DEPTH 10

static struct {
    int active;         /* a session runs */
    int step;           /* stop at the next line */
    int luabp;          /* redis.breakpoint() asked to stop at the next line */
    int gone;           /* the client left: the script must end */
    int bp[MAX_BREAKPOINTS];
    int bpcount;
    int currentline;
    size_t maxlen;
    int maxlen_hint_sent;
    char *src;          /* the script's text, lines split at '\n' (NULs) */
    char *first;        /* its #! line, which the host removed from the text */
    char **lines;
    int nlines;
    buf_t logs;         /* RESP bulk strings, one per log line */
    int nlogs;
    buf_t cmd;          /* the debugger command being run */
} ldb;

int ldb_logging(void) { return ldb.active && ldb.step; }

/* ---- logs ------------------------------------------------------------------ */

static void log_line(const char *s, size_t n) {
    buf_fmt_int(&ldb.logs, '$', (long long)n);
    buf_add(&ldb.logs, s, n);
    buf_add(&ldb.logs, "\r\n", 2);
    ldb.nlogs++;
}

static void log_buf(buf_t *b) { log_line(b->p ? b->p : "", b->len); }

static void log_str(const char *s) { log_line(s, strlen(s)); }

static void log_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_fmt(const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    log_line(tmp, (size_t)n);
}

/* A log line that may be long (values, replies): cut at maxlen, with a
 * one-time hint about `maxlen 0`. */
static void log_trimmed(buf_t *b) {
    int trimmed = 0;
    if (ldb.maxlen && b->len > ldb.maxlen) {
        b->len = ldb.maxlen;
        buf_add(b, " ...", 4);
        trimmed = 1;
    }
    log_buf(b);
    if (trimmed && !ldb.maxlen_hint_sent) {
        ldb.maxlen_hint_sent = 1;
        log_str("<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.");
    }
}

/* Sends the gathered logs to the client as one array of status replies. */
static void send_logs(void) {
    buf_t msg = {0};
    buf_fmt_int(&msg, '*', ldb.nlogs);
    buf_add(&msg, ldb.logs.p, ldb.logs.len);
    ember_ldb_send(msg.p, (int32_t)msg.len);
    free(msg.p);
    buf_reset(&ldb.logs);
    ldb.nlogs = 0;
}

/* ---- source ------------------------------------------------------------------ */

static const char *source_line(int line) {
    if (line < 1 || line > ldb.nlines) return "<out of range source code line>";
    return ldb.lines[line - 1];
}

static int is_breakpoint(int line) {
    int j;
    for (j = 0; j < ldb.bpcount; j++)
        if (ldb.bp[j] == line) return 1;
    return 0;
}

static void log_source_line(int line) {
    int bp = is_breakpoint(line), current = line == ldb.currentline;
    const char *mark = current ? (bp ? "->#" : "-> ") : (bp ? "  #" : "   ");
    buf_t b = {0};
    char num[16];
    snprintf(num, sizeof num, "%-3d ", line);
    buf_str(&b, mark);
    buf_str(&b, num);
    buf_str(&b, source_line(line));
    log_buf(&b);
    free(b.p);
}

/* Lines within `context` of `around` (every line when `around` is 0). */
static void list_source(int around, int context) {
    int j;
    for (j = 1; j <= ldb.nlines; j++) {
        int d = around - j;
        if (around != 0 && (d < 0 ? -d : d) > context) continue;
        log_source_line(j);
    }
}

/* Keeps the script's text split in lines, as Redis splits EVAL's body
 * (trailing newlines dropped first). */
static void load_source(void) {
    int32_t n = ember_code(NULL, 0, 1);
    size_t len, i, start;
    int count = 0;
    free(ldb.src);
    free(ldb.lines);
    ldb.src = NULL;
    ldb.lines = NULL;
    ldb.nlines = 0;
    if (n < 0) return;
    ldb.src = malloc((size_t)n + 1);
    if (ldb.src == NULL) return;
    ember_code(ldb.src, n, 1);
    len = (size_t)n;
    while (len > 0 && (ldb.src[len - 1] == '\n' || ldb.src[len - 1] == '\r')) len--;
    ldb.src[len] = '\0';
    /* The engine runs the text with its #! line blanked; the listing shows
     * the script as the client sent it, as Redis's does. */
    free(ldb.first);
    ldb.first = NULL;
    n = ember_code(NULL, 0, 2);
    if (n > 0 && (ldb.first = malloc((size_t)n + 1)) != NULL) {
        ember_code(ldb.first, n, 2);
        ldb.first[n] = '\0';
    }
    if (len == 0) return;
    for (i = 0; i < len; i++)
        if (ldb.src[i] == '\n') count++;
    ldb.lines = malloc(sizeof(char *) * (size_t)(count + 1));
    if (ldb.lines == NULL) return;
    for (i = 0, start = 0; i <= len; i++) {
        if (i == len || ldb.src[i] == '\n') {
            ldb.src[i] = '\0';
            ldb.lines[ldb.nlines++] = ldb.src + start;
            start = i + 1;
        }
    }
    if (ldb.first && ldb.nlines > 0 && ldb.lines[0][0] == '\0') ldb.lines[0] = ldb.first;
}

/* ---- values ------------------------------------------------------------------ */

/* A quoted, escaped copy of `s` (Redis's sdscatrepr). */
static void add_repr(buf_t *b, const char *s, size_t n) {
    size_t i;
    buf_add(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        switch (c) {
        case '\\': buf_add(b, "\\\\", 2); break;
        case '"': buf_add(b, "\\\"", 2); break;
        case '\n': buf_add(b, "\\n", 2); break;
        case '\r': buf_add(b, "\\r", 2); break;
        case '\t': buf_add(b, "\\t", 2); break;
        case '\a': buf_add(b, "\\a", 2); break;
        case '\b': buf_add(b, "\\b", 2); break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                buf_add(b, (const char *)&c, 1);
            } else {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                buf_str(b, tmp);
            }
        }
    }
    buf_add(b, "\"", 1);
}

/* Appends how the debugger shows the value at `idx`: tables that are
 * arrays as {a; b}, others as {[k]=v; ...}. */
static void add_value(lua_State *L, buf_t *b, int idx, int level) {
    int t = lua_type(L, idx);
    char tmp[64];
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (level++ == MAX_VALUE_DEPTH) {
        buf_str(b, "<max recursion level reached! Nested table?>");
        return;
    }
    switch (t) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        add_repr(b, s, n);
        break;
    }
    case LUA_TBOOLEAN: buf_str(b, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER:
        snprintf(tmp, sizeof tmp, "%g", (double)lua_tonumber(L, idx));
        buf_str(b, tmp);
        break;
    case LUA_TNIL: buf_str(b, "nil"); break;
    case LUA_TTABLE: {
        buf_t as_array = {0}, as_map = {0};
        int expected = 1, is_array = 1;
        lua_checkstack(L, 4);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (is_array && (lua_type(L, -2) != LUA_TNUMBER || lua_tonumber(L, -2) != expected))
                is_array = 0;
            if (as_array.len) buf_add(&as_array, "; ", 2);
            add_value(L, &as_array, -1, level);
            if (as_map.len) buf_add(&as_map, "; ", 2);
            buf_add(&as_map, "[", 1);
            add_value(L, &as_map, -2, level);
            buf_add(&as_map, "]=", 2);
            add_value(L, &as_map, -1, level);
            lua_pop(L, 1);
            expected++;
        }
        buf_add(b, "{", 1);
        if (is_array) buf_add(b, as_array.p, as_array.len);
        else buf_add(b, as_map.p, as_map.len);
        buf_add(b, "}", 1);
        free(as_array.p);
        free(as_map.p);
        break;
    }
    case LUA_TFUNCTION:
    case LUA_TUSERDATA:
    case LUA_TTHREAD:
    case LUA_TLIGHTUSERDATA: {
        const char *name = t == LUA_TFUNCTION ? "function"
                         : t == LUA_TUSERDATA ? "userdata"
                         : t == LUA_TTHREAD   ? "thread"
                                              : "light-userdata";
        snprintf(tmp, sizeof tmp, "\"%s@%p\"", name, lua_topointer(L, idx));
        buf_str(b, tmp);
        break;
    }
    default: buf_str(b, "\"<unknown-lua-type>\"");
    }
}

static void log_value(lua_State *L, const char *prefix) {
    buf_t b = {0};
    buf_str(&b, prefix);
    add_value(L, &b, -1, 0);
    log_trimmed(&b);
    free(b.p);
}

/* ---- RESP shown to humans (redis.call replies) ------------------------------- */

/* The end of the line starting at p (its '\r'), or `end`. */
static const char *line_end(const char *p, const char *end) {
    while (p < end && *p != '\r') p++;
    return p;
}

static long long parse_len(const char *p, const char *e) {
    long long n = 0;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    while (p < e && *p >= '0' && *p <= '9') n = n * 10 + (*p++ - '0');
    return neg ? -n : n;
}

static const char *add_human(buf_t *b, const char *p, const char *end);

static const char *add_human_items(buf_t *b, const char *p, const char *end, long long n,
                                   int pairs) {
    long long j;
    for (j = 0; j < n && p < end; j++) {
        p = add_human(b, p, end);
        if (pairs) {
            buf_add(b, " => ", 4);
            p = add_human(b, p, end);
        }
        if (j != n - 1) buf_add(b, ",", 1);
    }
    return p;
}

/* Appends the RESP value at p as the debugger shows it; returns its end. */
static const char *add_human(buf_t *b, const char *p, const char *end) {
    const char *e = line_end(p + 1, end), *next = e + 2 <= end ? e + 2 : end;
    long long n;
    if (p >= end) return end;
    switch (*p) {
    case ':': buf_add(b, p + 1, (size_t)(e - p - 1)); return next;
    case '+':
    case '-': add_repr(b, p, (size_t)(e - p)); return next;
    case '$':
        n = parse_len(p + 1, e);
        if (n < 0) { buf_str(b, "NULL"); return next; }
        if ((size_t)(end - next) < (size_t)n) n = end - next;
        add_repr(b, next, (size_t)n);
        return next + n + 2 <= end ? next + n + 2 : end;
    case '*':
        n = parse_len(p + 1, e);
        if (n < 0) { buf_str(b, "NULL"); return next; }
        buf_add(b, "[", 1);
        next = add_human_items(b, next, end, n, 0);
        buf_add(b, "]", 1);
        return next;
    case '~':
        buf_add(b, "~(", 2);
        next = add_human_items(b, next, end, parse_len(p + 1, e), 0);
        buf_add(b, ")", 1);
        return next;
    case '%':
        buf_add(b, "{", 1);
        next = add_human_items(b, next, end, parse_len(p + 1, e), 1);
        buf_add(b, "}", 1);
        return next;
    case '_': buf_str(b, "(null)"); return next;
    case '#': buf_str(b, p[1] == 't' ? "#true" : "#false"); return next;
    case ',':
        buf_str(b, "(double) ");
        buf_add(b, p + 1, (size_t)(e - p - 1));
        return next;
    default: return next;
    }
}

/* ---- what redis.call and the error helpers log -------------------------------- */

/* `<redis> GET k`: the request (RESP array of bulks), ten arguments at most. */
void ldb_log_command(const char *req, size_t len) {
    const char *p = req, *end = req + len, *e;
    long long argc, j;
    buf_t b = {0};
    if (!ldb_logging()) return;
    e = line_end(p + 1, end);
    argc = parse_len(p + 1, e);
    p = e + 2;
    buf_str(&b, "<redis>");
    for (j = 0; j < argc && p < end; j++) {
        long long n;
        char tmp[48];
        if (j == 10) {
            snprintf(tmp, sizeof tmp, " ... (%lld more)", argc - j - 1);
            buf_str(&b, tmp);
            break;
        }
        e = line_end(p + 1, end);
        n = parse_len(p + 1, e);
        p = e + 2;
        buf_add(&b, " ", 1);
        buf_add(&b, p, (size_t)n);
        p += n + 2;
    }
    log_buf(&b);
    free(b.p);
}

/* The errors Redis's script layer gives before a command runs (script.c):
 * the debugger shows them as `<error> text`, with no `<reply>`, where a
 * command's own error shows as `<error> -ERR text` and `<reply> "-ERR text"`.
 * The host gives them as replies like any other (docs/abi.md, `call`). */
static const char *const SCRIPT_LAYER_ERRORS[] = {
    "-ERR Wrong number of args calling Redis command from script",
    "-ERR Unknown Redis command called from script",
    "-ERR This Redis command is not allowed from script",
    "-ERR Write commands are not allowed from read-only scripts.",
    NULL};

static int script_layer_error(const char *reply, size_t len) {
    int i;
    while (len > 0 && (reply[len - 1] == '\r' || reply[len - 1] == '\n')) len--;
    for (i = 0; SCRIPT_LAYER_ERRORS[i]; i++)
        if (strlen(SCRIPT_LAYER_ERRORS[i]) == len && !memcmp(SCRIPT_LAYER_ERRORS[i], reply, len))
            return 1;
    return 0;
}

/* An error reply of redis.call (or an error inside a reply). */
void ldb_log_call_error(const char *reply, size_t len) {
    if (script_layer_error(reply, len)) ldb_log_error(reply + 5, len - 5);
    else ldb_log_error(reply, len);
}

void ldb_log_reply(const char *reply, size_t len) {
    buf_t b = {0};
    if (!ldb_logging() || script_layer_error(reply, len)) return;
    buf_str(&b, "<reply> ");
    add_human(&b, reply, reply + len);
    log_trimmed(&b);
    free(b.p);
}

void ldb_log_error(const char *msg, size_t len) {
    buf_t b = {0};
    if (!ldb_logging()) return;
    buf_str(&b, "<error> ");
    buf_add(&b, msg, len);
    log_buf(&b);
    free(b.p);
}

/* redis.debug(...): a `<debug>` line in the console (nothing outside it). */
int ldb_debug_command(lua_State *L) {
    int argc = lua_gettop(L), j;
    char head[48];
    buf_t b = {0};
    if (!ldb.active) return 0;
    snprintf(head, sizeof head, "<debug> line %d: ", ldb.currentline);
    buf_str(&b, head);
    for (j = 1; j <= argc; j++) {
        add_value(L, &b, j, 0);
        if (j != argc) buf_add(&b, ", ", 2);
    }
    log_buf(&b);
    free(b.p);
    return 0;
}

/* redis.breakpoint(): stop at the next line; false outside a session. */
int ldb_breakpoint_command(lua_State *L) {
    if (ldb.active) ldb.luabp = 1;
    lua_pushboolean(L, ldb.active);
    return 1;
}

/* ---- debugger commands ---------------------------------------------------------- */

/* Redis's string2l: an optional '-', digits without leading zeros. */
static int parse_line_number(const char *s, long *out) {
    const char *p = s;
    long v = 0;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    if (*p < '0' || *p > '9') return 0;
    if (*p == '0' && (p[1] != '\0' || neg)) return 0;
    while (*p >= '0' && *p <= '9') {
        if (v > 100000000L) return 0;
        v = v * 10 + (*p++ - '0');
    }
    if (*p != '\0') return 0;
    *out = neg ? -v : v;
    return 1;
}

static void cmd_break(char **argv, int argc) {
    int j;
    if (argc == 1) {
        if (ldb.bpcount == 0) {
            log_str("No breakpoints set. Use 'b <line>' to add one.");
            return;
        }
        log_fmt("%d breakpoints set:", ldb.bpcount);
        for (j = 0; j < ldb.bpcount; j++) log_source_line(ldb.bp[j]);
        return;
    }
    for (j = 1; j < argc; j++) {
        long line;
        if (!parse_line_number(argv[j], &line)) {
            log_fmt("Invalid argument:'%s'", argv[j]);
        } else if (line == 0) {
            ldb.bpcount = 0;
            log_str("All breakpoints removed.");
        } else if (line > 0) {
            if (ldb.bpcount == MAX_BREAKPOINTS) {
                log_str("Too many breakpoints set.");
            } else if (line <= ldb.nlines && !is_breakpoint((int)line)) {
                ldb.bp[ldb.bpcount++] = (int)line;
                list_source((int)line, 1);
            } else {
                log_str("Wrong line number.");
            }
        } else {
            int k, found = 0;
            for (k = 0; k < ldb.bpcount; k++) {
                if (ldb.bp[k] == -line) {
                    memmove(ldb.bp + k, ldb.bp + k + 1, sizeof(int) * (size_t)(ldb.bpcount - k - 1));
                    ldb.bpcount--;
                    found = 1;
                    break;
                }
            }
            log_str(found ? "Breakpoint removed." : "No breakpoint in the specified line.");
        }
    }
}

static const char *error_text(lua_State *L) {
    if (lua_istable(L, -1)) {
        const char *s;
        lua_getfield(L, -1, "err");
        s = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive: the table holds it */
        return s ? s : "(null)";
    }
    return lua_tostring(L, -1) ? lua_tostring(L, -1) : "(null)";
}

/* `eval <code>`: as an expression first ("return " prepended), else as a
 * statement, in a fresh call frame. */
static void cmd_eval(lua_State *L, char **argv, int argc) {
    buf_t code = {0}, expr = {0};
    int j;
    for (j = 1; j < argc; j++) {
        if (j > 1) buf_add(&code, " ", 1);
        buf_str(&code, argv[j]);
    }
    buf_str(&expr, "return ");
    buf_add(&expr, code.p, code.len);
    if (luaL_loadbuffer(L, expr.p, expr.len, "@ldb_eval")) {
        lua_pop(L, 1);
        if (luaL_loadbuffer(L, code.p ? code.p : "", code.len, "@ldb_eval")) {
            buf_t b = {0};
            buf_str(&b, "<error> ");
            buf_str(&b, error_text(L));
            log_buf(&b);
            free(b.p);
            lua_pop(L, 1);
            goto done;
        }
    }
    if (lua_pcall(L, 0, 1, 0)) {
        buf_t b = {0};
        buf_str(&b, "<error> ");
        buf_str(&b, error_text(L));
        log_buf(&b);
        free(b.p);
        lua_pop(L, 1);
        goto done;
    }
    log_value(L, "<retval> ");
    lua_pop(L, 1);
done:
    free(code.p);
    free(expr.p);
}

/* `redis <cmd>`: redis.call with logging on, so the command and its reply
 * are what the user sees. */
static void cmd_redis(lua_State *L, char **argv, int argc) {
    int j;
    lua_checkstack(L, argc + 2);
    lua_getglobal(L, "redis");
    lua_getfield(L, -1, "call");
    for (j = 1; j < argc; j++) lua_pushstring(L, argv[j]);
    ldb.step = 1;
    lua_pcall(L, argc - 1, 1, 0);
    ldb.step = 0;
    lua_pop(L, 2);
}

static void cmd_print(lua_State *L, const char *name) {
    lua_Debug ar;
    int level = 0;
    while (lua_getstack(L, level++, &ar)) {
        const char *local;
        int i = 1;
        while ((local = lua_getlocal(L, &ar, i++)) != NULL) {
            if (!strcmp(local, name)) {
                log_value(L, "<value> ");
                lua_pop(L, 1);
                return;
            }
            lua_pop(L, 1);
        }
    }
    if (!strcmp(name, "ARGV") || !strcmp(name, "KEYS")) {
        lua_getglobal(L, name);
        log_value(L, "<value> ");
        lua_pop(L, 1);
    } else {
        log_str("No such variable.");
    }
}

static void cmd_print_all(lua_State *L) {
    lua_Debug ar;
    int shown = 0;
    if (lua_getstack(L, 0, &ar)) {
        const char *local;
        int i = 1;
        while ((local = lua_getlocal(L, &ar, i++)) != NULL) {
            if (!strstr(local, "(*temporary)")) {
                buf_t prefix = {0};
                buf_str(&prefix, "<value> ");
                buf_str(&prefix, local);
                buf_str(&prefix, " = ");
                buf_add(&prefix, "", 1); /* NUL */
                log_value(L, prefix.p);
                free(prefix.p);
                shown++;
            }
            lua_pop(L, 1);
        }
    }
    if (!shown) log_str("No local variables in the current context.");
}

static void cmd_trace(lua_State *L) {
    lua_Debug ar;
    int level = 0;
    while (lua_getstack(L, level, &ar)) {
        lua_getinfo(L, "Snl", &ar);
        if (strstr(ar.short_src, "user_script")) {
            log_fmt("%s %s:", level == 0 ? "In" : "From", ar.name ? ar.name : "top level");
            log_source_line(ar.currentline);
        }
        level++;
    }
    if (level == 0) log_str("<error> Can't retrieve Lua stack.");
}

static void cmd_maxlen(char **argv, int argc) {
    if (argc == 2) {
        int v = atoi(argv[1]);
        ldb.maxlen_hint_sent = 1;
        if (v != 0 && v <= 60) v = 60;
        ldb.maxlen = (size_t)v;
    }
    if (ldb.maxlen) log_fmt("<value> replies are truncated at %d bytes.", (int)ldb.maxlen);
    else log_str("<value> replies are unlimited.");
}

static void cmd_help(void) {
    static const char *const HELP[] = {
        "Redis Lua debugger help:",
        "[h]elp               Show this help.",
        "[s]tep               Run current line and stop again.",
        "[n]ext               Alias for step.",
        "[c]ontinue           Run till next breakpoint.",
        "[l]ist               List source code around current line.",
        "[l]ist [line]        List source code around [line].",
        "                     line = 0 means: current position.",
        "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
        "                     to show before/after [line].",
        "[w]hole              List all source code. Alias for 'list 1 1000000'.",
        "[p]rint              Show all the local variables.",
        "[p]rint <var>        Show the value of the specified variable.",
        "                     Can also show global vars KEYS and ARGV.",
        "[b]reak              Show all breakpoints.",
        "[b]reak <line>       Add a breakpoint to the specified line.",
        "[b]reak -<line>      Remove breakpoint from the specified line.",
        "[b]reak 0            Remove all breakpoints.",
        "[t]race              Show a backtrace.",
        "[e]val <code>        Execute some Lua code (in a different callframe).",
        "[r]edis <cmd>        Execute a Redis command.",
        "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
        "                     Specifying zero as <len> means unlimited.",
        "[a]bort              Stop the execution of the script. In sync",
        "                     mode dataset changes will be retained.",
        "",
        "Debugger functions you can call from Lua scripts:",
        "redis.debug()        Produce logs in the debugger console.",
        "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
        "                     next line of code.",
        NULL};
    int i;
    for (i = 0; HELP[i]; i++) log_str(HELP[i]);
}

static int is(const char *cmd, const char *s, const char *l) {
    return !strcasecmp(cmd, s) || !strcasecmp(cmd, l);
}

/* Splits the host's RESP array of bulks in ldb.cmd into NUL-ended words
 * (in place: each bulk's CR becomes its NUL). */
static int split_command(char **argv, int max) {
    char *p = ldb.cmd.p, *end = ldb.cmd.p + ldb.cmd.len;
    int argc = 0;
    long long n, j;
    if (ldb.cmd.len < 4 || *p != '*') return 0;
    n = parse_len(p + 1, line_end(p + 1, end));
    p = (char *)line_end(p + 1, end) + 2;
    for (j = 0; j < n && j < max && p < end; j++) {
        char *e = (char *)line_end(p + 1, end);
        long long len = parse_len(p + 1, e);
        p = e + 2;
        if (len < 0 || p + len + 2 > end) break;
        argv[argc++] = p;
        p[len] = '\0';
        p += len + 2;
    }
    return argc;
}

/* Reads debugger commands until one resumes the script (step, continue).
 * Returns 0, or -1 when the client has gone. */
static int repl(lua_State *L) {
    static char *argv[1024];
    for (;;) {
        int32_t n;
        int argc;
        buf_reserve(&ldb.cmd, 4096);
        n = ember_ldb_recv(ldb.cmd.p, (int32_t)ldb.cmd.cap);
        if (n == -2) raise_error(L, "protocol error");
        if (n == -3) raise_error(L, "max client buffer reached");
        if (n < 0) {
            ldb.step = 0;
            ldb.bpcount = 0;
            return -1;
        }
        if ((size_t)n > ldb.cmd.cap) {
            buf_reserve(&ldb.cmd, (size_t)n);
            ember_last_reply(ldb.cmd.p, (int32_t)ldb.cmd.cap);
        }
        ldb.cmd.len = (size_t)n;
        argc = split_command(argv, 1024);
        if (argc == 0) continue;
        if (is(argv[0], "h", "help")) {
            cmd_help();
        } else if (is(argv[0], "s", "step") || is(argv[0], "n", "next")) {
            ldb.step = 1;
            return 0;
        } else if (is(argv[0], "c", "continue")) {
            return 0;
        } else if (is(argv[0], "t", "trace")) {
            cmd_trace(L);
        } else if (is(argv[0], "m", "maxlen")) {
            cmd_maxlen(argv, argc);
        } else if (is(argv[0], "b", "break")) {
            cmd_break(argv, argc);
        } else if (is(argv[0], "e", "eval")) {
            cmd_eval(L, argv, argc);
        } else if (is(argv[0], "a", "abort")) {
            raise_error(L, "script aborted for user request");
        } else if (argc > 1 && is(argv[0], "r", "redis")) {
            cmd_redis(L, argv, argc);
        } else if (is(argv[0], "p", "print")) {
            if (argc == 2) cmd_print(L, argv[1]);
            else cmd_print_all(L);
        } else if (is(argv[0], "l", "list")) {
            int around = ldb.currentline, context = 5;
            if (argc > 1) {
                int line = atoi(argv[1]);
                if (line > 0) around = line;
            }
            if (argc > 2) context = atoi(argv[2]);
            list_source(around, context);
        } else if (is(argv[0], "w", "whole")) {
            list_source(1, 1000000);
        } else {
            log_str("<error> Unknown Redis Lua debugger command or wrong number of arguments.");
        }
        send_logs();
    }
}

/* ---- the hook and the session ---------------------------------------------------- */

/* Raised on every line once the client left, so the script ends (and its
 * writes are undone) even if it catches errors. */
static void gone_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    raise_error(L, "the debugging client closed the connection");
}

static void line_hook(lua_State *L, lua_Debug *ar) {
    int bp, timeout = 0;
    lua_getstack(L, 0, ar);
    lua_getinfo(L, "Sl", ar);
    ldb.currentline = ar->currentline;
    bp = is_breakpoint(ldb.currentline) || ldb.luabp;
    if (strstr(ar->short_src, "user_script") == NULL) return;
    if (ar->event == LUA_HOOKCOUNT) {
        /* 1: SCRIPT KILL; 2: the time limit passed since the last stop,
         * which stops the script here (a loop?) instead of ending it. */
        int32_t why = ember_interrupted();
        if (why == 1) raise_error(L, "Script killed by user with SCRIPT KILL...");
        if (ldb.step == 0 && bp == 0) {
            if (why != 2) return;
            timeout = 1;
            ldb.step = 1;
        }
    }
    if (ldb.step || bp) {
        const char *reason = bp ? (ldb.luabp ? "redis.breakpoint() called" : "break point")
                           : timeout ? "timeout reached, infinite loop?"
                                     : "step over";
        ldb.step = 0;
        ldb.luabp = 0;
        log_fmt("* Stopped at %d, stop reason = %s", ldb.currentline, reason);
        log_source_line(ldb.currentline);
        send_logs();
        if (repl(L) != 0) {
            ldb.gone = 1;
            lua_sethook(L, gone_hook, LUA_MASKLINE, 0);
            raise_error(L, timeout ? "timeout during Lua debugging with client closing connection"
                                   : "the debugging client closed the connection");
        }
    }
}

int ldb_active(void) { return ldb.active; }

/* The session starts (before the script is compiled, so that a compile
 * error still ends it with `<endsession>`): fresh state and the source. */
void ldb_start(void) {
    buf_reset(&ldb.logs);
    ldb.nlogs = 0;
    ldb.active = 1;
    ldb.step = 1;
    ldb.luabp = 0;
    ldb.gone = 0;
    ldb.bpcount = 0;
    ldb.currentline = 0;
    ldb.maxlen = DEFAULT_MAXLEN;
    ldb.maxlen_hint_sent = 0;
    load_source();
}

/* Stepping starts: the line hook replaces the engine's kill hook (it checks
 * for KILL itself, as often). */
void ldb_arm(lua_State *L) { lua_sethook(L, line_hook, LUA_MASKLINE | LUA_MASKCOUNT, 100000); }

/* The session ends: the last logs and `<endsession>`. The hook goes (the
 * engine arms its kill hook again on the next run). */
void ldb_end(lua_State *L) {
    if (L) lua_sethook(L, NULL, 0, 0);
    log_str("<endsession>");
    if (!ldb.gone) send_logs();
    buf_reset(&ldb.logs);
    ldb.nlogs = 0;
    ldb.active = 0;
    free(ldb.src);
    free(ldb.lines);
    free(ldb.first);
    ldb.src = NULL;
    ldb.lines = NULL;
    ldb.first = NULL;
    ldb.nlines = 0;
}
