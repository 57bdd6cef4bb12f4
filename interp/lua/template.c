/* template.c — the {{ }} template language: finding blocks, compiling and caching each
 * expression, evaluating it in the render's environment, and the messages of its errors. */
#include "lua/lua_int.h"

#include <lauxlib.h>
#include <lua.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SNIP_MAX 120 /* bytes of an expression quoted in messages */

int ub_tmpl_has_expr(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '{')
            return 1;
    return 0;
}

/* Finds the "}}" closing the block whose expression starts at b.  Quoted
 * strings ('...' and "..." with backslash escapes) and balanced { } inside
 * the expression do not close it.  Returns its offset, or len if none. */
static size_t scan_close(const char *s, size_t len, size_t b)
{
    int depth = 0;
    char quote = 0;
    for (size_t i = b; i < len; i++) {
        char c = s[i];
        if (quote) {
            if (c == '\\')
                i++;
            else if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (depth > 0)
                depth--;
            else if (i + 1 < len && s[i + 1] == '}')
                return i;
        }
    }
    return len;
}

size_t ub_tmpl_block_len(const char *s, size_t len)
{
    if (len < 2 || s[0] != '{' || s[1] != '{')
        return 0;
    size_t close = scan_close(s, len, 2);
    return close >= len ? 0 : close + 2;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Copies at most SNIP_MAX bytes of s into dst as one line ("..." if cut). */
static void snip(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t k = n;
    if (k > SNIP_MAX) {
        k = SNIP_MAX;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;               /* do not cut a UTF-8 sequence */
    }
    if (k + 4 > dstlen)
        k = dstlen - 4;
    for (size_t i = 0; i < k; i++)
        dst[i] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
    if (k < n) {
        memcpy(dst + k, "...", 4);
    } else {
        dst[k] = '\0';
    }
}

/* Skips the "chunk:line: " that Lua puts before messages from chunk src. */
static const char *strip_pos(const char *msg, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || strncmp(msg, src, n) != 0 || msg[n] != ':')
        return msg;
    const char *p = msg + n + 1;
    if (*p < '0' || *p > '9')
        return msg;
    while (*p >= '0' && *p <= '9')
        p++;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : msg;
}


typedef struct eval_ctx {
    const char *expr;           /* trimmed expression text */
    size_t      elen;
    const char *where;
    char        src[LUA_IDSIZE]; /* short_src of the compiled chunk */
} eval_ctx;

/* short_src Lua derives from the chunk name "=where" */
static void chunk_src(eval_ctx *c)
{
    size_t n = strlen(c->where);
    if (n > sizeof c->src - 1)
        n = sizeof c->src - 1;
    memcpy(c->src, c->where, n);
    c->src[n] = '\0';
}

/* Raises the syntax error of an expression that did not compile inside the
 * wrapper "return (...\n)".  The wrapper's own ')' must not show in the message
 * ("unexpected symbol near ')'" for "{{ ds + }}"), so the text is compiled
 * again as "return ...\n" and that message, about the user's text alone, is
 * raised; "near <eof>" there means the end of the expression.  When the bare
 * text compiles, it is more than one expression ("a, b", "ds;"). */
static int syntax_error(lua_State *L, const eval_ctx *c, const char *chunk)
{
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, c->expr, c->elen);
    lua_pushliteral(L, "\n");
    lua_concat(L, 3);
    size_t n;
    const char *code = lua_tolstring(L, -1, &n);
    if (luaL_loadbufferx(L, code, n, chunk, "t") == LUA_OK) {
        lua_pushliteral(L, "not one expression (a template block holds a single value)");
        return lua_error(L);
    }
    const char *m = lua_tostring(L, -1);
    if (!m)
        return lua_error(L);
    m = strip_pos(m, c->src);
    if (strncmp(m, "<eof> expected near ", 20) == 0)
        m = lua_pushfstring(L, "more text after the end of the expression, near %s", m + 20);
    m = luaL_gsub(L, m, "unexpected symbol near <eof>", "incomplete expression (it ends where more is expected)");
    luaL_gsub(L, m, " near <eof>", " at the end of the expression");
    return lua_error(L);
}

/* (env or nil, ctx) -> value, env.  Compiles "return (expr)" once per
 * distinct text (the cache is keyed by the trimmed text), points its _ENV
 * at the render's environment and runs it. */
static int eval_p(lua_State *L)
{
    eval_ctx *c = lua_touserdata(L, 2);
    if (lua_isnil(L, 1)) {
        lua_newtable(L);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ub_lua_key_envmt);
        lua_setmetatable(L, -2);
        lua_replace(L, 1);
    }
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ub_lua_key_cache);         /* 2 cache */
    lua_pushlstring(L, c->expr, c->elen);                 /* 3 text */
    lua_pushvalue(L, 3);
    if (lua_rawget(L, 2) != LUA_TFUNCTION) {              /* 4 function */
        lua_pop(L, 1);
        lua_pushliteral(L, "return (");
        lua_pushvalue(L, 3);
        lua_pushliteral(L, "\n)");  /* own line: a trailing -- comment stays harmless */
        lua_concat(L, 3);                                 /* 4 code */
        lua_pushfstring(L, "=%s", c->where);              /* 5 chunk name */
        size_t n;
        const char *code = lua_tolstring(L, 4, &n);
        if (luaL_loadbufferx(L, code, n, lua_tostring(L, 5), "t") != LUA_OK) {
            chunk_src(c);
            return syntax_error(L, c, lua_tostring(L, 5));
        }
        lua_replace(L, 4);
        lua_settop(L, 4);
        ub_lua *H = ub_lua_host_of(L);
        if (H->ncache >= UB_LUA_CACHE_MAX) {             /* full: start over */
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &ub_lua_key_cache);
            lua_replace(L, 2);
            H->ncache = 0;
        }
        lua_pushvalue(L, 3);
        lua_pushvalue(L, 4);
        lua_rawset(L, 2);
        H->ncache++;
    }
    lua_Debug ar;
    lua_pushvalue(L, 4);
    lua_getinfo(L, ">S", &ar);
    memcpy(c->src, ar.short_src, sizeof c->src);
    c->src[sizeof c->src - 1] = '\0';

    lua_pushvalue(L, 1);
    if (!lua_setupvalue(L, 4, 1))
        lua_pop(L, 1);
    lua_pushvalue(L, 4);
    lua_call(L, 0, 1);                                    /* 5 value */
    lua_pushvalue(L, 1);                                  /* 6 env */
    return 2;
}

static void eval_error(ub_lua *H, int st, const eval_ctx *c, ub_err *err)
{
    lua_State *L = H->L;
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    char e[SNIP_MAX + 8];
    snip(e, sizeof e, c->expr, c->elen);

    if (st == LUA_ERRMEM || (m && strstr(m, "not enough memory"))) {
        char lim[64];
        ub_lua_mem_limit_text(H, lim, sizeof lim);
        ub_err_set(err, "in template '{{ %s }}': %s", e, H->mem_hit ? lim : "out of memory");
    } else if (H->budget_hit) {
        ub_err_set(err, "in template '{{ %s }}': %s", e, H->limit);
    } else if (m) {
        ub_err_set(err, "in template '{{ %s }}': %s", e, strip_pos(m, c->src));
    } else {
        ub_err_set(err, "in template '{{ %s }}': error object is a %s value", e,
                   luaL_typename(L, -1));
    }
    ub_lua_one_line(err);
}

static int add_out(ub_buf *out, const char *p, size_t n, ub_err *err)
{
    if (ub_buf_add(out, p, n) == 0)
        return 0;
    if (out->err == ENOMEM)
        return ub_err_oom(err);
    return ub_err_set(err, "template output larger than %zu bytes", out->max);
}

/* Evaluates one block; env is the stack index of the render's environment
 * (nil until the first block makes it).  No C memory is held across the
 * protected call; out is only touched after it returns. */
static int eval_block(ub_lua *H, int env, eval_ctx *c, ub_buf *out, ub_err *err)
{
    lua_State *L = H->L;
    char e[SNIP_MAX + 8];
    char num[64];
    int rc = -1;

    lua_pushcfunction(L, eval_p);
    lua_pushvalue(L, env);
    lua_pushlightuserdata(L, c);
    ub_lua_budget_reset(H);
    int st = lua_pcall(L, 2, 2, 0);
    if (st != LUA_OK) {
        eval_error(H, st, c, err);
        lua_pop(L, 1);
        goto out;
    }
    lua_replace(L, env);
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (memchr(s, '\0', n)) {           /* the text would end there: a path or SQL silently cut short */
            snip(e, sizeof e, c->expr, c->elen);
            ub_err_set(err, "in template '{{ %s }}': the value holds a NUL byte (at byte %zu)", e,
                       (size_t)((const char *)memchr(s, '\0', n) - s) + 1);
            break;
        }
        rc = add_out(out, s, n, err);
        break;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1))
            snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, -1));
        else
            snprintf(num, sizeof num, "%.14g", (double)lua_tonumber(L, -1));
        rc = add_out(out, num, strlen(num), err);
        break;
    case LUA_TBOOLEAN:
        rc = lua_toboolean(L, -1) ? add_out(out, "true", 4, err) : add_out(out, "false", 5, err);
        break;
    case LUA_TNIL:
        snip(e, sizeof e, c->expr, c->elen);
        ub_err_set(err, "expression '%s' is nil", e);
        break;
    default:
        snip(e, sizeof e, c->expr, c->elen);
        ub_err_set(err, "in template '{{ %s }}': value is a %s, not a string, number or boolean",
                   e, luaL_typename(L, -1));
        break;
    }
    lua_pop(L, 1);
out:
    return rc;
}

int ub_tmpl_render(ub_lua *H, const char *src, size_t len, const char *where,
                   ub_buf *out, ub_err *err)
{
    return ub_tmpl_render_at(H, src, len, where, out, err, NULL);
}

int ub_tmpl_render_at(ub_lua *H, const char *src, size_t len, const char *where,
                      ub_buf *out, ub_err *err, size_t *failed)
{
    lua_State *L = H->L;
    int base = lua_gettop(L);
    size_t start = out->len;
    size_t pos = 0;
    int rc = -1;
    char e[SNIP_MAX + 8];

    if (failed)
        *failed = len;                 /* not one block's error, until a block fails */
    if (!where || !*where)
        where = "template";
    if (H->pending[0]) {
        ub_err_set(err, "%s", H->pending);
        H->pending[0] = '\0';
        goto out;
    }
    if (!ub_tmpl_has_expr(src, len)) {
        rc = add_out(out, src, len, err);
        goto out;
    }
    if (!lua_checkstack(L, 8)) {
        ub_err_oom(err);
        goto out;
    }
    lua_pushnil(L);                    /* the render's environment, made lazily */
    int env = lua_gettop(L);
    while (pos < len) {
        if (failed)
            *failed = len;
        size_t open = pos;
        while (open + 1 < len && !(src[open] == '{' && src[open + 1] == '{'))
            open++;
        if (open + 1 >= len) {         /* no more blocks */
            if (add_out(out, src + pos, len - pos, err))
                goto out;
            break;
        }
        if (open > pos && add_out(out, src + pos, open - pos, err))
            goto out;
        size_t b = open + 2;
        size_t close = scan_close(src, len, b);
        if (failed)
            *failed = open;
        if (close >= len) {
            snip(e, sizeof e, src + open, len - open > 40 ? 40 : len - open);
            ub_err_set(err, "unterminated '{{' in template '%s%s'", e,
                       len - open > 40 ? "..." : "");
            ub_lua_one_line(err);
            goto out;
        }
        size_t ee = close;
        while (b < ee && is_space(src[b]))
            b++;
        while (ee > b && is_space(src[ee - 1]))
            ee--;
        if (ee == b) {
            ub_err_set(err, "in template '{{ }}': empty expression");
            goto out;
        }
        eval_ctx c = { src + b, ee - b, where, "" };
        if (eval_block(H, env, &c, out, err))
            goto out;
        pos = close + 2;
    }
    if (failed)
        *failed = len;
    rc = 0;
out:
    lua_settop(L, base);
    if (rc && !out->err && out->len > start) {
        out->len = start;             /* nothing half-rendered is left behind */
        if (out->p)
            out->p[start] = '\0';
    }
    return rc;
}
