/* luapat.c — metered Lua pattern matching (find, match, gmatch, gsub) and bounded rep/move. */
#define _GNU_SOURCE 1          /* memmem */
#include "lua/luapat.h"

#include <lauxlib.h>
#include <lua.h>

#include <ctype.h>
#include <string.h>

/*
 * The matcher follows the Lua 5.4 manual, §6.4.1: single-character classes
 * (., %a %c %d %g %l %p %s %u %w %x and their upper-case complements, %x for
 * a non-alphanumeric x, [set] and [^set] with ranges and classes), the
 * quantifiers * + - ?, captures ( ) and position captures (), back
 * references %1-%9, %bxy, %f[set], and the anchors ^ (find, match, gsub) and
 * $ at the end.  It is a recursive backtracking matcher like Lua's; the
 * difference is the meter: every attempt to match at a position and every
 * character a quantifier swallows is a step.
 */

#define MAX_CAPS   32
#define MAX_DEPTH  200          /* nested calls of do_match, as Lua allows */
#define CAP_OPEN   (-1)
#define CAP_POS    (-2)
#define SPECIALS   "^$*+?.([%-"

typedef struct meter_box {
    ub_luapat_meter fn;
    void *ud;
} meter_box;

typedef struct mstate {
    lua_State  *L;
    meter_box  *mb;
    const char *s0, *send;      /* subject */
    const char *pend;           /* end of the pattern */
    unsigned long steps;        /* not yet handed to the meter */
    int depth;
    int ncap;
    struct { const char *at; ptrdiff_t len; } cap[MAX_CAPS];
} mstate;

static void step(mstate *m, unsigned long n)
{
    m->steps += n;
    if (m->steps >= UB_LUAPAT_QUANTUM) {
        unsigned long s = m->steps;
        m->steps = 0;
        m->mb->fn(m->L, m->mb->ud, s);
    }
}

static void settle(mstate *m)
{
    if (m->steps) {
        unsigned long s = m->steps;
        m->steps = 0;
        m->mb->fn(m->L, m->mb->ud, s);
    }
}

/* ---- single characters ---------------------------------------------------- */

static int class_has(int c, int cl)
{
    int r;
    switch (tolower(cl)) {
    case 'a': r = isalpha(c); break;
    case 'c': r = iscntrl(c); break;
    case 'd': r = isdigit(c); break;
    case 'g': r = isgraph(c); break;
    case 'l': r = islower(c); break;
    case 'p': r = ispunct(c); break;
    case 's': r = isspace(c); break;
    case 'u': r = isupper(c); break;
    case 'w': r = isalnum(c); break;
    case 'x': r = isxdigit(c); break;
    default:  return cl == c;
    }
    r = r != 0;
    return isupper(cl) ? !r : r;
}

/* The end of the single-character class that starts at p. */
static const char *item_end(mstate *m, const char *p)
{
    char c = *p++;
    if (c == '%') {
        if (p >= m->pend)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < m->pend && *p == '^')
            p++;
        do {               /* the first character of a set may be ']' */
            if (p >= m->pend)
                luaL_error(m->L, "malformed pattern (missing ']')");
            if (*p++ == '%' && p < m->pend)
                p++;
        } while (p >= m->pend || *p != ']');
        return p + 1;
    }
    return p;
}

/* c against the set [..] from p (at '[') to close (at ']'). */
static int set_has(int c, const char *p, const char *close)
{
    int want = 1;
    p++;
    if (*p == '^') {
        want = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%' && p + 1 < close) {
            p++;
            if (class_has(c, (unsigned char)*p))
                return want;
        } else if (p + 2 < close && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return want;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return want;
        }
    }
    return !want;
}

/* Does the character at s match the class p..ep?  (s past the end: no) */
static int one(const mstate *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->send)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case '%': return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(c, p, ep - 1);
    default:  return (unsigned char)*p == c;
    }
}

/* ---- the matcher ------------------------------------------------------------ */

static const char *do_match(mstate *m, const char *s, const char *p);

static const char *greedy(mstate *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;
    while (one(m, s + n, p, ep)) {
        n++;
        step(m, 1);
    }
    for (; n >= 0; n--) {
        const char *r = do_match(m, s + n, ep + 1);
        if (r)
            return r;
    }
    return NULL;
}

static const char *lazy(mstate *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = do_match(m, s, ep + 1);
        if (r)
            return r;
        if (!one(m, s, p, ep))
            return NULL;
        s++;
        step(m, 1);
    }
}

static const char *open_cap(mstate *m, const char *s, const char *p, ptrdiff_t how)
{
    if (m->ncap >= MAX_CAPS)
        luaL_error(m->L, "too many captures");
    m->cap[m->ncap].at = s;
    m->cap[m->ncap].len = how;
    m->ncap++;
    const char *r = do_match(m, s, p);
    if (!r)
        m->ncap--;
    return r;
}

static const char *close_cap(mstate *m, const char *s, const char *p)
{
    int l = m->ncap - 1;
    while (l >= 0 && m->cap[l].len != CAP_OPEN)
        l--;
    if (l < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].at;
    const char *r = do_match(m, s, p);
    if (!r)
        m->cap[l].len = CAP_OPEN;
    return r;
}

static int cap_index(mstate *m, int d)
{
    int l = d - '1';
    if (l < 0 || l >= m->ncap || m->cap[l].len == CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d in pattern", l + 1);
    return l;
}

static const char *do_match(mstate *m, const char *s, const char *p)
{
    if (++m->depth > MAX_DEPTH)
        luaL_error(m->L, "pattern too complex");
    const char *r = NULL;
    for (;;) {
        step(m, 1);
        if (p >= m->pend) {
            r = s;
            break;
        }
        if (*p == '(') {
            r = p + 1 < m->pend && p[1] == ')' ? open_cap(m, s, p + 2, CAP_POS) : open_cap(m, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            r = close_cap(m, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == m->pend) {
            r = s == m->send ? s : NULL;
            break;
        }
        if (*p == '%' && p + 1 < m->pend && p[1] == 'b') {
            if (p + 3 >= m->pend)
                luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
            char open = p[2], close = p[3];
            if (s >= m->send || *s != open) {
                r = NULL;
                break;
            }
            int level = 1;
            const char *q = s + 1;
            for (; q < m->send; q++) {
                step(m, 1);
                if (*q == close) {
                    if (--level == 0)
                        break;
                } else if (*q == open) {
                    level++;
                }
            }
            if (q >= m->send) {
                r = NULL;
                break;
            }
            s = q + 1;
            p += 4;
            continue;
        }
        if (*p == '%' && p + 1 < m->pend && p[1] == 'f') {
            p += 2;
            if (p >= m->pend || *p != '[')
                luaL_error(m->L, "missing '[' after '%%f' in pattern");
            const char *ep = item_end(m, p);
            int before = s == m->s0 ? 0 : (unsigned char)s[-1];
            int here = s < m->send ? (unsigned char)*s : 0;
            if (set_has(before, p, ep - 1) || !set_has(here, p, ep - 1)) {
                r = NULL;
                break;
            }
            p = ep;
            continue;
        }
        if (*p == '%' && p + 1 < m->pend && isdigit((unsigned char)p[1])) {
            int l = cap_index(m, (unsigned char)p[1]);
            size_t len = (size_t)m->cap[l].len;
            if ((size_t)(m->send - s) < len || memcmp(m->cap[l].at, s, len) != 0) {
                r = NULL;
                break;
            }
            step(m, len);
            s += len;
            p += 2;
            continue;
        }
        const char *ep = item_end(m, p);
        char q = ep < m->pend ? *ep : '\0';
        if (!one(m, s, p, ep)) {
            if (q == '*' || q == '?' || q == '-') {
                p = ep + 1;                 /* zero repetitions */
                continue;
            }
            r = NULL;
            break;
        }
        if (q == '?') {
            r = do_match(m, s + 1, ep + 1);
            if (r)
                break;
            p = ep + 1;
            continue;
        }
        if (q == '+') {
            r = greedy(m, s + 1, p, ep);
            break;
        }
        if (q == '*') {
            r = greedy(m, s, p, ep);
            break;
        }
        if (q == '-') {
            r = lazy(m, s, p, ep);
            break;
        }
        s++;
        p = ep;
    }
    m->depth--;
    return r;
}

/* ---- captures to Lua values ----------------------------------------------- */

static void push_cap(mstate *m, int i, const char *s, const char *e)
{
    if (i >= m->ncap) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = m->cap[i].len;
    if (len == CAP_OPEN)
        luaL_error(m->L, "unfinished capture");
    if (len == CAP_POS)
        lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
    else
        lua_pushlstring(m->L, m->cap[i].at, (size_t)len);
}

/* Pushes the captures, or the whole match (s..e) when there are none and
 * s is given; returns how many values were pushed. */
static int push_caps(mstate *m, const char *s, const char *e)
{
    int n = m->ncap == 0 && s ? 1 : m->ncap;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_cap(m, i, s, e);
    return n;
}

static void mstate_init(mstate *m, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    m->L = L;
    m->mb = lua_touserdata(L, lua_upvalueindex(1));
    m->s0 = s;
    m->send = s + ls;
    m->pend = p + lp;
    m->steps = 0;
    m->depth = 0;
    m->ncap = 0;
}

static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int no_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (strchr(SPECIALS, p[i]))
            return 0;
    return 1;
}

/* ---- find and match --------------------------------------------------------- */

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls);
    mstate m;
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    mstate_init(&m, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
        const char *at = lp == 0 ? s + init - 1 : memmem(s + init - 1, ls - init + 1, p, lp);
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(at - s) + 1);
        lua_pushinteger(L, (lua_Integer)(at - s) + (lua_Integer)lp);
        return 2;
    }
    int anchor = lp > 0 && *p == '^';
    const char *pat = anchor ? p + 1 : p;
    const char *at = s + init - 1;
    do {
        m.ncap = 0;
        m.depth = 0;
        const char *e = do_match(&m, at, pat);
        if (e) {
            settle(&m);
            if (find) {
                lua_pushinteger(L, (lua_Integer)(at - s) + 1);
                lua_pushinteger(L, (lua_Integer)(e - s));
                return push_caps(&m, NULL, NULL) + 2;
            }
            return push_caps(&m, at, e);
        }
    } while (at++ < m.send && !anchor);
    settle(&m);
    luaL_pushfail(L);
    return 1;
}

static int s_find(lua_State *L) { return find_or_match(L, 1); }
static int s_match(lua_State *L) { return find_or_match(L, 0); }

/* ---- gmatch ----------------------------------------------------------------- */

/* upvalues: 1 meter, 2 subject, 3 pattern, 4 next offset, 5 end of the last match (-1: none) */
static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(4));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
    mstate m;
    mstate_init(&m, L, s, ls, p, lp);
    for (const char *at = s + pos; at <= m.send; at++) {
        m.ncap = 0;
        m.depth = 0;
        const char *e = do_match(&m, at, p);
        if (e && (e - s) != last) {
            settle(&m);
            lua_pushinteger(L, e - s);
            lua_replace(L, lua_upvalueindex(4));
            lua_pushinteger(L, e - s);
            lua_replace(L, lua_upvalueindex(5));
            return push_caps(&m, at, e);
        }
    }
    settle(&m);
    lua_pushinteger(L, (lua_Integer)ls + 1);
    lua_replace(L, lua_upvalueindex(4));
    return 0;
}

static int s_gmatch(lua_State *L)
{
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1)
        init = ls + 1;
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);                    /* meter, s, p */
    lua_pushinteger(L, (lua_Integer)init - 1);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_next, 5);
    return 1;
}

/* ---- gsub ------------------------------------------------------------------- */

static void add_template(mstate *m, luaL_Buffer *b, const char *s, const char *e, int idx)
{
    size_t lr;
    const char *r = lua_tolstring(m->L, idx, &lr);
    const char *end = r + lr;
    for (const char *q = r; q < end; q++) {
        if (*q != '%') {
            luaL_addchar(b, *q);
            continue;
        }
        q++;
        if (q >= end || *q == '%') {
            if (q >= end)
                luaL_error(m->L, "invalid use of '%%' in replacement string");
            luaL_addchar(b, '%');
        } else if (*q == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*q)) {
            push_cap(m, *q - '1', s, e);
            luaL_tolstring(m->L, -1, NULL);
            lua_remove(m->L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(m->L, "invalid use of '%%' in replacement string");
        }
        step(m, 1);
    }
}

static void add_replacement(mstate *m, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = m->L;
    if (tr == LUA_TNUMBER || tr == LUA_TSTRING) {
        add_template(m, b, s, e, 3);
        return;
    }
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_caps(m, s, e);
        settle(m);
        lua_call(L, n, 1);
    } else {
        push_cap(m, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(b);
    }
}

static int s_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                     "string/function/table");
    int anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    mstate m;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    mstate_init(&m, L, s, ls, p, lp);
    const char *at = s, *last = NULL;
    lua_Integer n = 0;
    while (n < max) {
        m.ncap = 0;
        m.depth = 0;
        const char *e = do_match(&m, at, p);
        if (e && e != last) {
            n++;
            add_replacement(&m, &b, at, e, tr);
            at = last = e;
        } else if (at < m.send) {
            luaL_addchar(&b, *at++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    settle(&m);
    luaL_addlstring(&b, at, (size_t)(m.send - at));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

/* ---- rep and move ----------------------------------------------------------- */

/* string.rep: the original, except that an empty result is made at once
 * (the original loops n times even when there is nothing to copy).  A
 * non-empty result is bounded by the memory cap, and copying is fast. */
static int s_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && (lsep == 0 || n == 1))) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* table.move(a1, f, e, t [, a2]): the original walks e - f + 1 elements even
 * when they are all nil; the count is metered first. */
static int t_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f) {
        meter_box *mb = lua_touserdata(L, lua_upvalueindex(1));
        lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)f + 1;
        mb->fn(L, mb->ud, n > (lua_Unsigned)((unsigned long)-1) ? (unsigned long)-1 : (unsigned long)n);
    }
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int ub_luapat_open(lua_State *L, ub_luapat_meter meter, void *ud)
{
    static const luaL_Reg str[] = {
        { "find", s_find }, { "match", s_match }, { "gmatch", s_gmatch }, { "gsub", s_gsub }, { NULL, NULL }
    };
    meter_box *mb = lua_newuserdatauv(L, sizeof *mb, 0);
    mb->fn = meter;
    mb->ud = ud;
    int box = lua_gettop(L);

    lua_getglobal(L, "string");
    for (const luaL_Reg *r = str; r->name; r++) {
        lua_pushvalue(L, box);
        lua_pushcclosure(L, r->func, 1);
        lua_setfield(L, -2, r->name);
    }
    lua_pushvalue(L, box);
    lua_getfield(L, -2, "rep");
    lua_pushcclosure(L, s_rep, 2);
    lua_setfield(L, -2, "rep");
    lua_pop(L, 1);

    lua_getglobal(L, "table");
    lua_pushvalue(L, box);
    lua_getfield(L, -2, "move");
    lua_pushcclosure(L, t_move, 2);
    lua_setfield(L, -2, "move");
    lua_pop(L, 2);
    return 0;
}
