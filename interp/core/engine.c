/* engine.c — the template scope and the profile for one (spec, ds, profile). */
#include "core/engine.h"
#include "aws/http.h"
#include "base/date.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t ub_cancel_requested;

static int is_plain_int(const ub_node *n)
{
    const char *s = n->str;
    if (*s == '-')
        s++;
    if (!*s || strlen(s) > 18 || (s[0] == '0' && s[1]))
        return 0;                 /* 02139 stays the string it reads as, not 2139 (nor octal) */
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Pushes a spec node as a Lua value: plain integers and booleans keep their
 * type, every other scalar is a string; a templated string is rendered in
 * the scope built so far (ds, env, state_dir — not params itself). */
static void push_node(ub_engine *e, lua_State *L, const ub_node *n, int depth)
{
    luaL_checkstack(L, 4, "spec too deep");
    switch (n->kind) {
    case UB_SCALAR:
        if (ub_tmpl_has_expr(n->str, n->len)) {
            const char *v = ub_engine_render_node(e, n);
            lua_pushstring(L, v ? v : "");
        } else if (n->plain && is_plain_int(n))
            lua_pushinteger(L, strtoll(n->str, NULL, 10));
        else if (n->plain && (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0))
            lua_pushboolean(L, n->str[0] == 't');
        else
            lua_pushlstring(L, n->str, n->len);
        break;
    case UB_SEQ:
        lua_createtable(L, (int)n->n, 0);
        for (size_t i = 0; i < n->n && depth < 64; i++) {
            push_node(e, L, n->items[i], depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case UB_MAP:
        lua_createtable(L, 0, (int)(n->n / 2));
        for (size_t i = 0; i < n->n && depth < 64; i += 2) {
            push_node(e, L, n->items[i + 1], depth + 1);
            lua_setfield(L, -2, n->items[i]->str);
        }
        break;
    }
}

/* __index of a task's outputs in plan: "(<id>.<key>, known after run)" */
static int after_run_index(lua_State *L)
{
    const char *key = luaL_checkstring(L, 2);
    lua_pushfstring(L, "(%s.%s: known after run)", lua_tostring(L, lua_upvalueindex(1)), key);
    return 1;
}

static const char *state_dir_of(ub_arena *a, const char *given)
{
    const char *s = given && *given ? given : getenv("UBPIPE_HOME");
    char cwd[PATH_MAX];
    ub_buf b = UB_BUF_INIT;
    const char *out = NULL;
    if (!s || !*s) {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        ub_buf_addf(&b, "%s/.ubpipe", cwd);
    } else if (s[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        ub_buf_addf(&b, "%s/%s", cwd, s);
    } else {
        ub_buf_adds(&b, s);
    }
    while (b.len > 1 && b.p[b.len - 1] == '/')
        b.p[--b.len] = '\0';
    if (!b.err)
        out = ub_arena_strndup(a, b.p, b.len);
    ub_buf_free(&b);
    return out;
}

ub_loc ub_engine_block_loc(const ub_diag *d, const ub_node *n, size_t failed)
{
    if (n->kind != UB_SCALAR || failed >= n->len)
        return n->loc;
    size_t nth = 0;                  /* the blocks before it, counted as the source is searched */
    for (size_t i = 0; i + 1 < failed; i++)
        if (n->str[i] == '{' && n->str[i + 1] == '{') {
            nth++;
            i++;
        }
    return ub_diag_seek(d, n->loc, "{{", nth);
}

const char *ub_engine_render_node(ub_engine *e, const ub_node *n)
{
    if (n->kind != UB_SCALAR) {
        ub_diag_error(e->diag, n->loc, "expected a string, not a %s", ub_node_kind_name(n));
        return NULL;
    }
    if (!ub_tmpl_has_expr(n->str, n->len))
        return n->str;
    char where[512];
    snprintf(where, sizeof where, "%s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
    ub_buf out = UB_BUF_INIT;
    ub_err err;
    const char *r = NULL;
    size_t failed;
    if (ub_tmpl_render_at(e->lua, n->str, n->len, where, &out, &err, &failed) == 0) {
        r = ub_arena_strndup(&e->arena, ub_buf_str(&out), out.len);
        if (!r)
            ub_diag_error(e->diag, n->loc, "out of memory");
    } else {
        ub_diag_error(e->diag, ub_engine_block_loc(e->diag, n, failed), "%s", err.msg);
    }
    ub_buf_free(&out);
    return r;
}

static int upper_env_name(const char *conn, char *out, size_t cap)
{
    int n = snprintf(out, cap, "UBPIPE_CONN_");
    for (const char *p = conn; *p && (size_t)n + 1 < cap; p++)
        out[n++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    out[n] = '\0';
    return n;
}

/* Renders every connection of the profile and applies UBPIPE_CONN_<NAME>. */
static int load_conns(ub_engine *e)
{
    const ub_node *p = e->profile_node;
    size_t n = p ? p->n / 2 : 0;
    size_t errs0 = ub_diag_count(e->diag);
    e->conns = ub_arena_alloc(&e->arena, (n ? n : 1) * sizeof *e->conns);
    if (!e->conns)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ub_node *k = p->items[2 * i], *v = p->items[2 * i + 1];
        ub_conn *c = &e->conns[e->nconns++];
        c->name = k->str;
        c->loc = k->loc;
        size_t nf = v->kind == UB_MAP ? v->n / 2 : 1;
        c->fields = ub_arena_alloc(&e->arena, (nf + 1) * sizeof *c->fields);
        if (!c->fields)
            return -1;
        if (v->kind == UB_SCALAR) {
            c->fields[0].key = "main";
            c->fields[0].val = ub_engine_render_node(e, v);
            c->nfields = 1;
            c->main = "main";
        } else {
            for (size_t j = 0; j < v->n; j += 2) {
                const ub_node *fk = v->items[j], *fv = v->items[j + 1];
                if (strcmp(fk->str, "scripts") == 0 && fv->kind == UB_MAP) {
                    c->scripts = ub_arena_alloc(&e->arena, (fv->n / 2 + 1) * sizeof *c->scripts);
                    if (!c->scripts)
                        return -1;
                    for (size_t q = 0; q < fv->n; q += 2) {
                        c->scripts[c->nscripts].key = fv->items[q]->str;
                        c->scripts[c->nscripts++].val = ub_engine_render_node(e, fv->items[q + 1]);
                    }
                    continue;
                }
                c->fields[c->nfields].key = fk->str;
                c->fields[c->nfields++].val = ub_engine_render_node(e, fv);
            }
            static const char *const mains[] = { "dsn", "url", "cluster", NULL };
            for (size_t q = 0; mains[q] && !c->main; q++)
                for (size_t j = 0; j < c->nfields; j++)
                    if (strcmp(c->fields[j].key, mains[q]) == 0)
                        c->main = mains[q];
            if (!c->main) {
                c->main = "dsn";
                c->fields[c->nfields].key = "dsn";
                c->fields[c->nfields++].val = NULL;
            }
        }
        char envname[300];
        upper_env_name(c->name, envname, sizeof envname);
        const char *ov = getenv(envname);
        for (size_t j = 0; j < c->nfields; j++)
            if (strcmp(c->fields[j].key, c->main) == 0) {
                if (ov && *ov) {
                    c->fields[j].val = ov;
                    c->from_env = 1;
                }
                if (c->fields[j].val)
                    ub_secret_add_conninfo(c->fields[j].val);
            }
    }
    return ub_diag_count(e->diag) == errs0 ? 0 : -1;
}

static void push_profile(ub_engine *e)
{
    lua_State *L = ub_lua_state(e->lua);
    lua_newtable(L);
    lua_pushstring(L, e->profile);
    lua_setfield(L, -2, "name");
    for (size_t i = 0; i < e->nconns; i++) {
        const ub_conn *c = &e->conns[i];
        if (c->nfields == 1 && strcmp(c->fields[0].key, "main") == 0 && !c->nscripts) {
            lua_pushstring(L, c->fields[0].val ? c->fields[0].val : "");
        } else {
            lua_newtable(L);
            for (size_t j = 0; j < c->nfields; j++)
                if (c->fields[j].val) {
                    lua_pushstring(L, c->fields[j].val);
                    lua_setfield(L, -2, c->fields[j].key);
                }
        }
        lua_setfield(L, -2, c->name);
    }
    ub_lua_scope_set(e->lua, "profile");
}

static void list_profiles(const ub_node *profiles, ub_buf *b)
{
    for (size_t i = 0; profiles && i < profiles->n; i += 2) {
        if (i)
            ub_buf_adds(b, ", ");
        ub_buf_adds(b, profiles->items[i]->str);
    }
    if (!b->len)
        ub_buf_adds(b, "none declared");
}

ub_engine *ub_engine_new(ub_spec *spec, const ub_engine_opts *o, ub_diag *diag)
{
    ub_engine *e = ub_calloc(1, sizeof *e);
    ub_err err;
    if (!e) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        return NULL;
    }
    e->spec = spec;
    ub_http_set_cancel(&ub_cancel_requested);   /* S3/EMR requests end on cancel too */
    e->diag = diag;
    e->planning = o->planning;
    e->self_exe = o->self_exe;
    e->opts = *o;
    size_t errs0 = ub_diag_count(diag);

    /* ds: a real calendar date before any template sees it */
    ub_date d = ub_date_yesterday_utc();
    if (o->ds && ub_date_parse(o->ds, &d, &err)) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "--ds %s", err.msg);
        goto fail;
    }
    ub_date_format(d, 0, e->ds);
    ub_date_format(d, 1, e->ds_nodash);

    /* profile */
    e->profile = o->profile && *o->profile ? o->profile : "local";
    e->profile_node = ub_node_get(spec->profiles, e->profile);
    if (!e->profile_node && (spec->profiles || strcmp(e->profile, "local") != 0)) {
        ub_buf names = UB_BUF_INIT;
        list_profiles(spec->profiles, &names);
        const char *cands[64];
        size_t nc = 0;
        for (size_t i = 0; spec->profiles && i < spec->profiles->n && nc < 63; i += 2)
            cands[nc++] = spec->profiles->items[i]->str;
        cands[nc] = NULL;
        const char *sug = ub_suggest(e->profile, cands);
        ub_loc loc = spec->profiles ? spec->profiles->loc : (ub_loc){ spec->path, 0, 0 };
        if (sug)
            ub_diag_error(diag, loc, "unknown profile '%s' (did you mean '%s'? profiles: %s)", e->profile, sug,
                          ub_buf_str(&names));
        else
            ub_diag_error(diag, loc, "unknown profile '%s' (profiles: %s)", e->profile, ub_buf_str(&names));
        ub_buf_free(&names);
        goto fail;
    }

    e->state_dir = state_dir_of(&e->arena, o->state_dir);
    if (!e->state_dir)
        goto oom;
    ub_buf wb = UB_BUF_INIT;
    ub_buf_addf(&wb, "%s/work/%s/%s", e->state_dir, spec->pipeline, e->ds);
    e->workdir = wb.err ? NULL : ub_arena_strdup(&e->arena, ub_buf_str(&wb));
    ub_buf_free(&wb);
    if (!e->workdir)
        goto oom;

    e->lua = ub_lua_new(NULL, &err);
    if (!e->lua) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "cannot start Lua: %s", err.msg);
        goto fail;
    }
    lua_State *L = ub_lua_state(e->lua);
    ub_lua_scope_setstr(e->lua, "ds", e->ds);
    ub_lua_scope_setstr(e->lua, "ds_nodash", e->ds_nodash);
    ub_lua_scope_setstr(e->lua, "pipeline", spec->pipeline);
    ub_lua_scope_setstr(e->lua, "state_dir", e->state_dir);
    ub_lua_scope_setstr(e->lua, "workdir", e->workdir);
    ub_lua_push_env(e->lua);
    ub_lua_scope_set(e->lua, "env");

    /* params: the spec's, then -p overrides (strings) */
    if (spec->params)
        push_node(e, L, spec->params, 0);
    else
        lua_newtable(L);
    for (size_t i = 0; i < o->nparams; i++) {
        if (!spec->params || !ub_node_get(spec->params, o->params[i].key)) {
            const char *cands[256];
            size_t nc = 0;
            for (size_t q = 0; spec->params && q < spec->params->n && nc < 255; q += 2)
                cands[nc++] = spec->params->items[q]->str;
            cands[nc] = NULL;
            const char *sug = ub_suggest(o->params[i].key, cands);
            ub_diag_error(diag, spec->params ? spec->params->loc : (ub_loc){ spec->path, 0, 0 }, "-p %s: the spec declares no param '%s'%s%s%s",
                          o->params[i].key, o->params[i].key, sug ? " (did you mean '" : "", sug ? sug : "",
                          sug ? "'?)" : "");
            continue;
        }
        lua_pushstring(L, o->params[i].val);
        lua_setfield(L, -2, o->params[i].key);
    }
    ub_lua_scope_set(e->lua, "params");
    /* outputs.<task>.<key>: filled as tasks finish; in plan, every task's
     * outputs read as "(known after run)" values */
    lua_newtable(L);
    if (e->planning) {
        for (size_t i = 0; i < spec->ntasks; i++) {
            lua_newtable(L);
            lua_newtable(L);
            lua_pushstring(L, spec->tasks[i].id);
            lua_pushcclosure(L, after_run_index, 1);
            lua_setfield(L, -2, "__index");
            lua_setmetatable(L, -2);
            lua_setfield(L, -2, spec->tasks[i].id);
        }
    }
    lua_pushvalue(L, -1);
    e->outputs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ub_lua_scope_set(e->lua, "outputs");
    if (ub_diag_count(diag) != errs0)
        goto fail;

    /* connections may use params, env and ds; then `profile` joins the scope */
    if (load_conns(e))
        goto fail;
    push_profile(e);
    return e;
oom:
    ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
fail:
    ub_engine_free(e);
    return NULL;
}

void ub_engine_free(ub_engine *e)
{
    if (!e)
        return;
    ub_lake_free(e->lake);
    ub_lua_free(e->lua);
    ub_arena_free(&e->arena);
    ub_free(e);
}

void ub_engine_conn_names(const ub_engine *e, ub_buf *out)
{
    for (size_t i = 0; i < e->nconns; i++)
        ub_buf_addf(out, "%s%s", i ? ", " : "", e->conns[i].name);
    if (!e->nconns)
        ub_buf_adds(out, "none");
}

const char *ub_engine_ds(const ub_engine *e) { return e->ds; }
const char *ub_engine_profile(const ub_engine *e) { return e->profile; }
ub_lua *ub_engine_lua(ub_engine *e) { return e->lua; }
