/* fingerprint.c — the fingerprint of a task (what it read) and the run/skip
 * decision taken from it; see fingerprint.h for the components. */
#include "core/fingerprint.h"
#include "base/jtext.h"
#include "io/chash.h"
#include "io/fsutil.h"
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int ub_fp_file_hash(const char *path, char out[UB_CHASH_HEX + 1])
{
    unsigned char buf[65536];
    const char *bad;
    int rc = -1, fd = ub_open_regular(path, &bad);    /* never blocks on a FIFO */
    ub_chash *m = ub_chash_new();
    ssize_t got;
    if (fd < 0 || !m)
        goto out;
    while ((got = read(fd, buf, sizeof buf)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto out;
        ub_chash_update(m, buf, (size_t)got);
    }
    ub_chash_hex(m, out);
    rc = 0;
out:
    ub_chash_free(m);
    if (fd >= 0)
        close(fd);
    return rc;
}

static char *masked(const char *s)
{
    ub_buf b = UB_BUF_INIT;
    ub_secret_mask(s, &b);
    return ub_buf_detach(&b, NULL);
}

static void set_masked(json_t *o, const char *k, const char *v)
{
    char *m = masked(v);
    json_object_set_new(o, k, ub_jtext(m ? m : ""));
    ub_free(m);
}

/* A conninfo (keywords or URI) without its passwords, keywords in order. */
static char *conninfo_identity(const char *dsn)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    ub_buf b = UB_BUF_INIT;
    if (!opts) {
        PQfreemem(errmsg);
        return masked(dsn);
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val || strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0)
            continue;
        ub_buf_addf(&b, "%s%s=%s", b.len ? " " : "", o->keyword, o->val);
    }
    PQconninfoFree(opts);
    return ub_buf_detach(&b, NULL);
}

static json_t *conn_identity(const ub_conn *cn)
{
    json_t *o = json_object();
    for (size_t i = 0; i < cn->nfields; i++) {
        const char *k = cn->fields[i].key, *v = cn->fields[i].val;
        if (!v)
            continue;
        if (strcmp(k, "dsn") == 0 || (strcmp(k, "url") != 0 && strchr(v, '=') && strstr(v, "dbname"))) {
            char *id = conninfo_identity(v);
            json_object_set_new(o, k, ub_jtext(id ? id : ""));
            ub_free(id);
        } else {
            set_masked(o, k, v);
        }
    }
    for (size_t i = 0; i < cn->nscripts; i++) {
        char key[300];
        snprintf(key, sizeof key, "scripts.%s", cn->scripts[i].key);
        json_object_set_new(o, key, ub_jtext(cn->scripts[i].val ? cn->scripts[i].val : ""));
    }
    return o;
}

static const ub_conn *find_conn(const ub_engine *e, const char *name)
{
    for (size_t i = 0; i < e->nconns; i++)
        if (strcmp(e->conns[i].name, name) == 0)
            return &e->conns[i];
    return NULL;
}

/* The lake URL of the profile (the "lake" connection's main field). */
static const char *lake_url(const ub_engine *e)
{
    const ub_conn *cn = find_conn(e, "lake");
    for (size_t i = 0; cn && cn->main && i < cn->nfields; i++)
        if (strcmp(cn->fields[i].key, cn->main) == 0)
            return cn->fields[i].val;
    return NULL;
}

static int under(const char *path, const char *dir)
{
    size_t l = dir ? strlen(dir) : 0;
    return l && strncmp(path, dir, l) == 0 && (path[l] == '/' || path[l] == '\0');
}

/* The recorded components of task id, parsed (a new reference), or NULL. */
static json_t *recorded(const ub_journal *j, const char *id)
{
    const ub_jtask *jt = j ? ub_journal_task(j, id) : NULL;
    return jt && jt->fp ? json_loads(jt->fp, 0, NULL) : NULL;
}

static int has_braces(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '{' && p[i + 1] == '{')
            return 1;
    return 0;
}

/* Adds to pp the value of every pipeline parameter "params.NAME" that text
 * (a template) names, so a reason can say `param NAME: "a" → "b"`. */
static void note_params(ub_opctx *c, const char *text, size_t len, json_t *pp)
{
    const char *p = text, *end = text + len;
    while (p + 7 < end) {
        const char *q = memchr(p, 'p', (size_t)(end - p));
        if (!q || q + 7 >= end)
            break;
        p = q + 1;
        if (strncmp(q, "params.", 7) != 0 || (q > text && (q[-1] == '_' || q[-1] == '.' ||
                                                          (q[-1] >= 'a' && q[-1] <= 'z'))))
            continue;
        size_t l = 0;
        const char *n = q + 7;
        while (n + l < end && (n[l] == '_' || (n[l] >= 'a' && n[l] <= 'z') || (n[l] >= 'A' && n[l] <= 'Z') ||
                               (n[l] >= '0' && n[l] <= '9')))
            l++;
        if (!l || l > 100)
            continue;
        char name[128], expr[160];
        memcpy(name, n, l);
        name[l] = '\0';
        if (json_object_get(pp, name))
            continue;
        snprintf(expr, sizeof expr, "{{ params.%s }}", name);
        const char *v = ub_op_render(c, expr, "a parameter's value");
        if (v)
            set_masked(pp, name, v);
    }
}

/* One file input: content hash, and the rendered template's hash. */
static json_t *file_component(ub_opctx *c, const char *path, const json_t *old, json_t *pp)
{
    json_t *f = json_object();
    struct stat st;
    char h[65], sb[96];
    json_object_set_new(f, "path", ub_jtext(path));
    if (stat(path, &st)) {
        json_object_set_new(f, "hash", ub_jtext("missing"));
        return f;
    }
    if (!S_ISREG(st.st_mode)) {
        /* a FIFO, a device: reading it here would take bytes from the task,
         * and its content cannot be known in advance, so it always counts as changed */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        snprintf(sb, sizeof sb, "not-a-file:%lld.%09ld", (long long)now.tv_sec, now.tv_nsec);
        json_object_set_new(f, "hash", ub_jtext(sb));
        return f;
    }
    snprintf(sb, sizeof sb, "%lld:%lld.%09ld:%llu", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
    json_object_set_new(f, "stat", ub_jtext(sb));
    if ((uint64_t)st.st_size > UB_FP_SMALL) {
        /* large (a data file): no extra read; the same size, mtime and inode
         * keep the content hash the streaming try reported */
        const char *os = json_string_value(json_object_get(old, "stat"));
        const char *oh = json_string_value(json_object_get(old, "hash"));
        const char *op = json_string_value(json_object_get(old, "path"));
        if (os && oh && op && strcmp(os, sb) == 0 && strcmp(op, path) == 0) {
            json_object_set_new(f, "hash", ub_jtext(oh));
        } else {
            char id[128];
            snprintf(id, sizeof id, "stat:%s", sb);
            json_object_set_new(f, "hash", ub_jtext(id));
        }
        return f;
    }
    ub_buf text = UB_BUF_INIT;
    const char *bad;
    int ifd = ub_open_regular(path, &bad);
    FILE *in = ifd >= 0 ? fdopen(ifd, "rb") : NULL;
    if (!in && ifd >= 0)
        close(ifd);
    char chunk[65536];
    size_t got;
    if (!in) {
        json_object_set_new(f, "hash", ub_jtext("unreadable"));
        return f;
    }
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0)
        ub_buf_add(&text, chunk, got);
    fclose(in);
    ub_chash_mem(text.p ? text.p : "", text.len, h);
    json_object_set_new(f, "hash", ub_jtext(h));
    if (text.len && has_braces(text.p, text.len)) {
        /* a template: what it renders to at this ds counts too */
        ub_buf z = UB_BUF_INIT;
        ub_buf_add(&z, text.p, text.len);
        const char *r = z.err ? NULL : ub_op_render(c, ub_buf_str(&z), path);
        ub_buf_free(&z);
        if (r) {
            ub_chash_mem(r, strlen(r), h);
            json_object_set_new(f, "rendered", ub_jtext(h));
        }
        note_params(c, text.p, text.len, pp);
    }
    ub_buf_free(&text);
    return f;
}

/* Hash of what an upstream task left: its fingerprint and its outputs. */
static void upstream_hash(const ub_journal *j, const char *id, char out[65])
{
    const ub_jtask *jt = j ? ub_journal_task(j, id) : NULL;
    json_t *o = json_object(), *outs = json_object();
    if (jt && jt->fp) {
        json_t *fp = json_loads(jt->fp, 0, NULL);
        char h[65];
        if (fp) {
            ub_fp_hash(fp, h);
            json_object_set_new(o, "fp", ub_jtext(h));
            json_decref(fp);
        }
    }
    for (size_t i = 0; jt && i < jt->nout; i++)
        json_object_set_new(outs, jt->outputs[i].key, ub_jtext(jt->outputs[i].val ? jt->outputs[i].val : ""));
    json_object_set_new(o, "outputs", outs);
    char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    ub_chash_mem(txt ? txt : "", txt ? strlen(txt) : 0, out);
    ub_free(txt);
    json_decref(o);
}

json_t *ub_fp_compute(ub_engine *e, ub_task *t, const ub_journal *j, const char **why)
{
    ub_opctx *c = ub_ctx_new(e, t, 1);
    json_t *fp = NULL, *params, *files, *conns, *up, *pp, *old = NULL;
    char opv[200];
    *why = "out of memory";
    if (!c)
        return NULL;
    old = recorded(j, t->id);
    fp = json_object();
    params = json_object();
    files = json_object();
    conns = json_object();
    up = json_object();
    pp = json_object();
    snprintf(opv, sizeof opv, "%s %s", t->op->name, UB_VERSION);
    json_object_set_new(fp, "op", ub_jtext(opv));
    for (const ub_param *p = t->op->params; p && p->name; p++) {
        if (!ub_op_has(c, p->name))
            continue;
        if (p->type == UB_T_LIST) {
            json_t *a = json_array();
            for (size_t i = 0; i < ub_op_list_len(c, p->name); i++) {
                const char *v = ub_op_list_item(c, p->name, i);
                char *m = v ? masked(v) : NULL;
                json_array_append_new(a, ub_jtext(m ? m : ""));
                ub_free(m);
            }
            json_object_set_new(params, p->name, a);
            continue;
        }
        if (p->type == UB_T_MAP) {
            json_t *m = json_object();
            for (size_t i = 0; i < ub_op_map_len(c, p->name); i++) {
                const char *k = ub_op_map_key(c, p->name, i), *v = ub_op_map_val(c, p->name, i);
                if (k && v)
                    set_masked(m, k, v);
            }
            json_object_set_new(params, p->name, m);
            continue;
        }
        const ub_node *pn = ub_node_get(t->body, p->name);
        if (pn && pn->kind == UB_SCALAR && pn->str)
            note_params(c, pn->str, pn->len, pp);
        const char *v = ub_op_str(c, p->name);
        if (!v)
            continue;
        set_masked(params, p->name, v);
        if (p->type == UB_T_PATH && !under(v, e->workdir)) {
            /* files under the workdir are what upstream tasks (or this one)
             * write: covered by the upstream component */
            json_t *of = json_object_get(json_object_get(old, "files"), p->name);
            json_object_set_new(files, p->name, file_component(c, v, of, pp));
        }
        if (p->type == UB_T_CONN) {
            const ub_conn *cn = find_conn(e, v);
            if (cn)
                json_object_set_new(conns, v, conn_identity(cn));
        }
    }
    const char *lu = lake_url(e);
    if (lu) {
        char *m = masked(lu);
        json_object_set_new(conns, "lake", ub_jtext(m ? m : ""));
        ub_free(m);
    }
    for (size_t i = 0; i < t->nafter; i++) {
        char h[65];
        const char *uid = e->spec->tasks[t->after[i]].id;
        upstream_hash(j, uid, h);
        json_object_set_new(up, uid, ub_jtext(h));
    }
    json_object_set_new(fp, "params", params);
    json_object_set_new(fp, "pipeline_params", pp);
    json_object_set_new(fp, "files", files);
    json_object_set_new(fp, "conns", conns);
    json_object_set_new(fp, "upstream", up);
    if (*ub_ctx_error(c)) {
        *why = "a parameter does not render";
        json_decref(fp);
        fp = NULL;
    }
    json_decref(old);
    ub_ctx_free(c);
    return fp;
}

void ub_fp_hash(const json_t *fp, char out[UB_CHASH_HEX + 1])
{
    json_t *copy = json_deep_copy(fp);
    json_t *files = json_object_get(copy, "files"), *f;
    const char *k;
    json_object_foreach(files, k, f)
        json_object_del(f, "stat");
    char *txt = copy ? json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    ub_chash_mem(txt ? txt : "", txt ? strlen(txt) : 0, out);
    ub_free(txt);
    json_decref(copy);
}

/* The pipeline parameter a task parameter's YAML text names, if exactly one
 * "params.NAME" appears in it; else NULL.  Written into name. */
static const char *param_ref(const ub_task *t, const char *key, char *name, size_t cap)
{
    const ub_node *n = ub_node_get(t->body, key);
    if (!n || n->kind != UB_SCALAR || !n->str)
        return NULL;
    const char *p = strstr(n->str, "params.");
    if (!p || strstr(p + 7, "params."))
        return NULL;
    p += 7;
    size_t l = 0;
    while (p[l] && (p[l] == '_' || (p[l] >= 'a' && p[l] <= 'z') || (p[l] >= 'A' && p[l] <= 'Z') ||
                    (p[l] >= '0' && p[l] <= '9')))
        l++;
    if (!l || l >= cap)
        return NULL;
    memcpy(name, p, l);
    name[l] = '\0';
    return name;
}

/* json_equal, with two absent values equal */
static int eq(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

static void quoted(ub_buf *b, const json_t *v)
{
    char *txt = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (!txt) {
        ub_buf_adds(b, "(none)");
        return;
    }
    if (strlen(txt) > 80)
        ub_buf_addf(b, "%.77s…", txt);
    else
        ub_buf_adds(b, txt);
    ub_free(txt);
}

/* A path as shown: relative to the current directory when inside it. */
static void shown_path(ub_buf *b, const char *path)
{
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && under(path, cwd) && path[strlen(cwd)] == '/')
        ub_buf_adds(b, path + strlen(cwd) + 1);
    else
        ub_buf_adds(b, path);
}

char *ub_fp_diff(ub_engine *e, ub_task *t, const json_t *old, const json_t *now)
{
    ub_buf b = UB_BUF_INIT;
    const char *k;
    json_t *v;
    char name[128];
    (void)e;
    if (!eq(json_object_get(old, "op"), json_object_get(now, "op"))) {
        ub_buf_adds(&b, "operator changed (");
        quoted(&b, json_object_get(old, "op"));
        ub_buf_adds(&b, " → ");
        quoted(&b, json_object_get(now, "op"));
        ub_buf_addc(&b, ')');
        goto out;
    }
    const json_t *opp = json_object_get(old, "pipeline_params"), *npp = json_object_get(now, "pipeline_params");
    json_object_foreach((json_t *)npp, k, v) {
        const json_t *o = json_object_get(opp, k);
        if (!o || eq(o, v))
            continue;
        ub_buf_addf(&b, "param %s: ", k);
        quoted(&b, o);
        ub_buf_adds(&b, " → ");
        quoted(&b, v);
        goto out;
    }
    const json_t *op = json_object_get(old, "params"), *np = json_object_get(now, "params");
    for (int pass = 0; pass < 2; pass++) {
        const json_t *a = pass ? op : np, *z = pass ? np : op;
        json_object_foreach((json_t *)a, k, v) {
            if (eq(v, json_object_get(z, k)))
                continue;
            const char *ref = param_ref(t, k, name, sizeof name);
            ub_buf_addf(&b, "param %s: ", ref ? ref : k);
            quoted(&b, json_object_get(op, k));
            ub_buf_adds(&b, " → ");
            quoted(&b, json_object_get(np, k));
            goto out;
        }
    }
    const json_t *of = json_object_get(old, "files"), *nf = json_object_get(now, "files");
    json_object_foreach((json_t *)nf, k, v) {
        const json_t *o = json_object_get(of, k);
        int same = o && eq(json_object_get(o, "hash"), json_object_get(v, "hash"));
        int same_r = o && eq(json_object_get(o, "rendered"), json_object_get(v, "rendered"));
        if (same && same_r)
            continue;
        const char *ref = param_ref(t, k, name, sizeof name);
        if (ref)
            ub_buf_addf(&b, "input changed (%s: content)", ref);
        else {
            shown_path(&b, json_string_value(json_object_get(v, "path")) ? json_string_value(json_object_get(v, "path"))
                                                                        : k);
            ub_buf_adds(&b, same ? " renders differently" : " changed");
        }
        goto out;
    }
    json_object_foreach((json_t *)of, k, v)
        if (!json_object_get(nf, k)) {
            ub_buf_addf(&b, "input %s removed", k);
            goto out;
        }
    const json_t *oc = json_object_get(old, "conns"), *nc = json_object_get(now, "conns");
    for (int pass = 0; pass < 2; pass++) {
        const json_t *a = pass ? oc : nc, *z = pass ? nc : oc;
        json_object_foreach((json_t *)a, k, v) {
            if (eq(v, json_object_get(z, k)))
                continue;
            ub_buf_addf(&b, "connection %s changed", k);
            goto out;
        }
    }
    const json_t *ou = json_object_get(old, "upstream"), *nu = json_object_get(now, "upstream");
    if (!eq(ou, nu)) {
        json_object_foreach((json_t *)nu, k, v)
            if (!eq(v, json_object_get(ou, k))) {
                ub_buf_addf(&b, "upstream changed (%s output)", k);
                goto out;
            }
        ub_buf_adds(&b, "upstream changed");
        goto out;
    }
    ub_buf_free(&b);
    return NULL;
out:
    return ub_buf_detach(&b, NULL);
}

static char *join(const char *a, const char *b, const char *c)
{
    ub_buf out = UB_BUF_INIT;
    ub_buf_adds(&out, a);
    ub_buf_adds(&out, b);
    ub_buf_adds(&out, c);
    return ub_buf_detach(&out, NULL);
}

int ub_fp_decide(ub_engine *e, const ub_journal *j, const char *force, ub_fp_decision *out, int *legacy)
{
    ub_spec *s = e->spec;
    *legacy = 0;
    memset(out, 0, s->ntasks * sizeof *out);
    for (size_t k = 0; k < s->ntasks; k++) {
        ub_task *t = &s->tasks[s->order[k]];
        ub_fp_decision *d = &out[t->index];
        const ub_jtask *jt = ub_journal_task(j, t->id);
        d->action = UB_FP_RUN;
        if (force && force[t->index]) {
            d->reason = ub_strdup("forced (--rerun)");
            continue;
        }
        size_t u;
        for (u = 0; u < t->nafter; u++)
            if (out[t->after[u]].action == UB_FP_RUN)
                break;
        if (u < t->nafter) {
            d->reason = join("upstream changed (", s->tasks[t->after[u]].id, " runs)");
            continue;
        }
        if (!jt) {
            d->reason = ub_strdup("never ran");
            continue;
        }
        if (!jt->state || strcmp(jt->state, "success") != 0) {
            d->reason = join("not successful yet (", jt->state ? jt->state : "no state", ")");
            continue;
        }
        if (!jt->fp) {
            *legacy = 1;
            d->reason = ub_strdup("no fingerprint recorded");
            continue;
        }
        const char *why = NULL;
        json_t *now = ub_fp_compute(e, t, j, &why), *old = json_loads(jt->fp, 0, NULL);
        if (!now || !old) {
            d->reason = join("cannot fingerprint: ", now ? "the recorded fingerprint does not read" : why, "");
        } else {
            d->reason = ub_fp_diff(e, t, old, now);
            if (!d->reason) {
                d->action = UB_FP_SKIP;
                d->reason = ub_strdup("up to date");
                ub_engine_publish_journaled(e, t, jt->outputs, jt->out_masked, jt->nout);
            }
        }
        json_decref(now);
        json_decref(old);
        if (!d->reason)
            return -1;
    }
    return 0;
}

void ub_fp_decisions_free(ub_fp_decision *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        ub_free(d[i].reason);
}

void ub_fp_merge_inputs(json_t *fp, const json_t *inputs)
{
    json_t *files = json_object_get(fp, "files"), *v;
    const char *k;
    json_object_foreach((json_t *)inputs, k, v) {
        json_t *f = json_object_get(files, k);
        if (f && json_is_string(v))
            json_object_set(f, "hash", v);
    }
}
