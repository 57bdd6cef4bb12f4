/* test_luahost.c — the Lua sandbox, {{ }} templates and the embedded stdlib: values and messages worked by hand. */
#include "t.h"
#include "base/buf.h"
#include "lua/luahost.h"
#include "base/mem.h"

#include <lauxlib.h>
#include <lua.h>

static ub_lua *H;
static char result[8192];

/* Renders src; returns the text, or "ERROR: <message>" on failure. */
static const char *render_at(ub_lua *h, const char *src, const char *where)
{
    ub_buf out = UB_BUF_INIT;
    ub_err err = { "" };
    int rc = ub_tmpl_render(h, src, strlen(src), where, &out, &err);
    if (rc == 0)
        snprintf(result, sizeof result, "%s", ub_buf_str(&out));
    else
        snprintf(result, sizeof result, "ERROR: %s", err.msg);
    ub_buf_free(&out);
    return result;
}

static const char *R(const char *src) { return render_at(H, src, "pipelines/x.yaml:12:9"); }

static void setup_scope(ub_lua *h)
{
    lua_State *L = ub_lua_state(h);
    ub_lua_scope_setstr(h, "ds", "2021-05-01");
    ub_lua_scope_setstr(h, "ds_nodash", "20210501");
    lua_newtable(L);                                  /* params */
    lua_pushstring(L, "user-analytics");
    lua_setfield(L, -2, "bucket");
    lua_pushinteger(L, 3);
    lua_setfield(L, -2, "retries");
    lua_newtable(L);                                  /* params.db */
    lua_pushstring(L, "warehouse");
    lua_setfield(L, -2, "name");
    lua_setfield(L, -2, "db");
    lua_newtable(L);                                  /* params.list */
    lua_pushstring(L, "a");
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, "b");
    lua_rawseti(L, -2, 2);
    lua_pushstring(L, "c");
    lua_rawseti(L, -2, 3);
    lua_setfield(L, -2, "list");
    ub_lua_scope_set(h, "params");
    ub_lua_push_env(h);
    ub_lua_scope_set(h, "env");
}

static void test_render_basics(void)
{
    T_STREQ(R("hello world"), "hello world");
    T_STREQ(R(""), "");
    T_STREQ(R("a {{ 1 + 2 }} b {{ 'x' .. 'y' }} c"), "a 3 b xy c");
    T_STREQ(R("{{1+2}}{{   'z'   }}"), "3z");
    T_STREQ(R("s3://{{ params.bucket }}/raw/{{ ds }}/movie.csv"),
            "s3://user-analytics/raw/2021-05-01/movie.csv");
    /* numbers: integers without ".0", floats with %.14g */
    T_STREQ(R("{{ 7 // 2 }}|{{ 7 / 2 }}|{{ 10 / 2 }}|{{ 1 / 3 }}|{{ -0.0 }}"),
            "3|3.5|5|0.33333333333333|-0");
    T_STREQ(R("{{ math.maxinteger }}|{{ 2^53 }}|{{ params.retries * 2 }}"),
            "9223372036854775807|9.007199254741e+15|6");
    T_STREQ(R("{{ 1 < 2 }} {{ not true }}"), "true false");
    /* "}}" and "{{" inside string literals, braces of table constructors */
    T_STREQ(R("{{ '}}' }}|{{ \"a}}b\" }}|{{ '{{' }}|{{ 'it\\'s }}' }}"), "}}|a}}b|{{|it's }}");
    T_STREQ(R("{{ #{1, 2, 3} }}|{{ ({a = {b = 'x'}}).a.b }}"), "3|x");
    /* multi-line expression with a trailing comment */
    T_STREQ(R("{{ 1 +\n 2 -- three\n }}"), "3");
    /* stray braces are text */
    T_STREQ(R("a } b }} c {"), "a } b }} c {");
    T_STREQ(R("x{{ 1 }}{"), "x1{");
    T_INTEQ(ub_tmpl_has_expr("a {{ b", 6), 1);
    T_INTEQ(ub_tmpl_has_expr("a { {b }}", 9), 0);
    T_INTEQ(ub_tmpl_has_expr("{", 1), 0);

    /* rendering appends to what is in the buffer */
    ub_buf out = UB_BUF_INIT;
    ub_err err = { "" };
    ub_buf_adds(&out, "pre:");
    T_INTEQ(ub_tmpl_render(H, "{{ ds_nodash }}", 15, "t", &out, &err), 0);
    T_STREQ(ub_buf_str(&out), "pre:20210501");
    /* a failed render leaves the buffer as it was */
    T_INTEQ(ub_tmpl_render(H, "x {{ nope }}", 12, "t", &out, &err), -1);
    T_STREQ(ub_buf_str(&out), "pre:20210501");
    ub_buf_free(&out);
}

static void test_scope_and_errors(void)
{
    T_STREQ(R("{{ foo.bar }}"), "ERROR: in template '{{ foo.bar }}': undefined variable 'foo'");
    T_STREQ(R("{{ params.nope }}"),
            "ERROR: in template '{{ params.nope }}': undefined variable 'params.nope'");
    T_STREQ(R("{{ params.db.name }}"), "warehouse");
    T_STREQ(R("{{ params.db.nope }}"),
            "ERROR: in template '{{ params.db.nope }}': undefined variable 'params.db.nope'");
    T_STREQ(R("{{ #params.list }} {{ table.concat(params.list, ',') }} {{ params.list[2] }}"),
            "3 a,b,c b");
    T_STREQ(R("{{ (function() local s = '' for i, v in ipairs(params.list) do s = s .. i .. v end"
              " return s end)() }}"), "1a2b3c");
    T_STREQ(R("{{ (function() local n = 0 for k in pairs(params) do n = n + 1 end return n end)() }}"),
            "4");
    T_STREQ(R("{{ params.list[5] }}"), "ERROR: expression 'params.list[5]' is nil");
    T_STREQ(R("{{ nil }}"), "ERROR: expression 'nil' is nil");
    T_STREQ(R("{{ params }}"),
            "ERROR: in template '{{ params }}': value is a table, not a string, number or boolean");
    T_STREQ(R("{{ (function() params.bucket = 'x' end)() }}"),
            "ERROR: in template '{{ (function() params.bucket = 'x' end)() }}': "
            "cannot assign to 'params.bucket': 'params' is read-only");
    T_STREQ(R("{{ params.bucket }}"), "user-analytics");

    /* env: read-only view of the process environment */
    setenv("UBPIPE_LUAHOST_TEST", "v=1", 1);
    unsetenv("UBPIPE_LUAHOST_UNSET");
    T_STREQ(R("{{ env.UBPIPE_LUAHOST_TEST }}"), "v=1");
    T_STREQ(R("{{ env.UBPIPE_LUAHOST_UNSET }}"),
            "ERROR: in template '{{ env.UBPIPE_LUAHOST_UNSET }}': "
            "undefined environment variable 'UBPIPE_LUAHOST_UNSET'");
    T_STREQ(R("{{ (function() env.HOME = '/' end)() }}"),
            "ERROR: in template '{{ (function() env.HOME = '/' end)() }}': "
            "cannot assign to 'env.HOME': 'env' is read-only");

    /* scope_setstr with NULL removes the name */
    ub_lua_scope_setstr(H, "tmp", "1");
    T_STREQ(R("{{ tmp }}"), "1");
    ub_lua_scope_setstr(H, "tmp", NULL);
    T_STREQ(R("{{ tmp }}"), "ERROR: in template '{{ tmp }}': undefined variable 'tmp'");

    /* Lua errors: the chunk position is stripped, the expression kept */
    T_STREQ(R("{{ error('boom') }}"), "ERROR: in template '{{ error('boom') }}': boom");
    T_STREQ(R("{{ 1 + {} }}"),
            "ERROR: in template '{{ 1 + {} }}': attempt to perform arithmetic on a table value");
    T_STREQ(R("{{ ('x'):rep(-1, 2, 3) .. nope }}"),
            "ERROR: in template '{{ ('x'):rep(-1, 2, 3) .. nope }}': undefined variable 'nope'");
    /* syntax errors speak of the user's text, never of the "return (...)" around it */
    T_STREQ(R("{{ 1 + }}"),
            "ERROR: in template '{{ 1 + }}': incomplete expression (it ends where more is expected)");
    T_STREQ(R("{{ ds) }}"),
            "ERROR: in template '{{ ds) }}': more text after the end of the expression, near ')'");
    T_STREQ(R("{{ (ds }}"),
            "ERROR: in template '{{ (ds }}': ')' expected (to close '(' at line 1) at the end of the expression");
    T_STREQ(R("{{ ds, ds }}"),
            "ERROR: in template '{{ ds, ds }}': not one expression (a template block holds a single value)");
    T_STREQ(R("{{ ds; }}"),
            "ERROR: in template '{{ ds; }}': not one expression (a template block holds a single value)");
    T_STREQ(R("{{ 1 + 2 -- a comment }}"), "3");
    {   /* the offset of the block that failed, for the caller's location */
        ub_buf out = UB_BUF_INIT;
        ub_err err = { "" };
        size_t failed = 0;
        const char *src = "a{{ ds }}b{{ nope }}c";
        T_INTEQ(ub_tmpl_render_at(H, src, strlen(src), NULL, &out, &err, &failed), -1);
        T_INTEQ(failed, 10);
        src = "x {{ ds";
        T_INTEQ(ub_tmpl_render_at(H, src, strlen(src), NULL, &out, &err, &failed), -1);
        T_INTEQ(failed, 2);
        src = "{{ ds }}";
        T_INTEQ(ub_tmpl_render_at(H, src, strlen(src), NULL, &out, &err, &failed), 0);
        T_INTEQ(failed, strlen(src));
        ub_buf_free(&out);
    }
    T_STREQ(render_at(H, "{{ error('boom') }}",
                      "pipelines/a-rather-long-directory-name/and-a-long-file-name.yaml:120:33"),
            "ERROR: in template '{{ error('boom') }}': boom");
    T_STREQ(render_at(H, "{{ error('boom') }}", NULL),
            "ERROR: in template '{{ error('boom') }}': boom");
    T_STREQ(R("{{ error({}) }}"), "ERROR: in template '{{ error({}) }}': error object is a table value");
    T_STREQ(R("{{ error('two\\nlines') }}"), "ERROR: in template '{{ error('two\\nlines') }}': two lines");
    T_STREQ(R("a {{ ds"), "ERROR: unterminated '{{' in template '{{ ds'");
    T_STREQ(R("a {{ '}}"), "ERROR: unterminated '{{' in template '{{ '}}'");
    T_STREQ(R("a {{   }} b"), "ERROR: in template '{{ }}': empty expression");
}

static void test_sandbox(void)
{
    static const char *const absent[] = {
        "io", "os", "require", "load", "loadfile", "dofile", "debug", "package",
        "collectgarbage", "print", "rawset", "coroutine", NULL
    };
    char src[128], want[256];
    for (const char *const *a = absent; *a; a++) {
        snprintf(src, sizeof src, "{{ %s }}", *a);
        snprintf(want, sizeof want, "ERROR: in template '{{ %s }}': undefined variable '%s'", *a, *a);
        T_STREQ(R(src), want);
    }
    T_STREQ(R("{{ string.dump }}"),
            "ERROR: in template '{{ string.dump }}': undefined variable 'string.dump'");
    T_STREQ(R("{{ _G.os }}"), "ERROR: in template '{{ _G.os }}': undefined variable '_G.os'");
    T_STREQ(R("{{ getmetatable('') }}"), "false");
    T_STREQ(R("{{ string.upper('ab') }} {{ ('cd'):upper() }} {{ math.floor(2.5) }} {{ utf8.len('\xc3\xa9') }}"),
            "AB CD 2 1");

    /* the same from C: the globals of the state itself */
    lua_State *L = ub_lua_state(H);
    for (const char *const *a = absent; *a; a++) {
        T_INTEQ(lua_getglobal(L, *a), LUA_TNIL);
        lua_pop(L, 1);
    }
    lua_getglobal(L, "string");
    T_INTEQ(lua_getfield(L, -1, "dump"), LUA_TNIL);
    lua_pop(L, 2);

    /* stdlib and library tables are read-only to templates */
    T_STREQ(R("{{ (function() sql.literal = nil end)() }}"),
            "ERROR: in template '{{ (function() sql.literal = nil end)() }}': "
            "cannot assign to 'sql.literal': 'sql' is read-only");
    T_STREQ(R("{{ (function() _G.sql = 1 end)() }}"),
            "ERROR: in template '{{ (function() _G.sql = 1 end)() }}': "
            "cannot assign to '_G.sql': '_G' is read-only");
    T_STREQ(R("{{ (function() string.rep = nil end)() }}"),
            "ERROR: in template '{{ (function() string.rep = nil end)() }}': "
            "cannot assign to 'string.rep': 'string' is read-only");
    T_STREQ(R("{{ (function() table.insert(text.stopwords, 'good') end)() }}"),
            "ERROR: in template '{{ (function() table.insert(text.stopwords, 'good') end)() }}': "
            "cannot assign to 'text.stopwords[182]': 'text.stopwords' is read-only");
    T_STREQ(R("{{ (function() setmetatable(_ENV, nil) end)() }}"),
            "ERROR: in template '{{ (function() setmetatable(_ENV, nil) end)() }}': "
            "cannot change a protected metatable");
    T_STREQ(R("{{ sql.literal('a') }}"), "'a'");
    T_STREQ(R("{{ #text.stopwords }}"), "181");
    /* a template's globals live for one render only */
    T_STREQ(R("{{ (function() x = 5 end)() or '' }}{{ x }}"), "5");
    T_STREQ(R("{{ x }}"), "ERROR: in template '{{ x }}': undefined variable 'x'");
    T_STREQ(R("{{ (function() sql = 1 end)() or '' }}{{ type(sql) }}"), "number");
    T_STREQ(R("{{ type(sql) }}"), "table");
}

static void test_limits(void)
{
    /* the default budget stops an endless loop */
    T_STREQ(R("{{ (function() while true do end end)() }}"),
            "ERROR: in template '{{ (function() while true do end end)() }}': "
            "instruction budget exceeded (10000000 instructions)");
    /* the default cap stops a 1 GiB string */
    T_STREQ(R("{{ string.rep('x', 1<<30) }}"),
            "ERROR: in template '{{ string.rep('x', 1<<30) }}': memory limit exceeded (64 MiB)");
    /* and the state still works */
    T_STREQ(R("{{ ds }}"), "2021-05-01");

    ub_err err = { "" };
    ub_lua_limits lim = { 200000, (size_t)8 << 20 };
    ub_lua *h = ub_lua_new(&lim, &err);
    T_CHECK(h != NULL);
    if (!h)
        return;
    /* pcall cannot swallow the budget error */
    T_STREQ(render_at(h, "{{ (function() for i = 1, 1e9 do pcall(function() while true do end end)"
                         " end end)() }}", "t"),
            "ERROR: in template '{{ (function() for i = 1, 1e9 do pcall(function() while true do end"
            " end) end end)() }}': instruction budget exceeded (200000 instructions)");
    /* nor can an xpcall handler (Lua runs handlers with hooks off) */
    T_STREQ(render_at(h, "{{ xpcall(function() while true do end end, function() while true do end end) }}",
                      "t"),
            "ERROR: in template '{{ xpcall(function() while true do end end, function() while true do end"
            " end) }}': instruction budget exceeded (200000 instructions)");
    /* nor a to-be-closed variable's __close */
    T_STREQ(render_at(h, "{{ (function() local x <close> = setmetatable({}, {__close = function() "
                         "while true do end end}) error('e') end)() }}", "t"),
            "ERROR: in template '{{ (function() local x <close> = setmetatable({}, {__close = function() "
            "while true do end end}) error('e') end)() }}': instruction budget exceeded (200000 instructions)");
    /* xpcall still works as xpcall */
    T_STREQ(render_at(h, "{{ select(2, xpcall(function(a, b) return a + b end, tostring, 40, 2)) }}|"
                         "{{ select(2, xpcall(error, function(e) return 'H:' .. e end, 'boom', 0)) }}", "t"),
            "42|H:boom");
    T_STREQ(render_at(h, "{{ 1 + 1 }}", "t"), "2");
    /* gradual growth is stopped by the cap, not by the budget */
    lim.instructions = 1000000000L;
    ub_lua *g = ub_lua_new(&lim, &err);
    T_CHECK(g != NULL);
    if (g) {
        T_STREQ(render_at(g, "{{ (function() local t = {} for i = 1, 1e9 do t[i] = i end end)() }}", "t"),
                "ERROR: in template '{{ (function() local t = {} for i = 1, 1e9 do t[i] = i end end)() }}':"
                " memory limit exceeded (8 MiB)");
        T_STREQ(render_at(g, "{{ (function() local s = 'x' while true do s = s .. s end end)() }}", "t"),
                "ERROR: in template '{{ (function() local s = 'x' while true do s = s .. s end end)() }}':"
                " memory limit exceeded (8 MiB)");
        T_STREQ(render_at(g, "{{ pcall(string.rep, 'x', 1 << 24) }}", "t"), "false");
        T_STREQ(render_at(g, "ok {{ macros.ds_add('2021-05-01', 1) }}", "t"), "ok 2021-05-02");
        ub_lua_free(g);
    }
    ub_lua_free(h);

    /* a cap too small for the stdlib is a clean error */
    lim.memory = 16 << 10;
    T_CHECK(ub_lua_new(&lim, &err) == NULL);
    T_STREQ(err.msg, "cannot set up the Lua sandbox: memory limit exceeded (0.02 MiB)");
}

/* The function cached for "40 + 2": looked up in every registry table that
 * maps that text to a function; *count says how many tables do. */
static const void *cached_fn(lua_State *L, int *count)
{
    const void *fn = NULL;
    int top = lua_gettop(L);
    *count = 0;
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {                 /* key, value */
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushliteral(L, "40 + 2");
            if (lua_rawget(L, -2) == LUA_TFUNCTION) {
                fn = lua_topointer(L, -1);
                ++*count;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return fn;
}

static void test_cache(void)
{
    lua_State *L = ub_lua_state(H);
    int tables = 0;
    T_STREQ(R("{{ 40 + 2 }}"), "42");
    /* find the cache: a registry table mapping the expression text to a function */
    const void *first;
    first = cached_fn(L, &tables);
    T_INTEQ(tables, 1);
    T_CHECK(first != NULL);
    /* same text elsewhere (other spacing, other location): same function */
    T_STREQ(render_at(H, "a{{40 + 2}}b", "other.yaml:1:1"), "a42b");
    const void *again = cached_fn(L, &tables);
    T_INTEQ(tables, 1);
    T_CHECK(again == first);
    /* the cached function still sees each render's scope */
    ub_lua_scope_setstr(H, "v", "one");
    T_STREQ(R("{{ v }}"), "one");
    ub_lua_scope_setstr(H, "v", "two");
    T_STREQ(R("{{ v }}"), "two");
    /* a runtime error of a cached function compiled at another location */
    T_STREQ(render_at(H, "{{ error('e') }}", "first.yaml:1:1"),
            "ERROR: in template '{{ error('e') }}': e");
    T_STREQ(render_at(H, "{{ error('e') }}", "second.yaml:2:2"),
            "ERROR: in template '{{ error('e') }}': e");

    /* a long-lived state fed ever new texts (serve, a fuzzer): the cache starts over when full,
     * so 60,000 distinct expressions fit in a state capped at 8 MiB (each compiled one holds
     * some 400 bytes: kept, they would need about 24 MiB), and each still renders right */
    ub_err err = { "" };
    ub_lua_limits lim = { 200000, (size_t)8 << 20 };
    ub_lua *h = ub_lua_new(&lim, &err);
    T_CHECK(h != NULL);
    if (!h)
        return;
    int wrong = 0;
    for (int k = 0; k < 60000; k++) {
        char src[64], want[32];
        snprintf(src, sizeof src, "{{ 1 + %d }}", k);
        snprintf(want, sizeof want, "%d", k + 1);
        const char *got = render_at(h, src, "t");
        if (strcmp(got, want) != 0 && wrong++ == 0)
            fprintf(stderr, "cache: %s gave %s\n", src, got);
    }
    T_INTEQ(wrong, 0);
    T_STREQ(render_at(h, "{{ 40 + 2 }}", "t"), "42");
    ub_lua_free(h);
}

static void test_macros(void)
{
    static const struct { const char *ds; int n; const char *want; } add[] = {
        { "2021-05-01", 0, "2021-05-01" },
        { "2021-01-31", 1, "2021-02-01" },    /* month end */
        { "2021-02-28", 1, "2021-03-01" },    /* not a leap year */
        { "2020-02-28", 1, "2020-02-29" },    /* leap year */
        { "2020-02-29", 1, "2020-03-01" },
        { "2000-02-28", 1, "2000-02-29" },    /* divisible by 400: leap */
        { "1900-02-28", 1, "1900-03-01" },    /* divisible by 100: not leap */
        { "2021-12-31", 1, "2022-01-01" },    /* year end */
        { "2022-01-01", -1, "2021-12-31" },
        { "2021-03-01", -1, "2021-02-28" },
        { "2024-03-01", -1, "2024-02-29" },
        { "2021-05-01", -31, "2021-03-31" },  /* 30 days of April + 1 */
        { "2021-05-01", 365, "2022-05-01" },  /* no Feb 29 in between */
        { "2020-01-01", 366, "2021-01-01" },
        { "2021-05-01", 61, "2021-07-01" },   /* 31 (May) + 30 (June) */
    };
    char src[128];
    for (size_t i = 0; i < sizeof add / sizeof add[0]; i++) {
        snprintf(src, sizeof src, "{{ macros.ds_add('%s', %d) }}", add[i].ds, add[i].n);
        T_STREQ(R(src), add[i].want);
    }
    T_STREQ(R("{{ macros.ds_add(ds, -1) }}"), "2021-04-30");
    T_STREQ(R("{{ macros.ds_add('2021-02-29', 1) }}"),
            "ERROR: in template '{{ macros.ds_add('2021-02-29', 1) }}': "
            "macros.ds_add: invalid date '2021-02-29' (want YYYY-MM-DD)");
    T_STREQ(R("{{ macros.ds_add('2021-5-1', 1) }}"),
            "ERROR: in template '{{ macros.ds_add('2021-5-1', 1) }}': "
            "macros.ds_add: invalid date '2021-5-1' (want YYYY-MM-DD)");
    T_STREQ(R("{{ macros.ds_add(ds, 0.5) }}"),
            "ERROR: in template '{{ macros.ds_add(ds, 0.5) }}': "
            "macros.ds_add: invalid number of days 0.5 (number)");
    T_STREQ(R("{{ macros.ds_nodash('2021-05-01') }}"), "20210501");
    T_STREQ(R("{{ macros.ds_format('2021-05-01', '%Y-%m-%d', '%d/%m/%y') }}"), "01/05/21");
    T_STREQ(R("{{ macros.ds_format('20210301', '%Y%m%d', '%Y-%j') }}"), "2021-060");
    T_STREQ(R("{{ macros.ds_format('2020-12-31', '%Y-%m-%d', '%j') }}"), "366");
    T_STREQ(R("{{ macros.ds_format('2021-060', '%Y-%j', '%Y-%m-%d') }}"), "2021-03-01");
    /* 2021-05-01 was a Saturday */
    T_STREQ(R("{{ macros.ds_format(ds, '%Y-%m-%d', '%a %A %b %B %u %w') }}"),
            "Sat Saturday May May 6 6");
    T_STREQ(R("{{ macros.ds_format('2021-05-01', '%Y%m%d', '%Y') }}"),
            "ERROR: in template '{{ macros.ds_format('2021-05-01', '%Y%m%d', '%Y') }}': "
            "macros.ds_format: date '2021-05-01' does not match format '%Y%m%d'");
    T_STREQ(R("{{ macros.is_date('2024-02-29') }} {{ macros.is_date('2023-02-29') }} "
              "{{ macros.is_date('2021-13-01') }} {{ macros.is_date(20210501) }}"),
            "true false false false");
}

static void test_sql_csv_log(void)
{
    T_STREQ(R("{{ sql.literal(\"it's\") }}"), "'it''s'");
    T_STREQ(R("{{ sql.literal('') }}|{{ sql.literal('a\\\\b') }}"), "''|E'a\\\\b'");
    T_STREQ(R("{{ sql.literal(42) }} {{ sql.literal(-7) }} {{ sql.literal(1.5) }} "
              "{{ sql.literal(true) }} {{ sql.literal(false) }} {{ sql.literal(nil) }}"),
            "42 (-7) 1.5 TRUE FALSE NULL");
    T_STREQ(R("{{ sql.literal('a\\0b') }}"),
            "ERROR: in template '{{ sql.literal('a\\0b') }}': sql.literal: string contains a NUL byte");
    T_STREQ(R("{{ sql.literal({}) }}"),
            "ERROR: in template '{{ sql.literal({}) }}': sql.literal: cannot quote a table value");
    T_STREQ(R("{{ sql.ident('spectrum.user_purchase_staging') }}"),
            "\"spectrum\".\"user_purchase_staging\"");
    T_STREQ(R("{{ sql.ident('we\"ird') }}"), "\"we\"\"ird\"");
    T_STREQ(R("{{ sql.ident({'s', 'a.b'}) }}"), "\"s\".\"a.b\"");
    T_STREQ(R("{{ sql.ident('') }}"), "ERROR: in template '{{ sql.ident('') }}': sql.ident: empty name");
    T_STREQ(R("{{ sql.ident('a..b') }}"),
            "ERROR: in template '{{ sql.ident('a..b') }}': sql.ident: empty name in 'a..b'");
    /* 63 bytes is what PostgreSQL keeps of a name: 63 quoted, 64 refused (it would be cut short) */
    T_STREQ(R("{{ sql.ident('s.' .. string.rep('n', 63)) }}"),
            "\"s\".\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"");
    T_STREQ(R("{{ sql.ident({'s', string.rep('n', 64)}) }}"),
            "ERROR: in template '{{ sql.ident({'s', string.rep('n', 64)}) }}': sql.ident: a part of 64 bytes "
            "(PostgreSQL keeps 63 bytes of a name and cuts the rest, so two names that differ after byte 63 would be "
            "one) in 's.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'");
    T_STREQ(R("{{ sql.list(params.list) }}"), "('a', 'b', 'c')");

    T_STREQ(R("{{ csv.encode_field('plain') }}|{{ csv.encode_field('a,b') }}|"
              "{{ csv.encode_field('say \"hi\"') }}|{{ csv.encode_field('') }}|{{ csv.encode_field(nil) }}"),
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"\"|");
    T_STREQ(R("{{ csv.encode_row({'a', 'line\\nbreak', 1, 2.5, true}) }}"),
            "a,\"line\nbreak\",1,2.5,true");
    T_STREQ(R("{{ csv.encode_row(params.list) }}"), "a,b,c");

    T_STREQ(R("{{ log.info('rendering %s', ds) or '' }}done"), "done");
    T_STREQ(R("{{ log.warn('%d', 'x') }}"),
            "ERROR: in template '{{ log.warn('%d', 'x') }}': "
            "log.warn: bad argument #2 to 'string.format' (number expected, got string)");
}

/* Calls text.<fn>(s) on the raw state and compares the array it returns. */
static void check_tokens(const char *fn, const char *s, const char *const *want, int nwant,
                         int line)
{
    lua_State *L = ub_lua_state(H);
    int top = lua_gettop(L);
    lua_getglobal(L, "text");
    lua_getfield(L, -1, "tokenize");
    lua_pushstring(L, s);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "line %d: tokenize failed: %s\n", line, lua_tostring(L, -1));
        T_CHECK(0);
        lua_settop(L, top);
        return;
    }
    if (strcmp(fn, "remove_stopwords") == 0) {
        lua_getfield(L, -2, "remove_stopwords");
        lua_insert(L, -2);
        T_INTEQ(lua_pcall(L, 1, 1, 0), LUA_OK);
    }
    int n = (int)luaL_len(L, -1);
    if (n != nwant)
        fprintf(stderr, "line %d: %d tokens, want %d\n", line, n, nwant);
    T_INTEQ(n, nwant);
    for (int i = 0; i < n && i < nwant; i++) {
        lua_rawgeti(L, -1, i + 1);
        T_STREQ(lua_tostring(L, -1), want[i]);
        lua_pop(L, 1);
    }
    lua_settop(L, top);
}

#define TOK(s, ...) do { static const char *const w_[] = { __VA_ARGS__ }; \
    check_tokens("tokenize", s, w_, (int)(sizeof w_ / sizeof w_[0]), __LINE__); } while (0)

static void test_text(void)
{
    /* review texts of /work/shared/data/spark_csv_cases.jsonl (its ubpipe_fields[1]),
     * tokens worked out by hand from Spark's rules */
    TOK("good movie", "good", "movie");
    TOK("a good movie, fine", "a", "good", "movie,", "fine");
    TOK("Good acting", "good", "acting");
    TOK("GOOD film, yes", "good", "film,", "yes");
    TOK("it was good.", "it", "was", "good.");
    TOK("my goodness", "my", "goodness");
    TOK("a \"b\" c", "a", "\"b\"", "c");
    TOK("I liked the \"acting\", and the plot was good",
        "i", "liked", "the", "\"acting\",", "and", "the", "plot", "was", "good");
    TOK("\"good\" movie", "\"good\"", "movie");
    TOK("", "");
    TOK("very\tgood", "very", "good");
    TOK("very\vgood", "very", "good");
    TOK("very\fgood", "very", "good");
    TOK("very\xc2\xa0good", "very\xc2\xa0good");           /* NBSP does not split */
    TOK("very\xe2\x80\xa8good", "very\xe2\x80\xa8good");   /* U+2028 neither */
    TOK("very\xc2\x85good", "very\xc2\x85good");           /* U+0085 neither */
    TOK("\xef\xbc\xa7\xef\xbc\xaf\xef\xbc\xaf\xef\xbc\xa4", /* fullwidth GOOD stays */
        "\xef\xbc\xa7\xef\xbc\xaf\xef\xbc\xaf\xef\xbc\xa4");
    TOK("  good", "", "", "good");                        /* leading empties kept */
    TOK(" \"good\"", "", "\"good\"");
    TOK("5\" screen is good", "5\"", "screen", "is", "good");
    TOK("C:\\\\dir is good", "c:\\\\dir", "is", "good");
    TOK("so good \\", "so", "good", "\\");
    TOK("a  b\r\n", "a", "", "b");                        /* trailing empties dropped */
    check_tokens("tokenize", "   ", NULL, 0, __LINE__);   /* only separators: no token */

    static const char *const kept[] = { "liked", "", "good", "won" };  /* tokenize lower-cases */
    lua_State *L = ub_lua_state(H);
    (void)L;
    T_STREQ(R("{{ table.concat(text.remove_stopwords({'I', 'liked', 'THE', '', 'Good', "
              "\"won't\", \"Won't\", 'won'}), '|') }}"), "liked||Good|won");
    check_tokens("remove_stopwords", "I liked THE  Good won't WON'T won", kept, 4, __LINE__);

    /* is_positive against the file's ubpipe_positive_review */
    static const struct { const char *s; const char *want; } pos[] = {
        { "good movie", "true" }, { "a good movie, fine", "true" }, { "Good acting", "true" },
        { "GOOD film, yes", "true" }, { "it was good.", "false" }, { "my goodness", "false" },
        { "a \"b\" c", "false" }, { "I liked the \"acting\", and the plot was good", "true" },
        { "\"good\" movie", "false" }, { "", "false" }, { "very\tgood", "true" },
        { "very\vgood", "true" }, { "very\xc2\xa0good", "false" },
        { "very\xe2\x80\xa8good", "false" }, { "very\xc2\x85good", "false" },
        { "g\xd0\xbe\xd0\xbe" "d", "false" }, { "   ", "false" }, { "  good", "true" },
        { " \"good\"", "false" }, { "5\" screen is good", "true" },
        { "C:\\\\dir is good", "true" }, { "a\\b good", "true" }, { "so good \\", "true" },
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        ub_lua_scope_setstr(H, "review", pos[i].s);
        const char *got = R("{{ text.is_positive(review) }}");
        if (strcmp(got, pos[i].want) != 0)
            fprintf(stderr, "is_positive case %zu [%s]\n", i, pos[i].s);
        T_STREQ(got, pos[i].want);
    }
    T_STREQ(R("{{ text.is_positive(nil) }}"), "false");
    T_STREQ(R("{{ text.tokenize(1) }}"),
            "ERROR: in template '{{ text.tokenize(1) }}': text.tokenize: want a string, got a number value");
}

/* Every allocation of a fresh state and a render failing in turn: each run
 * either works or fails with a clean message, and nothing crashes or leaks. */
static void test_alloc_failures(void)
{
    int ok = 0, failed = 0, bad = 0;
    for (long n = 1; n <= 2200; n++) {
        ub_err err = { "" };
        ub_mem_fail_after(n);
        ub_lua *h = ub_lua_new(NULL, &err);
        if (h) {
            ub_lua_scope_setstr(h, "ds", "2021-05-01");
            const char *got = render_at(h, "{{ macros.ds_add(ds, 1) }}|{{ sql.literal(ds) }}", "t");
            if (strcmp(got, "2021-05-02|'2021-05-01'") == 0)
                ok++;
            else if (strstr(got, "out of memory"))
                failed++;
            else {
                bad++;
                fprintf(stderr, "fail at %ld: %s\n", n, got);
            }
            ub_lua_free(h);
        } else if (strstr(err.msg, "out of memory")) {
            failed++;
        } else {
            bad++;
            fprintf(stderr, "fail at %ld: %s\n", n, err.msg);
        }
        ub_mem_fail_after(0);
    }
    T_INTEQ(bad, 0);
    T_CHECK(ok > 0);
    printf("alloc failures: %d runs worked, %d failed cleanly\n", ok, failed);
}

int main(void)
{
    ub_err err = { "" };
    H = ub_lua_new(NULL, &err);
    if (!H) {
        fprintf(stderr, "ub_lua_new: %s\n", err.msg);
        return 1;
    }
    setup_scope(H);
    test_render_basics();
    test_scope_and_errors();
    test_sandbox();
    test_limits();
    test_cache();
    test_macros();
    test_sql_csv_log();
    test_text();
    ub_lua_free(H);
    test_alloc_failures();
    return t_done("test_luahost");
}
