/* spec.c — load a pipeline spec and check it against the key tables. */
#include "core/spec.h"
#include "base/date.h"
#include "core/schedule.h"
#include "lua/luahost.h"
#include "base/parse.h"
#include "base/strmap.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const ub_conn_fields[] = {
    "dsn", "url", "dialect", "cluster", "iam_role", "region", "scripts", "hdfs", NULL
};

/* A key of a fixed table (top level, defaults, task common keys). */
typedef struct key_def {
    const char *name;
    ub_ptype    type;
    int         required;
} key_def;

static const key_def top_keys[] = {
    { "pipeline", UB_T_STR, 1 }, { "description", UB_T_STR, 0 }, { "start_date", UB_T_STR, 0 },
    { "reports", UB_T_MAP, 0 },                                      /* report/ (man ubpipe-report.5) */
    { "defaults", UB_T_MAP, 0 }, { "params", UB_T_MAP, 0 },     { "profiles", UB_T_MAP, 0 },
    { "tasks", UB_T_MAP, 1 },    { "depends_on_past", UB_T_BOOL, 0 },
    { "lua_path", UB_T_LIST, 0 }, { "lua_grant", UB_T_LIST, 0 },   /* hooks (core/hooks.c) */
    { "schedule", UB_T_STR, 0 },  { "end_date", UB_T_STR, 0 },     /* `ubpipe serve` (core/schedule.c) */
    { "catchup", UB_T_BOOL, 0 },  { "max_active_runs", UB_T_INT, 0 },
    { NULL, 0, 0 }
};

/* scheduling keys: allowed in `defaults` and in every task */
static const key_def sched_keys[] = {
    { "retries", UB_T_INT, 0 },          { "retry_delay", UB_T_DURATION, 0 },
    { "retry_backoff", UB_T_BOOL, 0 },   { "max_retry_delay", UB_T_DURATION, 0 },
    { "timeout", UB_T_DURATION, 0 },     { NULL, 0, 0 }
};

static const key_def task_keys[] = {
    { "op", UB_T_STR, 1 }, { "after", UB_T_LIST, 0 }, { "description", UB_T_STR, 0 },
    /* Lua hooks (interp/core/hooks.c): MODULE.FUNCTION, FILE.lua or Lua code */
    { "on_success", UB_T_STR, 0 }, { "on_failure", UB_T_STR, 0 }, { "on_retry", UB_T_STR, 0 },
    { NULL, 0, 0 }
};


typedef struct loadctx {
    ub_spec *s;
    ub_diag *d;
} loadctx;

static int is_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int takes_prefix(const char *choices)
{
    return choices && strcmp(choices, "object|prefix") == 0;
}

int ub_lakeref_takes_prefix(const ub_param *p)
{
    return p && p->type == UB_T_LAKEREF && takes_prefix(p->choices);
}

/* The key of a lake reference "AREA:KEY" whose area is known: one that ends in '/'
 * (after the last template, if any) names a prefix, an error where an object is
 * required; a literal one is checked as the lake will check it once rendered (ctx.c). */
static int check_lake_key(loadctx *lc, const ub_node *n, const char *choices, const char *what)
{
    const char *colon = strchr(n->str, ':');
    size_t l = strlen(n->str);
    if (l && n->str[l - 1] == '/' && !takes_prefix(choices)) {
        ub_diag_error(lc->d, n->loc, "%s names a lake object, not a prefix: '%s' ends in '/'", what, n->str);
        return -1;
    }
    if (strstr(n->str, "{{"))
        return 0;                                /* checked once rendered */
    if (!colon[1] || (colon[1] == '/' && !colon[2])) {
        ub_diag_error(lc->d, n->loc, "%s: the lake reference '%s' names no key (write AREA:KEY)", what, n->str);
        return -1;
    }
    ub_err err;
    if (ub_lake_ref_relative(n->str, colon, &err)) {
        ub_diag_error(lc->d, n->loc, "%s", err.msg);
        return -1;
    }
    ub_buf key = UB_BUF_INIT;
    ub_buf_add(&key, n->str, (size_t)(colon - n->str));
    ub_buf_addc(&key, '/');
    ub_buf_add(&key, colon + 1, l - (size_t)(colon + 1 - n->str) - (n->str[l - 1] == '/'));
    int rc = 0;
    if (key.err) {
        ub_diag_error(lc->d, n->loc, "out of memory");
        rc = -1;
    } else if (ub_lake_key_check(ub_buf_str(&key), &err)) {
        ub_diag_error(lc->d, n->loc, "%s", err.msg);
        rc = -1;
    }
    ub_buf_free(&key);
    return rc;
}

/* `choices` of a UB_T_MAP whose values may be any node (the top-level mappings, checked
 * entry by entry elsewhere); an operator's UB_T_MAP holds templated strings only. */
static const char map_of_any[] = "any";

/* Checks node against type; `what` names it in messages ("key 'retries'"). */
static int check_type(loadctx *lc, const ub_node *n, ub_ptype t, const char *choices, const char *what)
{
    ub_err err;
    switch (t) {
    case UB_T_STR: case UB_T_PATH: case UB_T_LAKEREF: case UB_T_CONN: case UB_T_ENUM:
        if (n->kind != UB_SCALAR) {
            ub_diag_error(lc->d, n->loc, "%s must be a string, not a %s", what, ub_node_kind_name(n));
            return -1;
        }
        if (t == UB_T_ENUM && choices && !strstr(n->str, "{{")) {
            size_t l = strlen(n->str);
            const char *p = choices;
            int ok = 0;
            while (*p) {
                const char *bar = strchr(p, '|');
                size_t pl = bar ? (size_t)(bar - p) : strlen(p);
                if (pl == l && strncmp(p, n->str, l) == 0)
                    ok = 1;
                p += pl + (bar ? 1 : 0);
            }
            if (!ok) {
                ub_diag_error(lc->d, n->loc, "%s must be one of %s, not '%s'", what, choices, n->str);
                return -1;
            }
        }
        if (t == UB_T_LAKEREF) {
            const char *colon = strchr(n->str, ':');
            const char *tm = strstr(n->str, "{{");
            if (!colon || (tm && tm < colon)) {
                if (!colon) {
                    ub_diag_error(lc->d, n->loc, "%s must be a lake reference AREA:KEY (AREA raw, stage or scripts), not '%s'",
                                  what, n->str);
                    return -1;
                }
                return check_lake_key(lc, n, choices, what);   /* the trailing '/' only */
            }
            size_t al = (size_t)(colon - n->str);
            if (!ub_lake_is_area(n->str, al)) {
                ub_diag_error(lc->d, n->loc, "%s: unknown lake area '%.*s' (areas: raw, stage, scripts)",
                              what, (int)al, n->str);
                return -1;
            }
            return check_lake_key(lc, n, choices, what);
        }
        return 0;
    case UB_T_INT:
        if (n->kind == UB_SCALAR && !n->plain && is_int(n->str)) {
            ub_diag_error(lc->d, n->loc, "%s must be an integer, not the quoted string '%s' (write it without quotes)",
                          what, n->str);
            return -1;
        }
        if (n->kind != UB_SCALAR || !n->plain || !is_int(n->str)) {
            ub_diag_error(lc->d, n->loc, "%s must be an integer, not %s%s%s", what,
                          n->kind == UB_SCALAR ? "'" : "a ", n->kind == UB_SCALAR ? n->str : ub_node_kind_name(n),
                          n->kind == UB_SCALAR ? "'" : "");
            return -1;
        }
        long long v, lo = 0, hi = INT_MAX;
        ub_err perr;
        ub_parse_range(choices, &lo, &hi);                    /* an operator's "MIN..MAX" (op.h) */
        if (ub_parse_dec(n->str, lo, hi, &v, &perr)) {        /* +5, 05, overflow: never taken silently */
            ub_diag_error(lc->d, n->loc, "%s: %s", what, perr.msg);
            return -1;
        }
        return 0;
    case UB_T_BOOL:
        if (n->kind != UB_SCALAR || !n->plain || (strcmp(n->str, "true") && strcmp(n->str, "false"))) {
            ub_diag_error(lc->d, n->loc, "%s must be true or false", what);
            return -1;
        }
        return 0;
    case UB_T_DURATION: {
        double secs;
        if (n->kind != UB_SCALAR) {
            ub_diag_error(lc->d, n->loc, "%s must be a duration (e.g. 90s, 5m, 1h), not a %s", what,
                          ub_node_kind_name(n));
            return -1;
        }
        if (!strstr(n->str, "{{") && ub_duration_parse(n->str, &secs, &err)) {
            ub_diag_error(lc->d, n->loc, "%s: %s", what, err.msg);
            return -1;
        }
        return 0;
    }
    case UB_T_LIST:
        if (n->kind != UB_SEQ) {
            ub_diag_error(lc->d, n->loc, "%s must be a list, not a %s", what, ub_node_kind_name(n));
            return -1;
        }
        for (size_t i = 0; i < n->n; i++)
            if (n->items[i]->kind != UB_SCALAR) {
                ub_diag_error(lc->d, n->items[i]->loc, "%s: items must be strings, not a %s", what,
                              ub_node_kind_name(n->items[i]));
                return -1;
            }
        return 0;
    case UB_T_MAP:
        if (n->kind != UB_MAP) {
            ub_diag_error(lc->d, n->loc, "%s must be a mapping, not a %s", what, ub_node_kind_name(n));
            return -1;
        }
        if (t == UB_T_MAP && choices == map_of_any)
            return 0;
        for (size_t i = 1; i < n->n; i += 2)
            if (n->items[i]->kind != UB_SCALAR) {
                ub_diag_error(lc->d, n->items[i]->loc, "%s: the value of '%s' must be a string, not a %s", what,
                              n->items[i - 1]->str, ub_node_kind_name(n->items[i]));
                return -1;
            }
        return 0;
    }
    return 0;
}

static const key_def *find_key(const key_def *tab, const char *name)
{
    for (; tab && tab->name; tab++)
        if (strcmp(tab->name, name) == 0)
            return tab;
    return NULL;
}

int ub_spec_key_reserved(const char *name)
{
    return find_key(task_keys, name) != NULL || find_key(sched_keys, name) != NULL;
}

static const ub_param *find_param(const ub_param *tab, const char *name)
{
    for (; tab && tab->name; tab++)
        if (strcmp(tab->name, name) == 0)
            return tab;
    return NULL;
}

/* "unknown key 'x' in CONTEXT (did you mean 'y'?)" with candidates from up to
 * three tables. */
static void unknown_key(loadctx *lc, const ub_node *k, const char *context, const key_def *t1,
                        const key_def *t2, const ub_param *t3)
{
    const char *cands[256];
    size_t n = 0;
    for (const key_def *t = t1; t && t->name && n < 250; t++)
        cands[n++] = t->name;
    for (const key_def *t = t2; t && t->name && n < 250; t++)
        cands[n++] = t->name;
    for (const ub_param *t = t3; t && t->name && n < 250; t++)
        cands[n++] = t->name;
    cands[n] = NULL;
    const char *sug = ub_suggest(k->str, cands);
    if (sug)
        ub_diag_error(lc->d, k->loc, "unknown key '%s' in %s (did you mean '%s'?)", k->str, context, sug);
    else
        ub_diag_error(lc->d, k->loc, "unknown key '%s' in %s", k->str, context);
}

static void check_table(loadctx *lc, const ub_node *map, const key_def *tab, const char *context)
{
    for (size_t i = 0; i < map->n; i += 2) {
        const ub_node *k = map->items[i], *v = map->items[i + 1];
        const key_def *kd = find_key(tab, k->str);
        char what[300];
        snprintf(what, sizeof what, "key '%s'", k->str);
        if (!kd)
            unknown_key(lc, k, context, tab, NULL, NULL);
        else
            check_type(lc, v, kd->type, kd->type == UB_T_MAP ? map_of_any : NULL, what);
    }
    for (const key_def *kd = tab; kd->name; kd++)
        if (kd->required && !ub_node_get(map, kd->name))
            ub_diag_error(lc->d, map->loc, "missing required key '%s' in %s", kd->name, context);
}

static double duration_of(const ub_node *n, double def)
{
    double v;
    if (!n || n->kind != UB_SCALAR || ub_duration_parse(n->str, &v, NULL))
        return def;
    return v;
}

/* a declared report: id -> {file, conn, title}; the file itself is checked by report/ (validate) */
static const key_def report_keys[] = {
    { "file", UB_T_STR, 1 }, { "conn", UB_T_STR, 0 }, { "title", UB_T_STR, 0 }, { NULL, 0, 0 }
};

static void check_profiles(loadctx *lc, const ub_node *profiles)
{
    for (size_t i = 0; i < profiles->n; i += 2) {
        const ub_node *pk = profiles->items[i], *pv = profiles->items[i + 1];
        if (pv->kind != UB_MAP) {
            ub_diag_error(lc->d, pv->loc, "profile '%s' must be a mapping of connections, not a %s", pk->str,
                          ub_node_kind_name(pv));
            continue;
        }
        for (size_t j = 0; j < pv->n; j += 2) {
            const ub_node *ck = pv->items[j], *cv = pv->items[j + 1];
            if (cv->kind == UB_SCALAR)
                continue;
            if (cv->kind != UB_MAP) {
                ub_diag_error(lc->d, cv->loc, "connection '%s' of profile '%s' must be a string or a mapping, not a %s",
                              ck->str, pk->str, ub_node_kind_name(cv));
                continue;
            }
            for (size_t f = 0; f < cv->n; f += 2) {
                const ub_node *fk = cv->items[f], *fv = cv->items[f + 1];
                int known = 0;
                for (size_t q = 0; ub_conn_fields[q]; q++)
                    if (strcmp(ub_conn_fields[q], fk->str) == 0)
                        known = 1;
                if (!known) {
                    const char *sug = ub_suggest(fk->str, ub_conn_fields);
                    if (sug)
                        ub_diag_error(lc->d, fk->loc, "unknown key '%s' in connection '%s' (did you mean '%s'?)",
                                      fk->str, ck->str, sug);
                    else
                        ub_diag_error(lc->d, fk->loc, "unknown key '%s' in connection '%s'", fk->str, ck->str);
                } else if (strcmp(fk->str, "scripts") == 0) {
                    if (fv->kind != UB_MAP)
                        ub_diag_error(lc->d, fv->loc, "'scripts' must map script names to built-ins");
                    for (size_t q = 1; fv->kind == UB_MAP && q < fv->n; q += 2)
                        if (fv->items[q]->kind != UB_SCALAR)
                            ub_diag_error(lc->d, fv->items[q]->loc,
                                          "script '%s' of connection '%s' must name a built-in (a string), not a %s",
                                          fv->items[q - 1]->str, ck->str, ub_node_kind_name(fv->items[q]));
                } else if (fv->kind != UB_SCALAR) {
                    ub_diag_error(lc->d, fv->loc, "connection field '%s' must be a string, not a %s", fk->str,
                                  ub_node_kind_name(fv));
                } else if (strcmp(fk->str, "dialect") == 0 && strcmp(fv->str, "postgres") &&
                           strcmp(fv->str, "redshift")) {
                    ub_diag_error(lc->d, fv->loc, "dialect must be postgres or redshift, not '%s'", fv->str);
                }
            }
        }
    }
}

static void load_task(loadctx *lc, ub_task *t, const ub_node *defaults)
{
    const ub_node *b = t->body;
    char ctx[300];
    snprintf(ctx, sizeof ctx, "task '%s'", t->id);
    if (b->kind != UB_MAP) {
        ub_diag_error(lc->d, b->loc, "task '%s' must be a mapping with at least 'op', not a %s", t->id,
                      ub_node_kind_name(b));
        return;
    }
    const ub_node *opn = ub_node_get(b, "op");
    if (!opn) {
        ub_diag_error(lc->d, t->loc, "missing required key 'op' in task '%s'", t->id);
    } else if (opn->kind != UB_SCALAR) {
        ub_diag_error(lc->d, opn->loc, "key 'op' must be a string, not a %s", ub_node_kind_name(opn));
    } else if (!(t->op = ub_op_find(opn->str))) {
        const char *names[128];
        size_t n = 0;
        for (const ub_opdesc *const *o = ub_op_all(); *o && n < 127; o++)
            names[n++] = (*o)->name;
        names[n] = NULL;
        const char *sug = ub_suggest(opn->str, names);
        if (sug)
            ub_diag_error(lc->d, opn->loc, "unknown operator '%s' (did you mean '%s'?)", opn->str, sug);
        else
            ub_diag_error(lc->d, opn->loc, "unknown operator '%s' (see 'ubpipe help')", opn->str);
    }
    const ub_param *params = t->op ? t->op->params : NULL;
    for (size_t i = 0; i < b->n; i += 2) {
        const ub_node *k = b->items[i], *v = b->items[i + 1];
        char what[300];
        snprintf(what, sizeof what, "key '%s'", k->str);
        const key_def *kd = find_key(task_keys, k->str);
        if (!kd)
            kd = find_key(sched_keys, k->str);
        if (kd) {
            if (strcmp(k->str, "after") == 0)
                continue;                  /* an id or a list of ids: checked by ub_dag_build */
            if (kd->type != UB_T_STR && v->kind == UB_SCALAR && strstr(v->str, "{{")) {
                ub_diag_error(lc->d, v->loc, "key '%s' is read before templates are rendered; write a value",
                              k->str);
                continue;
            }
            if (strcmp(k->str, "op") != 0)
                check_type(lc, v, kd->type, NULL, what);
            continue;
        }
        const ub_param *p = find_param(params, k->str);
        if (p) {
            check_type(lc, v, p->type, p->choices, what);
            continue;
        }
        if (t->op || !opn)
            unknown_key(lc, k, ctx, task_keys, sched_keys, params);
    }
    for (const ub_param *p = params; p && p->name; p++)
        if (p->required && !ub_node_get(b, p->name))
            ub_diag_error(lc->d, t->loc, "missing required key '%s' in task '%s' (operator %s)", p->name, t->id,
                          t->op->name);

    /* scheduling settings: task, then defaults, then built-in */
    const ub_node *n;
#define PICK(key) ((n = ub_node_get(b, key)) ? n : ub_node_get(defaults, key))
    long long retries = 0;   /* checked by check_type: an integer from 0 to INT_MAX */
    if ((n = PICK("retries")) && n->kind == UB_SCALAR && ub_parse_dec(n->str, 0, INT_MAX, &retries, NULL))
        retries = 0;
    t->retries = (int)retries;
    t->retry_delay = duration_of(PICK("retry_delay"), 60);
    t->max_retry_delay = duration_of(PICK("max_retry_delay"), 600);
    t->timeout = duration_of(PICK("timeout"), 0);
    t->retry_backoff = (n = PICK("retry_backoff")) && n->kind == UB_SCALAR && strcmp(n->str, "true") == 0;
#undef PICK
}

static void load_tasks(loadctx *lc, const ub_node *tasks)
{
    ub_spec *s = lc->s;
    size_t n = tasks->n / 2;
    if (n == 0) {
        ub_diag_error(lc->d, tasks->loc, "'tasks' is empty; a pipeline needs at least one task");
        return;
    }
    s->tasks = ub_arena_alloc(&s->arena, n * sizeof *s->tasks);
    if (!s->tasks) {
        ub_diag_error(lc->d, tasks->loc, "out of memory");
        return;
    }
    s->ntasks = n;
    for (size_t i = 0; i < n; i++) {
        ub_task *t = &s->tasks[i];
        const ub_node *k = tasks->items[2 * i];
        t->id = k->str;
        t->loc = k->loc;
        t->body = tasks->items[2 * i + 1];
        t->index = i;
        const char *p = t->id;
        int ok = *p != '\0';
        for (; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '_' || *p == '-' || *p == '.'))
                ok = 0;
        if (!ok)
            ub_diag_error(lc->d, k->loc, "task id '%s' may only hold letters, digits, '_', '-' and '.'", t->id);
        load_task(lc, t, s->defaults);
    }
}

/* Absolute directory of path. */
static const char *abs_dir(ub_arena *a, const char *path)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(path, '/');
    ub_buf b = UB_BUF_INIT;
    const char *out = NULL;
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        ub_buf_adds(&b, cwd);
        if (slash) {
            ub_buf_addc(&b, '/');
            ub_buf_add(&b, path, (size_t)(slash - path));
        }
    } else {
        ub_buf_add(&b, path, slash == path ? 1 : (size_t)(slash - path));
    }
    if (!b.err)
        out = ub_arena_strndup(a, ub_buf_str(&b), b.len);
    ub_buf_free(&b);
    return out;
}

ub_spec *ub_spec_load(const char *path, ub_diag *d)
{
    ub_spec *s = ub_calloc(1, sizeof *s);
    if (!s) {
        ub_diag_error(d, (ub_loc){ path, 0, 0 }, "out of memory");
        return NULL;
    }
    size_t errs0 = ub_diag_count(d);
    loadctx lc = { s, d };
    s->path = ub_arena_strdup(&s->arena, path);
    s->dir = abs_dir(&s->arena, path);
    if (!s->path || !s->dir) {
        ub_diag_error(d, (ub_loc){ path, 0, 0 }, "out of memory");
        goto fail;
    }
    s->root = ub_yaml_load_file(path, s->path, &s->arena, d, NULL);
    if (!s->root)
        goto fail;
    if (s->root->kind != UB_MAP) {
        ub_diag_error(d, s->root->loc, "a pipeline spec is a mapping with 'pipeline' and 'tasks', not a %s",
                      ub_node_kind_name(s->root));
        goto fail;
    }
    check_table(&lc, s->root, top_keys, "the pipeline spec");
    const ub_node *n = ub_node_get(s->root, "pipeline");
    s->pipeline = n && n->kind == UB_SCALAR ? n->str : NULL;
    if (s->pipeline) {
        for (const char *p = s->pipeline; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '_' || *p == '-')) {
                ub_diag_error(d, n->loc, "pipeline name '%s' may only hold letters, digits, '_' and '-'",
                              s->pipeline);
                break;
            }
    }
    n = ub_node_get(s->root, "description");
    s->description = n && n->kind == UB_SCALAR ? n->str : NULL;
    n = ub_node_get(s->root, "start_date");
    if (n && n->kind == UB_SCALAR) {
        ub_date dt;
        ub_err err;
        if (ub_date_parse(n->str, &dt, &err))
            ub_diag_error(d, n->loc, "start_date: %s", err.msg);
        s->start_date = n->str;
    }
    s->catchup = 1;
    s->sched_minute = -1;
    n = ub_node_get(s->root, "end_date");
    if (n && n->kind == UB_SCALAR) {
        ub_date dt;
        ub_err err;
        if (ub_date_parse(n->str, &dt, &err))
            ub_diag_error(d, n->loc, "end_date: %s", err.msg);
        else if (s->start_date && strcmp(n->str, s->start_date) < 0)
            ub_diag_error(d, n->loc, "end_date %s is before start_date %s", n->str, s->start_date);
        s->end_date = n->str;
    }
    n = ub_node_get(s->root, "schedule");
    if (n && n->kind == UB_SCALAR) {
        ub_err err;
        if (ub_schedule_parse(n->str, &s->sched_minute, &err))
            ub_diag_error(d, n->loc, "schedule: %s", err.msg);
        else if (!s->start_date)
            ub_diag_error(d, n->loc, "a schedule needs a start_date (the first ds it runs)");
        s->schedule = n->str;
    }
    n = ub_node_get(s->root, "catchup");
    if (n && n->kind == UB_SCALAR)
        s->catchup = strcmp(n->str, "false") != 0;
    n = ub_node_get(s->root, "max_active_runs");
    if (n && n->kind == UB_SCALAR)
    {
        long long v = 0;                      /* checked as UB_T_INT by check_table */
        if (ub_parse_dec(n->str, 0, INT_MAX, &v, NULL) == 0)
            s->max_active_runs = (int)v;
    }
    n = ub_node_get(s->root, "lua_grant");
    for (size_t i = 0; n && n->kind == UB_SEQ && i < n->n; i++) {
        ub_err err;
        if (n->items[i]->kind == UB_SCALAR && ub_lua_grant_check(n->items[i]->str, &err))
            ub_diag_error(d, n->items[i]->loc, "lua_grant: %s", err.msg);
    }
    s->defaults = ub_node_get(s->root, "defaults");
    if (s->defaults && s->defaults->kind == UB_MAP)
        check_table(&lc, s->defaults, sched_keys, "'defaults'");
    else
        s->defaults = NULL;
    s->params = ub_node_get(s->root, "params");
    if (s->params && s->params->kind != UB_MAP)
        s->params = NULL;
    s->profiles = ub_node_get(s->root, "profiles");
    if (s->profiles && s->profiles->kind == UB_MAP)
        check_profiles(&lc, s->profiles);
    else
        s->profiles = NULL;
    n = ub_node_get(s->root, "reports");
    for (size_t i = 0; n && n->kind == UB_MAP && i < n->n; i += 2) {
        char what[300];
        snprintf(what, sizeof what, "report '%s'", n->items[i]->str);
        if (n->items[i + 1]->kind == UB_MAP)
            check_table(&lc, n->items[i + 1], report_keys, what);
        else
            ub_diag_error(d, n->items[i + 1]->loc, "%s must be a mapping {file: ..., conn: ..., title: ...}, not a %s",
                          what, ub_node_kind_name(n->items[i + 1]));
    }
    s->tasks_node = ub_node_get(s->root, "tasks");
    if (s->tasks_node && s->tasks_node->kind == UB_MAP)
        load_tasks(&lc, s->tasks_node);
    if (s->tasks) {
        ub_spec_check_needs(s, d);
        ub_dag_build(s, d);
    }
    if (ub_diag_count(d) != errs0)
        goto fail;
    return s;
fail:
    ub_spec_free(s);
    return NULL;
}

void ub_spec_free(ub_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ntasks; i++)
        ub_free(s->tasks[i].after), ub_free(s->tasks[i].after_nodes);
    ub_free(s->order);
    ub_arena_free(&s->arena);
    ub_free(s);
}
