/* serve.c — the `ubpipe serve` daemon: pipelines, the journal view, the
 * scheduler tick and the run children (see serve.h).
 *
 * Everything comes from the journal that `ubpipe run` writes; the daemon
 * keeps only a cache of each journal's size, mtime and derived state,
 * rescanned every tick.  Runs are children exec'ing this same binary
 * (`ubpipe run FILE --ds D -q`), so the journal, the per-(pipeline, ds)
 * lock and resume are exactly those of the CLI. */
#include "web/serve.h"
#include "base/date.h"
#include "base/mem.h"
#include "base/secret.h"
#include "core/engine.h"
#include "core/journal.h"
#include "core/schedule.h"
#include "io/stream.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One ds with a journal (or a pending request). */
typedef struct run_ent {
    char      ds[11];
    long      day;
    long long size, mtime_ns;
    const char *state;      /* static string; NULL = none yet */
} run_ent;

typedef struct pipe_t {
    ub_serve_pipeline pub;
    long long spec_mtime_ns;
    run_ent  *runs;         /* ascending by ds */
    size_t    nruns;
    const char **dslist;    /* ds of runs, for ub_serve_run_list */
    size_t    waiting;      /* due, not started (metrics) */
    unsigned long long gen; /* bumped by every event and spec reload: report cache entries older are stale */
} pipe_t;

typedef struct child_t {
    pid_t  pid;
    size_t pipe;
    char   ds[11];
} child_t;

typedef struct req_t {
    size_t pipe;
    char   ds[11];
    char  *only;
    int    downstream;
} req_t;

/* One cached report: both pages from one set of query results. */
#define RC_SLOTS 32
typedef struct rcache_t {
    char  *key;             /* pipeline NUL report NUL ds NUL params, as one string with \x1f separators */
    size_t pipe;
    unsigned long long gen, used;
    ub_buf live, file;
} rcache_t;

#define EV_RING 256
#define RUNS_LOG_MAX ((off_t)8 << 20)   /* bytes of STATE/serve/runs.log before it is rotated */
typedef struct event_t {
    unsigned long long seq;
    char *json;
} event_t;

struct ub_serve {
    pthread_mutex_t mu;
    pthread_cond_t  ev_cond;
    char   *state_dir, *self_exe;
    int     read_only, scheduler;
    volatile int stopping;
    pipe_t *p;
    size_t  n;
    child_t *kids;
    size_t   nkids;
    req_t   *reqs;
    size_t   nreqs;
    event_t  ev[EV_RING];
    unsigned long long ev_seq;
    double   last_tick;
    unsigned long long runs_started;
    pthread_mutex_t rc_mu, render_mu;
    rcache_t rc[RC_SLOTS];
    unsigned long long rc_clock, rc_hits, rc_misses, rc_renders, rc_errors;
};

const char *ub_serve_state_dir(const ub_serve *s) { return s->state_dir; }
int ub_serve_read_only(const ub_serve *s) { return s->read_only; }
size_t ub_serve_npipelines(const ub_serve *s) { return s->n; }
ub_serve_pipeline *ub_serve_pipeline_at(ub_serve *s, size_t i) { return i < s->n ? &s->p[i].pub : NULL; }
void ub_serve_lock(ub_serve *s) { pthread_mutex_lock(&s->mu); }
void ub_serve_unlock(ub_serve *s) { pthread_mutex_unlock(&s->mu); }
int ub_serve_stopping(ub_serve *s) { return s->stopping; }

ub_serve_pipeline *ub_serve_find(ub_serve *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (s->p[i].pub.name && strcmp(s->p[i].pub.name, name) == 0)
            return &s->p[i].pub;
    return NULL;
}

static size_t pipe_index(ub_serve *s, ub_serve_pipeline *p) { return (size_t)((pipe_t *)p - s->p); }

ub_serve *ub_serve_new(const char *state_dir, const char *self_exe, int read_only, int scheduler, ub_err *err)
{
    ub_serve *s = ub_calloc(1, sizeof *s);
    if (!s) {
        ub_err_oom(err);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->ev_cond, NULL);
    pthread_mutex_init(&s->rc_mu, NULL);
    pthread_mutex_init(&s->render_mu, NULL);
    s->state_dir = ub_strdup(state_dir);
    s->self_exe = ub_strdup(self_exe);
    s->read_only = read_only;
    s->scheduler = scheduler;
    if (!s->state_dir || !s->self_exe) {
        ub_err_oom(err);
        ub_serve_free(s);
        return NULL;
    }
    return s;
}

static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Loads a spec; on error the diagnostics text (owned) in *errtext. */
static ub_spec *load_spec(const char *path, char **errtext)
{
    ub_diag d;
    ub_diag_init(&d);
    ub_spec *sp = ub_spec_load(path, &d);
    *errtext = NULL;
    if (!sp) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            ub_diag_flush(&d, f);
            fclose(f);
            ub_buf b = UB_BUF_INIT;
            ub_secret_mask(text ? text : "spec error", &b);
            *errtext = ub_buf_detach(&b, NULL);
            free(text);
        }
        if (!*errtext)
            *errtext = ub_strdup("the spec does not load");
    }
    ub_diag_free(&d);
    return sp;
}

static int paused_path(const ub_serve *s, const char *name, ub_buf *out)
{
    ub_buf_addf(out, "%s/serve/paused/%s", s->state_dir, name);
    return out->err ? -1 : 0;
}

int ub_serve_add(ub_serve *s, const char *path, ub_diag *diag)
{
    ub_spec *sp = ub_spec_load(path, diag);
    if (!sp)
        return -1;
    if (ub_serve_find(s, sp->pipeline)) {
        ub_diag_error(diag, (ub_loc){ path, 0, 0 }, "pipeline '%s' is given twice", sp->pipeline);
        ub_spec_free(sp);
        return -1;
    }
    /* sets up the default profile once: its connection secrets are
     * registered for masking before any server thread starts (secret.h) */
    ub_engine_opts eo = { .planning = 1, .state_dir = s->state_dir };
    ub_engine *e = ub_engine_new(sp, &eo, diag);
    if (!e) {
        ub_spec_free(sp);
        return -1;
    }
    ub_engine_free(e);
    pipe_t *np = ub_realloc(s->p, (s->n + 1) * sizeof *np);
    if (!np) {
        ub_spec_free(sp);
        return -1;
    }
    s->p = np;
    pipe_t *p = &s->p[s->n];
    memset(p, 0, sizeof *p);
    p->pub.path = ub_strdup(path);
    p->pub.name = ub_strdup(sp->pipeline);
    p->pub.spec = sp;
    struct stat st;
    if (stat(path, &st) == 0)
        p->spec_mtime_ns = mtime_ns(&st);
    ub_buf pp = UB_BUF_INIT;
    if (paused_path(s, sp->pipeline, &pp) == 0 && access(pp.p, F_OK) == 0)
        p->pub.paused = 1;
    ub_buf_free(&pp);
    s->n++;
    return 0;
}

/* ---- the journal view ------------------------------------------------------------------------ */

static int lock_busy(const ub_serve *s, const char *name, const char *ds)
{
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "%s/runs/%s/%s/lock", s->state_dir, name, ds);
    int busy = 0;
    int fd = b.err ? -1 : open(b.p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
            busy = errno == EWOULDBLOCK;
        close(fd);
    }
    ub_buf_free(&b);
    return busy;
}

/* The state of a run from its journal: running while a task is in
 * progress (and the run's lock is held), failed when one failed,
 * incomplete when it stopped half way with nothing failed (killed, or run
 * with --only), success when every task of the spec succeeded. */
static const char *journal_state(ub_serve *s, pipe_t *p, const char *ds)
{
    ub_journal j;
    ub_err err;
    if (ub_journal_open(&j, s->state_dir, p->pub.name, ds, 0, &err))
        return "failed";
    int inprog = 0, failed = 0;
    size_t ok = 0;
    for (size_t i = 0; i < j.n; i++) {
        const char *st = j.tasks[i].state;
        if (!st)
            inprog = 1;     /* a "decision":"run" line: the run is about to start the task */
        else if (!strcmp(st, "running") || !strcmp(st, "queued") || !strcmp(st, "up_for_retry"))
            inprog = 1;
        else if (!strcmp(st, "failed") || !strcmp(st, "upstream_failed"))
            failed = 1;
    }
    const ub_spec *sp = p->pub.spec;
    for (size_t t = 0; sp && t < sp->ntasks; t++) {
        const ub_jtask *jt = ub_journal_task(&j, sp->tasks[t].id);
        if (jt && jt->state && (!strcmp(jt->state, "success") || !strcmp(jt->state, "skipped")))
            ok++;
    }
    size_t nj = j.n;
    ub_journal_close(&j);
    if (inprog || (!failed && sp && ok < sp->ntasks))
        return lock_busy(s, p->pub.name, ds) ? "running" : (nj ? "incomplete" : NULL);
    if (failed)
        return "failed";
    return "success";
}

static child_t *find_child(ub_serve *s, size_t pi, const char *ds)
{
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].pipe == pi && strcmp(s->kids[i].ds, ds) == 0)
            return &s->kids[i];
    return NULL;
}

static req_t *find_req(ub_serve *s, size_t pi, const char *ds)
{
    for (size_t i = 0; i < s->nreqs; i++)
        if (s->reqs[i].pipe == pi && strcmp(s->reqs[i].ds, ds) == 0)
            return &s->reqs[i];
    return NULL;
}

static run_ent *find_run(pipe_t *p, const char *ds)
{
    size_t lo = 0, hi = p->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->runs[mid].ds, ds);
        if (c == 0)
            return &p->runs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ub_serve_run_state(ub_serve *s, ub_serve_pipeline *pp, const char *ds)
{
    pipe_t *p = (pipe_t *)pp;
    size_t pi = pipe_index(s, pp);
    run_ent *r = find_run(p, ds);
    if (find_child(s, pi, ds))
        return "running";
    if (find_req(s, pi, ds))
        return "queued";
    return r ? r->state : NULL;
}

static void push_event(ub_serve *s, const char *pipeline, const char *ds, const char *state)
{
    json_t *o = json_pack("{s:s, s:s, s:s?}", "pipeline", pipeline, "ds", ds, "state", state);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    pipe_t *pp = (pipe_t *)ub_serve_find(s, pipeline);
    if (pp)
        pp->gen++;
    if (!txt)
        return;
    s->ev_seq++;
    event_t *e = &s->ev[s->ev_seq % EV_RING];
    free(e->json);
    e->json = txt;
    e->seq = s->ev_seq;
    pthread_cond_broadcast(&s->ev_cond);
}

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const run_ent *)a)->ds, ((const run_ent *)b)->ds);
}

/* Rescans STATE/runs/<pipeline>/: new or changed journals get their state
 * derived again and an event. */
static void rescan(ub_serve *s, pipe_t *p)
{
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "%s/runs/%s", s->state_dir, p->pub.name);
    DIR *d = b.err ? NULL : opendir(b.p);
    run_ent *nr = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        ub_date dt;
        ub_err err;
        if (strlen(de->d_name) != 10 || ub_date_parse(de->d_name, &dt, &err))
            continue;
        ub_buf jp = UB_BUF_INIT;
        ub_buf_addf(&jp, "%s/%s/journal.jsonl", b.p, de->d_name);
        struct stat st;
        int have = !jp.err && stat(jp.p, &st) == 0;
        ub_buf_free(&jp);
        if (!have)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            run_ent *g = ub_realloc(nr, nc * sizeof *g);
            if (!g)
                break;
            nr = g;
            cap = nc;
        }
        run_ent *e = &nr[n++];
        memset(e, 0, sizeof *e);
        memcpy(e->ds, de->d_name, 11);
        e->day = ub_date_to_days(dt);
        e->size = (long long)st.st_size;
        e->mtime_ns = mtime_ns(&st);
    }
    if (d)
        closedir(d);
    ub_buf_free(&b);
    if (n)
        qsort(nr, n, sizeof *nr, ent_cmp);
    size_t pi = pipe_index(s, &p->pub);
    for (size_t i = 0; i < n; i++) {
        run_ent *old = find_run(p, nr[i].ds);
        int live = find_child(s, pi, nr[i].ds) != NULL;
        if (old && old->size == nr[i].size && old->mtime_ns == nr[i].mtime_ns && !live &&
            (!old->state || strcmp(old->state, "running") != 0)) {
            nr[i].state = old->state;
            continue;
        }
        nr[i].state = journal_state(s, p, nr[i].ds);
        if (!old || old->size != nr[i].size || old->mtime_ns != nr[i].mtime_ns || old->state != nr[i].state)
            push_event(s, p->pub.name, nr[i].ds, live ? "running" : nr[i].state);
    }
    ub_free(p->runs);
    p->runs = nr;
    p->nruns = n;
    ub_free(p->dslist);
    p->dslist = n ? ub_calloc(n, sizeof *p->dslist) : NULL;
    for (size_t i = 0; p->dslist && i < n; i++)
        p->dslist[i] = p->runs[i].ds;
}

size_t ub_serve_run_list(ub_serve *s, ub_serve_pipeline *pp, const char *const **ds)
{
    pipe_t *p = (pipe_t *)pp;
    *ds = p->dslist;
    return p->dslist ? p->nruns : 0;
}

/* ---- the scheduler ---------------------------------------------------------------------------- */

typedef struct state_ctx { ub_serve *s; pipe_t *p; size_t pi; } state_ctx;

static ub_ds_state ds_state(void *ud, long day)
{
    state_ctx *c = ud;
    char ds[11];
    ub_date_format(ub_date_from_days(day), 0, ds);
    if (find_child(c->s, c->pi, ds) || find_req(c->s, c->pi, ds))
        return UB_DS_ACTIVE;
    run_ent *r = find_run(c->p, ds);
    if (!r || !r->state)
        return lock_busy(c->s, c->p->pub.name, ds) ? UB_DS_ACTIVE : UB_DS_NONE;
    if (!strcmp(r->state, "running"))
        return UB_DS_ACTIVE;
    if (!strcmp(r->state, "incomplete"))
        return UB_DS_NONE;          /* interrupted or partial, nothing failed: due again, and resumed */
    return !strcmp(r->state, "success") ? UB_DS_SUCCESS : UB_DS_FAILED;
}

static int schedule_of(const ub_spec *sp, int paused, ub_schedule *out)
{
    ub_date d;
    ub_err err;
    if (!sp || !sp->schedule || !sp->start_date || ub_date_parse(sp->start_date, &d, &err))
        return -1;
    out->start_day = ub_date_to_days(d);
    out->end_day = -1;
    if (sp->end_date && ub_date_parse(sp->end_date, &d, &err) == 0)
        out->end_day = ub_date_to_days(d);
    out->minute = sp->sched_minute < 0 ? 0 : sp->sched_minute;
    out->catchup = sp->catchup;
    out->max_active_runs = sp->max_active_runs;
    out->paused = paused;
    return 0;
}

void ub_serve_next_ds(ub_serve *s, ub_serve_pipeline *pp, char out[11])
{
    out[0] = 0;
    ub_schedule sc;
    if (schedule_of(pp->spec, pp->paused, &sc))
        return;
    state_ctx c = { s, (pipe_t *)pp, pipe_index(s, pp) };
    long d = ub_schedule_next(&sc, ub_now(), ds_state, &c);
    if (d != LONG_MIN)
        ub_date_format(ub_date_from_days(d), 0, out);
}

/* Runs of a pipeline in progress at once: max_active_runs, or 16 (as
 * Airflow's default) when the spec gives none, so a long catch-up or
 * backfill does not start hundreds of processes. */
static size_t run_cap(const ub_spec *sp)
{
    return sp && sp->max_active_runs > 0 ? (size_t)sp->max_active_runs : 16;
}

static size_t active_runs(ub_serve *s, size_t pi)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nkids; i++)
        n += s->kids[i].pipe == pi;
    return n;
}

static void start_child(ub_serve *s, const req_t *r)
{
    pipe_t *p = &s->p[r->pipe];
    char *argv[12];
    int a = 0;
    argv[a++] = s->self_exe;
    argv[a++] = (char *)"run";
    argv[a++] = p->pub.path;
    argv[a++] = (char *)"--ds";
    argv[a++] = (char *)r->ds;
    argv[a++] = (char *)"-q";
    if (r->only) {
        argv[a++] = (char *)"--rerun";
        argv[a++] = (char *)"--only";
        argv[a++] = r->only;
        if (r->downstream)
            argv[a++] = (char *)"--downstream";
    }
    argv[a] = NULL;
    ub_buf lp = UB_BUF_INIT;
    ub_buf_addf(&lp, "%s/serve", s->state_dir);
    if (!lp.err)
        ub_mkdirs(lp.p);
    ub_buf_adds(&lp, "/runs.log");
    child_t *nk = ub_realloc(s->kids, (s->nkids + 1) * sizeof *nk);
    if (!nk || lp.err) {
        ub_buf_free(&lp);
        return;
    }
    s->kids = nk;
    /* runs.log holds what the runs print under -q (warnings and errors): past RUNS_LOG_MAX it is
     * renamed runs.log.1 (the one before is dropped), so a daemon that runs for years stays bounded */
    struct stat lst;
    if (stat(lp.p, &lst) == 0 && lst.st_size > RUNS_LOG_MAX) {
        ub_buf old = UB_BUF_INIT;
        ub_buf_addf(&old, "%s.1", lp.p);
        if (!old.err)
            (void)rename(lp.p, old.p);      /* best effort: a failure only means the log keeps growing */
        ub_buf_free(&old);
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(lp.p, O_WRONLY | O_APPEND | O_CREAT, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(s->self_exe, argv);
        _exit(127);
    }
    ub_buf_free(&lp);
    if (pid < 0)
        return;
    child_t *k = &s->kids[s->nkids++];
    k->pid = pid;
    k->pipe = r->pipe;
    memcpy(k->ds, r->ds, 11);
    s->runs_started++;
    push_event(s, p->pub.name, r->ds, "running");
}

static void reap(ub_serve *s)
{
    for (size_t i = 0; i < s->nkids;) {
        int st;
        pid_t w = waitpid(s->kids[i].pid, &st, WNOHANG);
        if (w == s->kids[i].pid || (w < 0 && errno == ECHILD)) {
            child_t k = s->kids[i];
            s->kids[i] = s->kids[--s->nkids];
            pipe_t *p = &s->p[k.pipe];
            run_ent *r = find_run(p, k.ds);
            if (r)
                r->size = -1;        /* forces the state to be derived again */
            continue;
        }
        i++;
    }
}

static void reload(ub_serve *s, pipe_t *p)
{
    struct stat st;
    if (stat(p->pub.path, &st) != 0) {
        if (!p->pub.error)
            p->pub.error = ub_strdup("the spec file cannot be read");
        return;
    }
    if (mtime_ns(&st) == p->spec_mtime_ns)
        return;
    p->spec_mtime_ns = mtime_ns(&st);
    char *errtext = NULL;
    ub_spec *sp = load_spec(p->pub.path, &errtext);
    if (sp && strcmp(sp->pipeline, p->pub.name) != 0) {
        ub_free(errtext);
        errtext = ub_strdup("the spec now names another pipeline; the daemon keeps serving the old name");
        ub_spec_free(sp);
        sp = NULL;
    }
    ub_free(p->pub.error);
    p->pub.error = errtext;
    if (sp) {
        ub_spec_free(p->pub.spec);
        p->pub.spec = sp;
    }
    p->gen++;
}

void ub_serve_tick(ub_serve *s, double now)
{
    ub_serve_lock(s);
    reap(s);
    for (size_t i = 0; i < s->n; i++) {
        reload(s, &s->p[i]);
        rescan(s, &s->p[i]);
    }
    if (!s->stopping) {
        /* requests first (trigger, backfill, clear), oldest first */
        for (size_t i = 0; i < s->nreqs;) {
            req_t *r = &s->reqs[i];
            pipe_t *p = &s->p[r->pipe];
            if (find_child(s, r->pipe, r->ds) || lock_busy(s, p->pub.name, r->ds) ||
                active_runs(s, r->pipe) >= run_cap(p->pub.spec)) {
                i++;
                continue;
            }
            req_t q = *r;
            memmove(r, r + 1, (s->nreqs - i - 1) * sizeof *r);
            s->nreqs--;
            start_child(s, &q);
            ub_free(q.only);
        }
        for (size_t i = 0; i < s->n; i++) {
            pipe_t *p = &s->p[i];
            ub_schedule sc;
            p->waiting = 0;
            if (schedule_of(p->pub.spec, p->pub.paused, &sc))
                continue;
            if (!s->scheduler)
                sc.paused = 1;          /* --no-scheduler: count what is due, start nothing */
            state_ctx c = { s, p, i };
            long due[16];
            size_t cap = run_cap(p->pub.spec), act = active_runs(s, i);
            size_t room = act >= cap ? 0 : cap - act;
            sc.max_active_runs = (int)cap;
            size_t nd = ub_schedule_due(&sc, now, ds_state, &c, due, room < 16 ? room : 16, &p->waiting);
            for (size_t k = 0; k < nd; k++) {
                req_t q = { i, { 0 }, NULL, 0 };
                ub_date_format(ub_date_from_days(due[k]), 0, q.ds);
                start_child(s, &q);
            }
        }
    }
    s->last_tick = now;
    ub_serve_unlock(s);
}

int ub_serve_request(ub_serve *s, const char *pipeline, const char *ds, const char *only, int downstream,
                     int *status, const char **err)
{
    ub_date d;
    ub_err e;
    if (!ds || ub_date_parse(ds, &d, &e)) {
        *status = 400;
        *err = "ds must be a date YYYY-MM-DD";
        return -1;
    }
    ub_serve_lock(s);
    ub_serve_pipeline *pp = ub_serve_find(s, pipeline);
    int rc = -1;
    if (!pp || !pp->spec) {
        *status = 404;
        *err = "unknown pipeline";
        goto done;
    }
    if (only) {
        size_t t;
        for (t = 0; t < pp->spec->ntasks && strcmp(pp->spec->tasks[t].id, only) != 0; t++)
            ;
        if (t == pp->spec->ntasks) {
            *status = 404;
            *err = "unknown task";
            goto done;
        }
    }
    size_t pi = pipe_index(s, pp);
    req_t *old = find_req(s, pi, ds);
    if (old && !only && !old->only) {
        rc = 0;                          /* already queued */
        goto done;
    }
    req_t *nr = ub_realloc(s->reqs, (s->nreqs + 1) * sizeof *nr);
    if (!nr) {
        *status = 500;
        *err = "out of memory";
        goto done;
    }
    s->reqs = nr;
    req_t *r = &s->reqs[s->nreqs];
    r->pipe = pi;
    ub_date_format(d, 0, r->ds);
    r->only = only ? ub_strdup(only) : NULL;
    r->downstream = downstream;
    s->nreqs++;
    push_event(s, pp->name, r->ds, "queued");
    rc = 0;
done:
    ub_serve_unlock(s);
    return rc;
}

int ub_serve_set_paused(ub_serve *s, const char *pipeline, int paused, int *status, const char **err)
{
    ub_serve_lock(s);
    ub_serve_pipeline *pp = ub_serve_find(s, pipeline);
    int rc = -1;
    ub_buf b = UB_BUF_INIT;
    if (!pp) {
        *status = 404;
        *err = "unknown pipeline";
        goto done;
    }
    ub_buf_addf(&b, "%s/serve/paused", s->state_dir);
    if (b.err || ub_mkdirs(b.p)) {
        *status = 500;
        *err = "cannot write the state directory";
        goto done;
    }
    ub_buf_reset(&b);
    paused_path(s, pp->name, &b);
    if (paused) {
        int fd = b.err ? -1 : open(b.p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            *status = 500;
            *err = "cannot write the state directory";
            goto done;
        }
        close(fd);
    } else if (!b.err && unlink(b.p) != 0 && errno != ENOENT) {
        *status = 500;
        *err = "cannot write the state directory";
        goto done;
    }
    pp->paused = paused;
    rc = 0;
done:
    ub_buf_free(&b);
    ub_serve_unlock(s);
    return rc;
}

int ub_serve_events_wait(ub_serve *s, unsigned long long *seq, double secs, ub_buf *out)
{
    ub_serve_lock(s);
    if (*seq > s->ev_seq)
        *seq = s->ev_seq;                  /* a new reader (ULLONG_MAX): from now on */
    if (s->ev_seq == *seq && !s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)(secs * 1e9);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&s->ev_cond, &s->mu, &ts);
    }
    unsigned long long from = *seq + 1;
    if (s->ev_seq >= EV_RING && from <= s->ev_seq - EV_RING)
        from = s->ev_seq - EV_RING + 1;            /* the slow reader lost some */
    for (unsigned long long q = from; q <= s->ev_seq; q++) {
        const event_t *e = &s->ev[q % EV_RING];
        if (e->seq == q && e->json)
            ub_buf_addf(out, "event: run\ndata: %s\n\n", e->json);
    }
    *seq = s->ev_seq;
    int stop = s->stopping;
    ub_serve_unlock(s);
    return stop;
}

/* Prometheus label values: \ " and newline escaped. */
static void label(ub_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            ub_buf_addc(out, '\\');
        if (*v == '\n')
            ub_buf_adds(out, "\\n");
        else
            ub_buf_addc(out, *v);
    }
}

void ub_serve_metrics(ub_serve *s, ub_buf *out)
{
    static const char *const states[] = { "queued", "running", "success", "failed", "incomplete" };
    ub_serve_lock(s);
    ub_buf_adds(out, "# HELP ubpipe_runs Runs by pipeline and state, from the journal.\n# TYPE ubpipe_runs gauge\n");
    for (size_t i = 0; i < s->n; i++) {
        pipe_t *p = &s->p[i];
        enum { NSTATES = sizeof states / sizeof states[0] };
        size_t cnt[NSTATES] = { 0 };
        for (size_t r = 0; r < p->nruns; r++) {
            const char *st = ub_serve_run_state(s, &p->pub, p->runs[r].ds);
            for (int k = 0; st && k < NSTATES; k++)
                cnt[k] += strcmp(st, states[k]) == 0;
        }
        for (size_t r = 0; r < s->nreqs; r++)
            cnt[0] += s->reqs[r].pipe == i && !find_run(p, s->reqs[r].ds);
        for (int k = 0; k < NSTATES; k++) {
            ub_buf_adds(out, "ubpipe_runs{pipeline=\"");
            label(out, p->pub.name);
            ub_buf_addf(out, "\",state=\"%s\"} %zu\n", states[k], cnt[k]);
        }
    }
    ub_buf_adds(out, "# HELP ubpipe_task_duration_seconds Duration of each task's last try, over the journaled "
                     "runs.\n# TYPE ubpipe_task_duration_seconds summary\n");
    for (size_t i = 0; i < s->n; i++) {
        pipe_t *p = &s->p[i];
        const ub_spec *sp = p->pub.spec;
        if (!sp)
            continue;
        double *sum = ub_calloc(sp->ntasks + 1, sizeof *sum);
        size_t *cnt = ub_calloc(sp->ntasks + 1, sizeof *cnt);
        for (size_t r = 0; sum && cnt && r < p->nruns; r++) {
            ub_journal j;
            ub_err err;
            if (ub_journal_open(&j, s->state_dir, p->pub.name, p->runs[r].ds, 0, &err))
                continue;
            for (size_t t = 0; t < sp->ntasks; t++) {
                const ub_jtask *jt = ub_journal_task(&j, sp->tasks[t].id);
                if (jt && jt->started > 0 && jt->ended >= jt->started && jt->state && strcmp(jt->state, "running") != 0) {
                    sum[t] += jt->ended - jt->started;
                    cnt[t]++;
                }
            }
            ub_journal_close(&j);
        }
        for (size_t t = 0; sum && cnt && t < sp->ntasks; t++) {
            ub_buf_adds(out, "ubpipe_task_duration_seconds_sum{pipeline=\"");
            label(out, p->pub.name);
            ub_buf_adds(out, "\",task=\"");
            label(out, sp->tasks[t].id);
            ub_buf_addf(out, "\"} %.3f\n", sum[t]);
            ub_buf_adds(out, "ubpipe_task_duration_seconds_count{pipeline=\"");
            label(out, p->pub.name);
            ub_buf_adds(out, "\",task=\"");
            label(out, sp->tasks[t].id);
            ub_buf_addf(out, "\"} %zu\n", cnt[t]);
        }
        ub_free(sum);
        ub_free(cnt);
    }
    ub_buf_adds(out, "# HELP ubpipe_runs_due_not_started Scheduled ds that are due but not started "
                     "(paused, or held by max_active_runs).\n# TYPE ubpipe_runs_due_not_started gauge\n");
    for (size_t i = 0; i < s->n; i++) {
        ub_buf_adds(out, "ubpipe_runs_due_not_started{pipeline=\"");
        label(out, s->p[i].pub.name);
        ub_buf_addf(out, "\"} %zu\n", s->p[i].waiting);
    }
    ub_buf_adds(out, "# HELP ubpipe_pipeline_paused 1 when the pipeline is paused.\n"
                     "# TYPE ubpipe_pipeline_paused gauge\n");
    for (size_t i = 0; i < s->n; i++) {
        ub_buf_adds(out, "ubpipe_pipeline_paused{pipeline=\"");
        label(out, s->p[i].pub.name);
        ub_buf_addf(out, "\"} %d\n", s->p[i].pub.paused);
    }
    ub_buf_addf(out, "# HELP ubpipe_scheduler_last_tick_timestamp_seconds When the scheduler last looked.\n"
                     "# TYPE ubpipe_scheduler_last_tick_timestamp_seconds gauge\n"
                     "ubpipe_scheduler_last_tick_timestamp_seconds %.3f\n"
                     "# HELP ubpipe_runs_started_total Runs the daemon started.\n"
                     "# TYPE ubpipe_runs_started_total counter\nubpipe_runs_started_total %llu\n",
                s->last_tick, s->runs_started);
    ub_serve_unlock(s);
    pthread_mutex_lock(&s->rc_mu);
    ub_buf_addf(out, "# HELP ubpipe_report_cache_hits_total Live report pages served from the cache.\n"
                     "# TYPE ubpipe_report_cache_hits_total counter\nubpipe_report_cache_hits_total %llu\n"
                     "# HELP ubpipe_report_cache_misses_total Live report requests not in the cache (or stale).\n"
                     "# TYPE ubpipe_report_cache_misses_total counter\nubpipe_report_cache_misses_total %llu\n"
                     "# HELP ubpipe_report_renders_total Reports rendered from the warehouse.\n"
                     "# TYPE ubpipe_report_renders_total counter\nubpipe_report_renders_total %llu\n"
                     "# HELP ubpipe_report_errors_total Report renders that failed.\n"
                     "# TYPE ubpipe_report_errors_total counter\nubpipe_report_errors_total %llu\n",
                s->rc_hits, s->rc_misses, s->rc_renders, s->rc_errors);
    pthread_mutex_unlock(&s->rc_mu);
}

unsigned long long ub_serve_generation(ub_serve *s, ub_serve_pipeline *p)
{
    return ((pipe_t *)p)->gen;
}

int ub_serve_report_cached(ub_serve *s, const char *key, int want_file, ub_buf *out)
{
    int hit = 0;
    ub_serve_lock(s);
    pthread_mutex_lock(&s->rc_mu);
    for (size_t i = 0; i < RC_SLOTS; i++) {
        rcache_t *c = &s->rc[i];
        if (!c->key || strcmp(c->key, key) != 0)
            continue;
        if (c->pipe < s->n && c->gen == s->p[c->pipe].gen) {
            const ub_buf *b = want_file ? &c->file : &c->live;
            ub_buf_add(out, b->p, b->len);
            c->used = ++s->rc_clock;
            hit = 1;
        }
        break;
    }
    if (hit)
        s->rc_hits++;
    else
        s->rc_misses++;
    pthread_mutex_unlock(&s->rc_mu);
    ub_serve_unlock(s);
    return hit;
}

void ub_serve_report_store(ub_serve *s, ub_serve_pipeline *p, const char *key, unsigned long long gen,
                           const ub_buf *live, const ub_buf *file)
{
    pthread_mutex_lock(&s->rc_mu);
    rcache_t *slot = NULL;
    for (size_t i = 0; i < RC_SLOTS && !slot; i++)
        if (s->rc[i].key && strcmp(s->rc[i].key, key) == 0)
            slot = &s->rc[i];
    for (size_t i = 0; i < RC_SLOTS && !slot; i++)
        if (!s->rc[i].key)
            slot = &s->rc[i];
    if (!slot) {
        slot = &s->rc[0];
        for (size_t i = 1; i < RC_SLOTS; i++)
            if (s->rc[i].used < slot->used)
                slot = &s->rc[i];
    }
    ub_free(slot->key);
    ub_buf_free(&slot->live);
    ub_buf_free(&slot->file);
    memset(slot, 0, sizeof *slot);
    ub_buf_init(&slot->live, UB_BUF_DEFAULT_MAX);
    ub_buf_init(&slot->file, UB_BUF_DEFAULT_MAX);
    slot->key = ub_strdup(key);
    slot->pipe = pipe_index(s, p);
    slot->gen = gen;
    slot->used = ++s->rc_clock;
    ub_buf_add(&slot->live, live->p, live->len);
    ub_buf_add(&slot->file, file->p, file->len);
    if (!slot->key || slot->live.err || slot->file.err) {
        ub_free(slot->key);
        ub_buf_free(&slot->live);
        ub_buf_free(&slot->file);
        memset(slot, 0, sizeof *slot);
    }
    s->rc_renders++;
    pthread_mutex_unlock(&s->rc_mu);
}

void ub_serve_report_failed(ub_serve *s)
{
    pthread_mutex_lock(&s->rc_mu);
    s->rc_errors++;
    pthread_mutex_unlock(&s->rc_mu);
}

void ub_serve_render_lock(ub_serve *s) { pthread_mutex_lock(&s->render_mu); }
void ub_serve_render_unlock(ub_serve *s) { pthread_mutex_unlock(&s->render_mu); }

void ub_serve_shutdown(ub_serve *s, double grace)
{
    ub_serve_lock(s);
    s->stopping = 1;
    pthread_cond_broadcast(&s->ev_cond);
    ub_serve_unlock(s);
    double t0 = ub_mono();
    int termed = 0;
    for (;;) {
        ub_serve_lock(s);
        reap(s);
        size_t left = s->nkids;
        if (left && !termed && ub_mono() - t0 >= grace) {
            for (size_t i = 0; i < s->nkids; i++)
                kill(s->kids[i].pid, SIGTERM);   /* the run cancels its tasks and journals it */
            termed = 1;
        }
        ub_serve_unlock(s);
        if (!left)
            break;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

void ub_serve_free(ub_serve *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        ub_free(s->p[i].pub.path);
        ub_free(s->p[i].pub.name);
        ub_free(s->p[i].pub.error);
        ub_spec_free(s->p[i].pub.spec);
        ub_free(s->p[i].runs);
        ub_free(s->p[i].dslist);
    }
    for (size_t i = 0; i < s->nreqs; i++)
        ub_free(s->reqs[i].only);
    for (size_t i = 0; i < EV_RING; i++)
        free(s->ev[i].json);
    for (size_t i = 0; i < RC_SLOTS; i++) {
        ub_free(s->rc[i].key);
        ub_buf_free(&s->rc[i].live);
        ub_buf_free(&s->rc[i].file);
    }
    pthread_mutex_destroy(&s->rc_mu);
    pthread_mutex_destroy(&s->render_mu);
    ub_free(s->reqs);
    ub_free(s->kids);
    ub_free(s->p);
    ub_free(s->state_dir);
    ub_free(s->self_exe);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->ev_cond);
    ub_free(s);
}
