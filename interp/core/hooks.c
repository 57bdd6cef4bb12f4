/* hooks.c — on_success / on_failure / on_retry: a task's Lua hooks, each in a fresh sandbox. */
#include "core/hooks.h"
#include "base/mem.h"
#include "io/csv.h"

#include <lauxlib.h>
#include <lua.h>

#include <stdio.h>
#include <string.h>

/* Everything C that a hook run owns; the protected driver only fills it. */
typedef struct hookrun {
    ub_engine   *e;
    ub_task     *t;
    const char  *event, *spec_hook, *error;
    int          try_no;
    const ub_kv *outputs;
    size_t       nout;
    ub_kv       *pub;         /* published, ub_strdup'ed */
    size_t       npub, cappub;
    ub_lua      *H;
    ub_buf       scratch;     /* a rendered param */
} hookrun;

int ub_hooks_has(const ub_task *t, const char *event)
{
    const ub_node *n = ub_node_get(t->body, event);
    return n && n->kind == UB_SCALAR && !ub_node_is_null(n);
}

void ub_hooks_free(ub_kv *pub, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ub_free((char *)pub[i].key);
        ub_free((char *)pub[i].val);
    }
    ub_free(pub);
}

/* Appends (key, value) to the published outputs, replacing an earlier key. */
static int publish_kv(hookrun *h, const char *k, const char *v)
{
    char *vv = ub_strdup(v);
    if (!vv)
        return -1;
    for (size_t i = 0; i < h->npub; i++)
        if (strcmp(h->pub[i].key, k) == 0) {
            ub_free((char *)h->pub[i].val);
            h->pub[i].val = vv;
            return 0;
        }
    if (h->npub == h->cappub) {
        size_t cap = h->cappub ? 2 * h->cappub : 4;
        ub_kv *p = ub_realloc(h->pub, cap * sizeof *p);
        if (!p) {
            ub_free(vv);
            return -1;
        }
        h->pub = p;
        h->cappub = cap;
    }
    char *kk = ub_strdup(k);
    if (!kk) {
        ub_free(vv);
        return -1;
    }
    h->pub[h->npub].key = kk;
    h->pub[h->npub++].val = vv;
    return 0;
}

/* value at idx as output text, or raises */
static const char *output_text(lua_State *L, int idx, const char *key)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: case LUA_TNUMBER:
        return lua_tostring(L, idx);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    default:
        luaL_error(L, "output '%s' must be a string, number or boolean, not a %s", key, luaL_typename(L, idx));
        return NULL;
    }
}

static int l_publish(lua_State *L)
{
    hookrun *h = lua_touserdata(L, lua_upvalueindex(1));
    const char *k = luaL_checkstring(L, 1);
    const char *v = output_text(L, 2, k);
    if (strcmp(h->event, "on_success") != 0)
        return luaL_error(L, "task.publish: only an on_success hook publishes outputs");
    if (publish_kv(h, k, v))
        return luaL_error(L, "not enough memory");
    return 0;
}

/* ---- task.rows(ref) --------------------------------------------------------- */

typedef struct rowsrc {
    ub_reader *r;
    ub_csv    *csv;
    size_t     n;
} rowsrc;

static int rows_gc(lua_State *L)
{
    rowsrc *s = lua_touserdata(L, 1);
    ub_csv_free(s->csv);
    ub_reader_close(s->r);
    s->csv = NULL;
    s->r = NULL;
    return 0;
}

/* upvalues: 1 the rowsrc (its user value 1 is the header array) */
static int rows_next(lua_State *L)
{
    rowsrc *s = lua_touserdata(L, lua_upvalueindex(1));
    ub_err err;
    if (!s->csv)
        return 0;
    int n = ub_csv_next(s->csv, &err);
    if (n < 0)
        return luaL_error(L, "%s", err.msg);
    if (n == 0) {
        ub_csv_free(s->csv);
        ub_reader_close(s->r);
        s->csv = NULL;
        s->r = NULL;
        return 0;
    }
    const ub_csv_field *f = ub_csv_fields(s->csv);
    lua_getiuservalue(L, lua_upvalueindex(1), 1);
    lua_createtable(L, 0, (int)s->n);
    for (size_t i = 0; i < s->n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        lua_pushlstring(L, f[i].p, f[i].n);
        lua_rawset(L, -3);
    }
    return 1;
}

static int l_rows(lua_State *L)
{
    hookrun *h = lua_touserdata(L, lua_upvalueindex(1));
    const char *ref = luaL_checkstring(L, 1);
    const char *colon = strchr(ref, ':');
    ub_err err;
    if (!colon || !ub_lake_is_area(ref, (size_t)(colon - ref)))
        return luaL_error(L, "task.rows: '%s' is not a lake reference AREA:KEY (AREA raw, stage or scripts)", ref);
    if (ub_lake_ref_relative(ref, colon, &err))
        return luaL_error(L, "task.rows: %s", err.msg);
    lua_pushlstring(L, ref, (size_t)(colon - ref));
    lua_pushfstring(L, "/%s", colon + 1);
    lua_concat(L, 2);
    const char *key = lua_tostring(L, -1);
    if (ub_lake_key_check(key, &err))
        return luaL_error(L, "task.rows: %s", err.msg);
    ub_lake *lake = ub_engine_lake(h->e, &err);   /* the engine's lake, not a second one */
    if (!lake)
        return luaL_error(L, "task.rows: %s", err.msg);
    rowsrc *s = lua_newuserdatauv(L, sizeof *s, 1);
    memset(s, 0, sizeof *s);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, rows_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    ub_csv_opts o = { 0, 1 };
    if (!(s->r = ub_lake_open_read_decoded(lake, key, &err)))
        return luaL_error(L, "task.rows: %s", err.msg);
    if (!(s->csv = ub_csv_open(s->r, &o, &err)))
        return luaL_error(L, "task.rows: %s", err.msg);
    int n = ub_csv_next(s->csv, &err);
    if (n < 0)
        return luaL_error(L, "task.rows: %s", err.msg);
    if (n == 0)
        return luaL_error(L, "task.rows: '%s' is empty (no header)", ref);
    s->n = (size_t)n;
    ub_csv_expect_fields(s->csv, s->n);
    const ub_csv_field *f = ub_csv_fields(s->csv);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, f[i].p, f[i].n);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, -2, 1);
    lua_pushcclosure(L, rows_next, 1);
    return 1;
}

/* ---- the hook ------------------------------------------------------------------ */

static int is_func_ref(const char *s)
{
    int dots = 0, seg = 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (!seg)
                return 0;
            dots++;
            seg = 0;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_') {
            seg++;
        } else {
            return 0;
        }
    }
    return dots > 0 && seg > 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* task.params: each scalar param as the templates see it (-p applied) */
static void push_params(hookrun *h, lua_State *L)
{
    const ub_node *p = h->e->spec->params;
    lua_newtable(L);
    for (size_t i = 0; p && i < p->n; i += 2) {
        const char *k = p->items[i]->str;
        if (p->items[i + 1]->kind != UB_SCALAR || strpbrk(k, "\"\\\n"))
            continue;
        char expr[600];
        snprintf(expr, sizeof expr, "{{ params[\"%s\"] }}", k);
        ub_err err;
        ub_buf_reset(&h->scratch);
        if (ub_tmpl_render(ub_engine_lua(h->e), expr, strlen(expr), "hook params", &h->scratch, &err) == 0 &&
            !h->scratch.err) {
            lua_pushlstring(L, ub_buf_str(&h->scratch), h->scratch.len);
            lua_setfield(L, -2, k);
        }
    }
}

static int hook_p(lua_State *L)
{
    hookrun *h = lua_touserdata(L, 1);
    ub_err err;
    lua_settop(L, 1);

    lua_createtable(L, 0, 14);                                  /* 2 task */
    lua_pushstring(L, h->t->id);
    lua_setfield(L, 2, "id");
    lua_pushstring(L, h->e->ds);
    lua_setfield(L, 2, "ds");
    lua_pushstring(L, h->e->ds_nodash);
    lua_setfield(L, 2, "ds_nodash");
    lua_pushstring(L, h->e->spec->pipeline);
    lua_setfield(L, 2, "pipeline");
    lua_pushstring(L, h->e->profile);
    lua_setfield(L, 2, "profile");
    lua_pushstring(L, h->event);
    lua_setfield(L, 2, "event");
    lua_pushinteger(L, h->try_no);
    lua_setfield(L, 2, "try");
    if (h->error) {
        lua_pushstring(L, h->error);
        lua_setfield(L, 2, "error");
    }
    lua_createtable(L, 0, (int)h->nout);
    for (size_t i = 0; i < h->nout; i++) {
        lua_pushstring(L, h->outputs[i].val);
        lua_setfield(L, -2, h->outputs[i].key);
    }
    lua_setfield(L, 2, "outputs");
    push_params(h, L);
    lua_setfield(L, 2, "params");
    lua_pushlightuserdata(L, h);
    lua_pushcclosure(L, l_publish, 1);
    lua_setfield(L, 2, "publish");
    lua_pushlightuserdata(L, h);
    lua_pushcclosure(L, l_rows, 1);
    lua_setfield(L, 2, "rows");

    /* 3: the function to call */
    const char *hk = h->spec_hook;
    if (ends_with(hk, ".lua")) {
        const char *path = hk[0] == '/' ? lua_pushstring(L, hk) : lua_pushfstring(L, "%s/%s", h->e->spec->dir, hk);
        if (ub_lua_load_file(h->H, path, hk, &err))
            return luaL_error(L, "%s", err.msg);
        lua_remove(L, -2);
        if (lua_type(L, -1) != LUA_TFUNCTION)
            return luaL_error(L, "'%s' must return a function (got a %s)", hk, luaL_typename(L, -1));
    } else if (is_func_ref(hk)) {
        const char *dot = strrchr(hk, '.');
        if (ub_lua_load_string(h->H, "return require((...))", 21, "hook", &err))
            return luaL_error(L, "%s", err.msg);
        lua_pushlstring(L, hk, (size_t)(dot - hk));
        if (ub_lua_call(h->H, 1, 1, &err))
            return luaL_error(L, "%s", err.msg);
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "module '%s' is a %s, not a table of functions", lua_tostring(L, -1),
                              luaL_typename(L, -1));
        lua_getfield(L, -1, dot + 1);
        lua_remove(L, -2);
        if (lua_type(L, -1) != LUA_TFUNCTION)
            return luaL_error(L, "'%s' is not a function", hk);
    } else {
        if (ub_lua_load_string(h->H, hk, strlen(hk), h->event, &err))
            return luaL_error(L, "%s", err.msg);
        lua_getupvalue(L, -1, 1);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "task");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, 2);
    if (ub_lua_call(h->H, 1, 1, &err))
        return luaL_error(L, "%s", err.msg);
    if (lua_type(L, -1) == LUA_TTABLE) {
        if (strcmp(h->event, "on_success") != 0)
            return luaL_error(L, "only an on_success hook publishes outputs (it returned a table)");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "the returned outputs must be keyed by name");
            const char *k = lua_tostring(L, -2);
            if (publish_kv(h, k, output_text(L, -1, k)))
                return luaL_error(L, "not enough memory");
            lua_pop(L, 1);
        }
    }
    return 0;
}

/* Adds the spec's top-level list `key` to a, each item made absolute
 * against the spec's directory (after a "PREFIX:" for grants; ub_lua_resolve).
 * NULL with err set on failure, and when the list is empty. */
static const char **spec_list(ub_engine *e, const char *key, int grant, ub_arena *a, size_t *n, ub_err *err)
{
    const ub_node *l = ub_node_get(e->spec->root, key);
    *n = 0;
    if (!l || l->kind != UB_SEQ || l->n == 0)
        return NULL;
    *n = l->n; /* a failure returns NULL with *n > 0 */
    const char **v = ub_arena_alloc(a, l->n * sizeof *v);
    if (!v) {
        ub_err_oom(err);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i]->kind != UB_SCALAR)      /* refused by the loader */
            continue;
        char *r = ub_lua_resolve(l->items[i]->str, grant, e->spec->dir, err);
        v[k] = r ? ub_arena_strndup(a, r, strlen(r)) : NULL;
        if (r && !v[k])
            ub_err_oom(err);
        ub_free(r);
        if (!v[k])
            return NULL;
        k++;
    }
    *n = k;
    return v;
}

int ub_hooks_run(ub_engine *e, ub_task *t, const char *event, int try_no, const char *error,
                 const ub_kv *outputs, size_t nout, ub_kv **published, size_t *npub, ub_err *err)
{
    hookrun h;
    ub_arena a = { 0 };
    ub_err lerr;
    int rc = -1;
    memset(&h, 0, sizeof h);
    ub_buf_init(&h.scratch, (size_t)1 << 20);
    if (published)
        *published = NULL;
    if (npub)
        *npub = 0;
    if (!ub_hooks_has(t, event))
        return 0;
    h.e = e;
    h.t = t;
    h.event = event;
    h.spec_hook = ub_node_get(t->body, event)->str;
    h.error = error;
    h.try_no = try_no;
    h.outputs = outputs;
    h.nout = nout;

    size_t np, ng = 0;
    const char **path = spec_list(e, "lua_path", 0, &a, &np, &lerr);
    const char **grants = path || !np ? spec_list(e, "lua_grant", 1, &a, &ng, &lerr) : NULL;
    if ((np && !path) || (ng && !grants)) {
        ub_err_set(err, "%s hook of task '%s': %s", event, t->id, lerr.msg);
        goto out;
    }
    h.H = ub_lua_new(NULL, &lerr);
    ub_lua_code_opts co = { path, np, grants, ng, e->spec->dir };
    if (!h.H || ub_lua_code_setup(h.H, &co, &lerr) || ub_lua_protect(h.H, hook_p, &h, &lerr)) {
        ub_err_set(err, "%s hook of task '%s': %s", event, t->id, lerr.msg);
        goto out;
    }
    rc = 0;
    if (published) {
        *published = h.pub;
        *npub = h.npub;
        h.pub = NULL;
        h.npub = 0;
    }
out:
    ub_lua_free(h.H);                 /* closes row sources (__gc); the lake is the engine's */
    ub_hooks_free(h.pub, h.npub);
    ub_buf_free(&h.scratch);
    ub_arena_free(&a);
    return rc;
}

int ub_hooks_describe(const ub_engine *e, const ub_task *t, ub_buf *out)
{
    static const char *const ev[] = { "on_success", "on_failure", "on_retry", NULL };
    int any = 0;
    for (const char *const *p = ev; *p; p++)
        if (ub_hooks_has(t, *p)) {
            const char *v = ub_node_get(t->body, *p)->str;
            ub_buf_addf(out, "%s%s: %.60s%s", any++ ? "; " : "", *p, v, strlen(v) > 60 ? "..." : "");
        }
    const ub_node *g = ub_node_get(e->spec->root, "lua_grant");
    if (any && g && g->kind == UB_SEQ && g->n) {
        ub_buf_adds(out, "; grants:");
        for (size_t i = 0; i < g->n; i++)
            if (g->items[i]->kind == UB_SCALAR)
                ub_buf_addf(out, " %s", g->items[i]->str);
    }
    return any;
}
