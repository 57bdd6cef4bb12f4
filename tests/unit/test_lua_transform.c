/* test_lua_transform.c — the code sandbox (limits, metered patterns), lua.transform and task hooks. */
#include "core/engine.h"
#include "core/hooks.h"
#include "lua/luahost.h"
#include "io/classify.h"
#include "io/stream.h"
#include "t.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs code (a chunk) in a fresh code sandbox; returns its first result as
 * text, or "ERROR: msg". */
static const char *run_code(const char *code, long ins, size_t mem, double secs)
{
    static char out[2048];
    ub_err err;
    ub_lua_limits lim = { ins, mem };
    ub_lua *H = ub_lua_new(&lim, &err);
    if (!H) {
        snprintf(out, sizeof out, "ERROR: %s", err.msg);
        return out;
    }
    ub_lua_set_limits(H, secs, 0);
    lua_State *L = ub_lua_state(H);
    if (ub_lua_code_setup(H, NULL, &err) || ub_lua_load_string(H, code, strlen(code), "test", &err) ||
        ub_lua_call(H, 0, 1, &err)) {
        snprintf(out, sizeof out, "ERROR: %s", err.msg);
    } else {
        const char *s = lua_tostring(L, -1);
        snprintf(out, sizeof out, "%s", s ? s : luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    ub_lua_free(H);
    return out;
}

static void test_limits(void)
{
    /* the pathological pattern: stopped by the instruction budget, as the
     * matcher's steps count as instructions */
    T_STREQ(run_code("return ('a'):rep(30):find(('a*'):rep(30)..'b')", 1000000, 0, 0),
            "ERROR: instruction budget exceeded (1000000 instructions) (traceback: test:1: in main chunk)");
    /* ... and by the wall clock when the budget is huge */
    T_STREQ(run_code("return ('a'):rep(30):find(('a*'):rep(30)..'b')", 4000000000000000000L, 0, 0.2),
            "ERROR: time limit exceeded (0.2 s per call) (traceback: test:1: in main chunk)");
    /* the same for gsub, match and gmatch */
    T_CHECK(strstr(run_code("return (('a'):rep(30):gsub(('a*'):rep(30)..'b', ''))", 1000000, 0, 0),
                   "instruction budget exceeded") != NULL);
    T_CHECK(strstr(run_code("return ('a'):rep(30):match(('a*'):rep(30)..'b')", 1000000, 0, 0),
                   "instruction budget exceeded") != NULL);
    T_CHECK(strstr(run_code("for x in ('a'):rep(30):gmatch(('a*'):rep(30)..'b') do end return 1", 1000000, 0, 0),
                   "instruction budget exceeded") != NULL);
    /* pcall cannot swallow it */
    T_CHECK(strstr(run_code("local ok = pcall(string.find, ('a'):rep(30), ('a*'):rep(30)..'b') "
                            "while true do end", 1000000, 0, 0), "instruction budget exceeded") != NULL);
    /* a Lua loop, the memory cap, the loops of rep and move */
    T_STREQ(run_code("local function f() while true do end end\nf()", 100000, 0, 0),
            "ERROR: instruction budget exceeded (100000 instructions) (traceback: test:1: in local 'f'; "
            "test:2: in main chunk)");
    T_STREQ(run_code("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end", 0, (size_t)4 << 20, 0),
            "ERROR: memory limit exceeded (4 MiB)");
    T_STREQ(run_code("return #string.rep('', 1 << 62)", 1000, 0, 0), "0");
    T_CHECK(strstr(run_code("return table.move({}, 1, 1 << 60, 2)", 1000000, 0, 0),
                   "instruction budget exceeded") != NULL);
    /* the sandbox: no io, os, require outside the path, binary chunks, debug */
    T_STREQ(run_code("return type(io) .. type(os) .. type(debug) .. type(load) .. type(package)", 0, 0, 0),
            "nilnilnilnilnil");
    T_STREQ(run_code("return require('nosuch')", 0, 0, 0),
            "ERROR: test:1: module 'nosuch' not found: the spec declares no lua_path (traceback: test:1: in main chunk)");
    T_STREQ(run_code("return tostring(require('text').is_positive('A good film'))", 0, 0, 0), "true");
    T_STREQ(run_code("return require('../x')", 0, 0, 0),
            "ERROR: test:1: module name '../x' is not NAME or NAME.NAME... (letters, digits, '_', '-') (traceback: test:1: "
            "in main chunk)");
    T_CHECK(strstr(run_code("\x1bLua", 0, 0, 0), "attempt to load a binary chunk") != NULL);
    /* globals of a chunk are its own; libraries stay read-only */
    T_STREQ(run_code("x = 5 return x + 1", 0, 0, 0), "6");
    T_CHECK(strstr(run_code("string.find = nil", 0, 0, 0), "read-only") != NULL);
}

/* The metered matcher against Lua's own string library, on the same calls. */
static void test_patterns(void)
{
    static const char *const cases[] = {
        "string.find('hello world', 'o w')", "string.find('hello world', 'l+')",
        "string.find('hello', 'l', -2)", "string.find('hello', '', 10)", "string.find('hello', '', 6)",
        "string.find('a.b', '.', 1, true)", "string.find('key = value', '(%w+)%s*=%s*(%w+)')",
        "string.match('  trim  ', '^%s*(.-)%s*$')", "string.match('2021-05-01', '(%d+)-(%d+)-(%d+)')",
        "string.match('abc', '()b()')", "string.match('THE (quick) fox', '%((%a+)%)')",
        "string.match('f(a(b)c)d', '%b()')", "string.match('THE (quick) fox', '%f[%a]%a+', 5)",
        "string.match('hello', '^(h)(e)')", "string.match('x = \"a\\\\\"b\"', '\"(.-)\"')",
        "string.match('aaa', 'a-b')", "string.match('aaab', 'a-b')", "string.match('[x]', '[]x[]+')",
        "string.match('a-b', '[a%-]+')", "string.match('abcabc', '(abc)%1')", "string.match('xyz', 'y?z$')",
        "string.match('a1b2', '[^%d]+')", "string.match('end$', 'd%$')", "string.match('x', '.?.?x')",
        "string.gsub('hello world', 'o', '0')", "string.gsub('hello world', '(%w+)', '<%1>')",
        "string.gsub('abc', '', '-')", "string.gsub('hello world', '%w+', '%0 %0', 1)",
        "string.gsub('$name is $age', '%$(%w+)', {name='ann', age=3})",
        "string.gsub('abc', '%w', function(c) return c:upper() .. '.' end)",
        "string.gsub('abc', '^a', 'x')", "string.gsub('a,b,,c', ',', ';')",
        "select('#', string.gsub('one two', '(%w+) (%w+)', '%2 %1'))",
        "(function() local t = {} for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do t[#t+1] = k .. v end "
        "return table.concat(t, ';') end)()",
        "(function() local n = 0 for w in string.gmatch('one two  three', '%a+') do n = n + 1 end return n end)()",
        "(function() local t = {} for w in string.gmatch('abc', '') do t[#t+1] = 'x' end return #t end)()",
        "(function() local t = {} for w in string.gmatch('hello', 'l', 4) do t[#t+1] = w end return #t end)()",
        "pcall(string.find, 'a', '[a')", "pcall(string.find, 'a', '%')", "pcall(string.gsub, 'a', 'a', '%2')",
        "pcall(string.match, 'a', '(()')", "pcall(string.rep)", "string.rep('ab', 3, ',')",
    };
    lua_State *ref = luaL_newstate();
    luaL_openlibs(ref);
    ub_err err;
    ub_lua *H = ub_lua_new(NULL, &err);
    T_CHECK(H != NULL && ub_lua_code_setup(H, NULL, &err) == 0);
    lua_State *L = ub_lua_state(H);
    for (size_t i = 0; H && i < sizeof cases / sizeof *cases; i++) {
        char code[1024];
        /* every result, tostring'ed and joined, so counts and types count */
        snprintf(code, sizeof code, "local r = table.pack(%s) local o = {} for i = 1, r.n do "
                 "o[i] = type(r[i]) .. ':' .. tostring(r[i]) end return table.concat(o, '|')", cases[i]);
        char want[1100] = "?", got[1100] = "?";
        if (luaL_dostring(ref, code) == LUA_OK)
            snprintf(want, sizeof want, "%s", lua_tostring(ref, -1));
        else
            snprintf(want, sizeof want, "ERR %s", lua_tostring(ref, -1));
        lua_settop(ref, 0);
        if (ub_lua_load_string(H, code, strlen(code), "case", &err) == 0 && ub_lua_call(H, 0, 1, &err) == 0) {
            snprintf(got, sizeof got, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            snprintf(got, sizeof got, "ERR %s", err.msg);
        }
        /* error texts differ in wording: compare that both failed or both gave the same values */
        if (strncmp(want, "boolean:false|string:", 21) == 0 && strncmp(got, "boolean:false|string:", 21) == 0)
            T_CHECK(1);
        else
            T_STREQ(got, want);
    }
    lua_close(ref);
    ub_lua_free(H);
}

/* text.is_positive (fast path) against its definition, on generated text */
static void test_is_positive(void)
{
    const char *code =
        "local words = {'good', 'Good', 'GOOD', 'good.', 'goodness', 'not', 'a', 'movie', '', 'no-good', 'gOOd'}\n"
        "local seps = {' ', '  ', '\\t', '\\n', '\\r\\n', '\\v', '\\f', ',', '\\194\\160'}\n"
        "local x, bad = 12345, 0\n"
        "local function rnd(n) x = (x * 1103515245 + 12345) % 2147483648 return x % n + 1 end\n"
        "for i = 1, 3000 do\n"
        "  local t = {}\n"
        "  for j = 1, rnd(6) do t[#t + 1] = words[rnd(#words)] .. seps[rnd(#seps)] end\n"
        "  local s = table.concat(t)\n"
        "  local c = text.is_positive(s)\n"
        "  if c ~= text.is_positive_reference(s) or c ~= text.is_positive_lua(s) then bad = bad + 1 end\n"
        "end\n"
        "return bad";
    T_STREQ(run_code(code, 100000000, 0, 0), "0");
    /* the C function (the classifier's fast path) and the Lua one agree on
     * the edges too: nil, "", separators at the ends, other types */
    T_STREQ(run_code("local r = {} for _, s in ipairs({'good', ' good', 'good\\r', 'xgood', 'goodx', 'goo', '\\vGoOd\\f', "
                     "'a\\0good'}) do r[#r + 1] = tostring(text.is_positive(s)) .. tostring(text.is_positive_lua(s)) "
                     "end return table.concat(r, ',') .. ',' .. tostring(text.is_positive(nil)) .. "
                     "tostring(text.is_positive(''))", 0, 0, 0),
            "truetrue,truetrue,truetrue,falsefalse,falsefalse,falsefalse,truetrue,falsefalse,falsefalse");
    T_STREQ(run_code("return text.is_positive(5)", 0, 0, 0),
            "ERROR: test:1: text.is_positive: want a string, got a number value (traceback: test:1: in main chunk)");
    T_CHECK(strncmp(run_code("local r = text.is_positive_lua({}) return r", 0, 0, 0),
                    "ERROR: test:1: text.is_positive: want a string, got a table value (traceback: stdlib/text.lua:",
                    94) == 0);
}

/* ---- engine-level: lua.transform and hooks ------------------------------------- */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p)
        p[n] = '\0';
    fclose(f);
    return p;
}

typedef struct env {
    ub_diag d;
    ub_spec *s;
    ub_engine *e;
} env;

static int env_open(env *v, const char *spec, const char *ds, const ub_kv *params, size_t np, const char *state)
{
    memset(v, 0, sizeof *v);
    ub_diag_init(&v->d);
    v->s = ub_spec_load(spec, &v->d);
    if (!v->s) {
        ub_diag_flush(&v->d, stderr);
        return -1;
    }
    ub_engine_opts o = { ds, NULL, params, np, 0, state, NULL };
    v->e = ub_engine_new(v->s, &o, &v->d);
    if (!v->e)
        ub_diag_flush(&v->d, stderr);
    return v->e ? 0 : -1;
}

static void env_close(env *v)
{
    ub_engine_free(v->e);
    ub_spec_free(v->s);
    ub_diag_free(&v->d);
}

static ub_task *task_of(env *v, const char *id)
{
    for (size_t i = 0; i < v->s->ntasks; i++)
        if (strcmp(v->s->tasks[i].id, id) == 0)
            return &v->s->tasks[i];
    return NULL;
}

/* Runs a task; returns 0 or -1 with its error in msg. */
static int run_task(env *v, const char *id, char *msg, size_t n)
{
    ub_task *t = task_of(v, id);
    ub_opctx *c = t ? ub_ctx_new(v->e, t, 1) : NULL;
    if (!c) {
        snprintf(msg, n, "no task %s", id);
        return -1;
    }
    int rc = t->op->run(c);
    if (rc == 0 && *ub_ctx_error(c))
        rc = -1;
    snprintf(msg, n, "%s", ub_ctx_error(c));
    if (rc == 0)
        ub_ctx_publish(c);
    ub_ctx_free(c);
    return rc;
}

/* The Lua classifier example gives the built-in classifier's bytes on the demo data. */
static void test_classifier_example(const char *tmp)
{
    char reviews[600], state[600], lua_out[1000], ref_out[700], cmd[1400];
    snprintf(reviews, sizeof reviews, "%s/reviews.csv", tmp);
    snprintf(state, sizeof state, "%s/state", tmp);
    snprintf(cmd, sizeof cmd, "%s --purchases %s/p.csv --reviews %s --scale 0.03 >/dev/null",
             t_path("build/tools/gendemo"), tmp, reviews);
    if (access(t_path("build/tools/gendemo"), X_OK) != 0 || system(cmd) != 0) {
        fprintf(stderr, "build/tools/gendemo is needed (make tools)\n");
        T_CHECK(0);
        return;
    }
    /* the example writes into ../lake relative to examples/: use a copy of the spec beside tmp */
    char spec[700], lake[700];
    snprintf(spec, sizeof spec, "%s/ex/lua_classifier.yaml", tmp);
    snprintf(lake, sizeof lake, "%s/lake", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/ex && cp -r %s %s %s/ex/", tmp, t_path("examples/lua_classifier.yaml"),
             t_path("examples/lua"), tmp);
    T_CHECK(system(cmd) == 0);
    ub_kv p = { "movie_review_file", reviews };
    env v;
    char msg[2048];
    if (env_open(&v, spec, "2021-05-01", &p, 1, state)) {
        T_CHECK(0);
        return;
    }
    T_INTEQ(run_task(&v, "movie_review_to_raw_data_lake", msg, sizeof msg), 0);
    int rc = run_task(&v, "classify_movie_reviews", msg, sizeof msg);
    T_INTEQ(rc, 0);
    if (rc)
        fprintf(stderr, "  %s\n", msg);
    env_close(&v);

    /* the built-in classifier on the same file */
    ub_err err;
    snprintf(ref_out, sizeof ref_out, "%s/ref.csv", tmp);
    ub_reader *r = ub_file_reader_open(reviews, &err);
    ub_writer *w = ub_file_writer_open(ref_out, 0, &err);
    T_CHECK(r && w && ub_classify_stream(r, w, "2021-05-01", NULL, &err) == 0 && ub_writer_commit(w, &err) == 0);
    ub_reader_close(r);
    snprintf(lua_out, sizeof lua_out, "%s/stage/movie_review_lua/2021-05-01/classified.csv", lake);
    char *a = slurp(lua_out), *b = slurp(ref_out);
    T_CHECK(a && b && strlen(b) > 1000);
    T_CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
}

/* Transform errors name the object, row and line with the traceback, and
 * leave nothing behind; hooks publish and fail. */
static void test_transform_and_hooks(const char *tmp)
{
    char dir[600], path[700], state[700], msg[2048];
    snprintf(dir, sizeof dir, "%s/tx", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/in.csv", dir);
    write_file(path, "id,n\n1,10\n2,20\n3,bad\n");
    snprintf(path, sizeof path, "%s/double.lua", dir);
    write_file(path, "local function twice(x)\n  return tonumber(x) * 2\nend\n"
                     "return { transform = function(row, ctx)\n"
                     "  if row.id == '2' then return { row, { id = '2b', n = 0 } } end\n"
                     "  return { id = row.id, n = twice(row.n), by = ctx.params.who }\nend,\n"
                     "  loop = function(row) while true do end end,\n"
                     "  batch = function(rows) local out = {} for i = #rows, 1, -1 do out[#out + 1] = rows[i] end "
                     "return out end }\n");
    snprintf(path, sizeof path, "%s/quality.lua", dir);
    write_file(path, "local M = {}\nfunction M.check(task)\n  local n = 0\n"
                     "  for row in task.rows('stage:out/' .. task.ds .. '/b.csv.zst') do\n"
                     "    n = n + 1\n    if row.id == '' then error('row ' .. n .. ': empty id') end\n  end\n"
                     "  if n < tonumber(task.params.min_rows) then\n"
                     "    error(string.format('%d rows, want at least %s', n, task.params.min_rows))\n  end\n"
                     "  task.publish('checked', n)\n  return { rows_seen = n, try = task.try }\nend\nreturn M\n");
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    write_file(path,
               "pipeline: txtest\n"
               "params: { min_rows: 3 }\n"
               "lua_path: [.]\n"
               "profiles:\n  local: { lake: \"file:lake\" }\n"
               "tasks:\n"
               "  put: { op: lake.put, src: in.csv, dst: \"raw:in/{{ ds }}/in.csv\" }\n"
               "  a:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/a.csv\"\n    script: double.lua\n    params: { who: me }\n"
               "  loop:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/loop.csv\"\n    script: double.lua\n    function: loop\n"
               "    max_instructions: 50000\n"
               "  b:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/b.csv.zst\"\n    script: double.lua\n    function: batch\n"
               "    mode: batch\n    batch_size: 2\n"
               "    on_success: quality.check\n"
               "    on_failure: \"if not task.error then error('no error') end\"\n");
    snprintf(state, sizeof state, "%s/state", dir);
    env v;
    if (env_open(&v, path, "2021-05-01", NULL, 0, state)) {
        T_CHECK(0);
        return;
    }
    T_INTEQ(run_task(&v, "put", msg, sizeof msg), 0);
    /* row 3 (line 4) fails in twice(): object, row, line, message, traceback */
    T_INTEQ(run_task(&v, "a", msg, sizeof msg), -1);
    T_STREQ(msg, "'raw/in/2021-05-01/in.csv' row 3 (line 4): double.lua:2: attempt to perform arithmetic on a nil "
                 "value (traceback: double.lua:2: in upvalue 'twice'; double.lua:6: in function <double.lua:4>)");
    char outp[700];
    snprintf(outp, sizeof outp, "%s/lake/stage/out/2021-05-01/a.csv", dir);
    T_CHECK(access(outp, F_OK) != 0);               /* nothing half-written */
    T_INTEQ(run_task(&v, "loop", msg, sizeof msg), -1);
    T_STREQ(msg, "'raw/in/2021-05-01/in.csv' row 1 (line 2): instruction budget exceeded (50000 instructions) "
                 "(traceback: double.lua:8: in function <double.lua:8>)");
    T_INTEQ(run_task(&v, "b", msg, sizeof msg), 0);
    /* hooks */
    ub_task *t = task_of(&v, "b");
    ub_kv out[1] = { { "rows_out", "3" } };
    ub_kv *pub = NULL;
    size_t npub = 0;
    ub_err err;
    T_INTEQ(ub_hooks_run(v.e, t, "on_success", 2, NULL, out, 1, &pub, &npub, &err), 0);
    if (npub == 0)
        fprintf(stderr, "  %s\n", err.msg);
    T_INTEQ(npub, 3);
    for (size_t i = 0; i < npub; i++) {
        if (strcmp(pub[i].key, "checked") == 0)
            T_STREQ(pub[i].val, "3");
        else if (strcmp(pub[i].key, "rows_seen") == 0)
            T_STREQ(pub[i].val, "3");
        else {
            T_STREQ(pub[i].key, "try");
            T_STREQ(pub[i].val, "2");
        }
    }
    ub_hooks_free(pub, npub);
    T_INTEQ(ub_hooks_run(v.e, t, "on_failure", 1, "boom", NULL, 0, NULL, NULL, &err), 0);
    T_INTEQ(ub_hooks_run(v.e, t, "on_failure", 1, NULL, NULL, 0, NULL, NULL, &err), -1);
    T_STREQ(err.msg, "on_failure hook of task 'b': on_failure:1: no error (traceback: on_failure:1: in main chunk)");
    T_INTEQ(ub_hooks_run(v.e, t, "on_retry", 1, "x", NULL, 0, NULL, NULL, &err), 0);   /* none: nothing */
    env_close(&v);

    /* the data-quality rule fails the task when too few rows */
    ub_kv p = { "min_rows", "5" };
    if (env_open(&v, path, "2021-05-01", &p, 1, state) == 0) {
        t = task_of(&v, "b");
        T_INTEQ(ub_hooks_run(v.e, t, "on_success", 1, NULL, NULL, 0, &pub, &npub, &err), -1);
        T_STREQ(err.msg, "on_success hook of task 'b': quality.lua:9: 3 rows, want at least 5 (traceback: "
                         "quality.lua:9: in function <quality.lua:2>)");
        env_close(&v);
    } else {
        T_CHECK(0);
    }
}

/* reuse_row: one table for every call, holding exactly the row's fields
 * each time (keys and a metatable the last call added are gone). */
static void test_reuse_row(const char *tmp)
{
    char dir[600], path[700], state[700], msg[2048];
    snprintf(dir, sizeof dir, "%s/reuse", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/in.csv", dir);
    write_file(path, "id,n\n1,10\n2,20\n3,30\n");
    snprintf(path, sizeof path, "%s/f.lua", dir);
    write_file(path, "local prev\n"
                     "return { transform = function(row, ctx)\n"
                     "  local same = rawequal(row, prev)\n"
                     "  local seen = tostring(row.extra) .. '/' .. tostring(row.dflt)\n"
                     "  prev = row\n"
                     "  if row.id == '1' then\n"
                     "    row.extra = 'x'; row.n = nil\n"
                     "    setmetatable(row, { __index = function() return 'mt' end })\n"
                     "  end\n"
                     "  row.same = same; row.seen = seen\n"
                     "  return row\nend }\n");
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    write_file(path,
               "pipeline: reusetest\n"
               "profiles:\n  local: { lake: \"file:lake\" }\n"
               "tasks:\n"
               "  put: { op: lake.put, src: in.csv, dst: \"raw:in/{{ ds }}/in.csv\" }\n"
               "  fresh:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/fresh.csv\"\n    script: f.lua\n"
               "    header: [id, n, extra, same, seen]\n"
               "  reused:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/reused.csv\"\n    script: f.lua\n    reuse_row: true\n"
               "    header: [id, n, extra, same, seen]\n"
               "  bad:\n    op: lua.transform\n    after: put\n    from: \"raw:in/{{ ds }}/in.csv\"\n"
               "    to: \"stage:out/{{ ds }}/bad.csv\"\n    script: f.lua\n    reuse_row: true\n    mode: batch\n");
    snprintf(state, sizeof state, "%s/state", dir);
    env v;
    if (env_open(&v, path, "2021-05-01", NULL, 0, state)) {
        T_CHECK(0);
        return;
    }
    T_INTEQ(run_task(&v, "put", msg, sizeof msg), 0);
    T_INTEQ(run_task(&v, "fresh", msg, sizeof msg), 0);
    T_INTEQ(run_task(&v, "reused", msg, sizeof msg), 0);
    T_INTEQ(run_task(&v, "bad", msg, sizeof msg), -1);
    T_STREQ(msg, "lua.transform: 'reuse_row' is for mode 'row'; in batch mode each row is a table of its own");
    env_close(&v);
    /* a row changed by the function: written as changed, with the
     * metatable's default for the missing n; the next row is clean */
    const char *want_fresh = "id,n,extra,same,seen\n1,mt,x,false,nil/nil\n2,20,,false,nil/nil\n3,30,,false,nil/nil\n";
    const char *want_reused = "id,n,extra,same,seen\n1,mt,x,false,nil/nil\n2,20,,true,nil/nil\n3,30,,true,nil/nil\n";
    snprintf(path, sizeof path, "%s/lake/stage/out/2021-05-01/fresh.csv", dir);
    char *a = slurp(path);
    T_STREQ(a ? a : "(none)", want_fresh);
    free(a);
    snprintf(path, sizeof path, "%s/lake/stage/out/2021-05-01/reused.csv", dir);
    a = slurp(path);
    T_STREQ(a ? a : "(none)", want_reused);
    free(a);
}

int main(void)
{
    char tmp[] = "/tmp/ub_luatx_XXXXXX";
    T_CHECK(mkdtemp(tmp) != NULL);
    test_limits();
    test_patterns();
    test_is_positive();
    test_transform_and_hooks(tmp);
    test_reuse_row(tmp);
    test_classifier_example(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return t_done("test_lua_transform");
}
