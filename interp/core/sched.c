/* sched.c — the scheduler core: ready set, workers, retries, timeouts, runs. */
#include "core/sched.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUN_IDLE, RUN_ACTIVE, RUN_OK, RUN_FAILED, RUN_NOT_STARTED };

typedef struct slot {
    ub_sstate st;
    int       tries;        /* tries made, earlier invocations included */
    int       attempts;     /* tries made by this invocation */
    double    retry_at;     /* UB_SS_RETRY: not before */
    double    deadline;     /* running: SIGTERM at (0 = none) */
    double    kill_at;      /* stopping: SIGKILL at */
    int       stopping;     /* 0, 1 SIGTERM sent, 2 SIGKILL sent */
    int       timed_out;
    int       early;        /* running: started before its upstream ended (ops->early); it
                               rides on its upstream's worker: not counted in `running` */
    int       early_tried;  /* an early try was made in this invocation (at most one) */
} slot;

typedef struct sched {
    const ub_sched_cfg *cfg;
    const ub_sched_ops *ops;
    void               *ud;
    ub_sched_summary   *sum;
    size_t              ntasks;
    slot               *slots;      /* nruns × ntasks */
    int                *phase;      /* per run */
    ub_sstate          *init;
    int                *tries0;
    double             *rank;       /* per task: longest path to the end */
    size_t             *prio;       /* task indices, highest rank first */
    size_t              running, active, next_run;
    size_t              early_running;  /* early tries (not in running) */
    int                 cancel_seen;
} sched;

const char *ub_sstate_name(ub_sstate s)
{
    static const char *const names[] = { "waiting", "queued", "up_for_retry", "running",
                                         "success", "failed", "upstream_failed" };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

double ub_sched_retry_delay(const ub_task *t, int attempt)
{
    double d = t->retry_delay;
    if (attempt < 1)
        attempt = 1;
    if (t->retry_backoff)
        d *= pow(2.0, attempt > 60 ? 60 : attempt - 1);
    if (t->max_retry_delay > 0 && d > t->max_retry_delay)
        d = t->max_retry_delay;
    return d < 0 ? 0 : d;
}

typedef struct rkey { double rank; size_t count, pos, task; } rkey;

/* by weighted path (descending), then topological position: a strict order */
static int by_rank(const void *a, const void *b)
{
    const rkey *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank > y->rank ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* within a tie class: by path in tasks (descending), then topological position */
static int by_count(const void *a, const void *b)
{
    const rkey *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int ub_sched_paths_tie(double a, double b)
{
    double hi = a > b ? a : b, d = a > b ? a - b : b - a;
    return d <= UB_SCHED_TIE_SECS || d <= UB_SCHED_TIE_FRAC * hi;
}

/* longest path from each task to the end, the task itself included */
static void paths(const ub_spec *sp, const double *weight, double *rank)
{
    size_t n = sp->ntasks;
    for (size_t i = 0; i < n; i++)
        rank[i] = 0;                       /* first: the best path below i, without i */
    /* reverse topological order: every task downstream of t is final before t */
    for (size_t k = n; k-- > 0;) {
        const ub_task *t = &sp->tasks[sp->order[k]];
        double w = weight && weight[t->index] > 0 ? weight[t->index] : 1;
        rank[t->index] += w;
        for (size_t j = 0; j < t->nafter; j++)
            if (rank[t->after[j]] < rank[t->index])
                rank[t->after[j]] = rank[t->index];
    }
}

int ub_sched_rank(const ub_spec *sp, const double *weight, double *rank, size_t *prio)
{
    size_t n = sp->ntasks;
    rkey *keys = ub_calloc(n ? n : 1, sizeof *keys);
    double *count = ub_calloc(n ? n : 1, sizeof *count);
    int rc = -1;
    if (!keys || !count)
        goto out;
    paths(sp, weight, rank);
    paths(sp, NULL, count);
    for (size_t k = 0; k < n; k++)
        keys[k] = (rkey){ rank[sp->order[k]], (size_t)count[sp->order[k]], k, sp->order[k] };
    qsort(keys, n, sizeof *keys, by_rank);
    /* with weights: a tie class is a run of paths within the tolerance of its longest one (so the
     * classes are well defined whatever the order of comparisons); inside it, tasks count */
    if (weight) {
        for (size_t k = 0; k < n;) {
            size_t e = k + 1;
            while (e < n && ub_sched_paths_tie(keys[k].rank, keys[e].rank))
                e++;
            qsort(keys + k, e - k, sizeof *keys, by_count);
            k = e;
        }
    }
    for (size_t k = 0; k < n; k++)
        prio[k] = keys[k].task;
    rc = 0;
out:
    ub_free(keys);
    ub_free(count);
    return rc;
}

static slot *at(sched *s, size_t r, size_t i) { return &s->slots[r * s->ntasks + i]; }

static int cancelled(const sched *s) { return s->cfg->cancel && *s->cfg->cancel; }

static int terminal(ub_sstate st)
{
    return st == UB_SS_SUCCESS || st == UB_SS_FAILED || st == UB_SS_UPSTREAM_FAILED;
}

/* The upstream tasks of t in run r: 1 all succeeded, -1 one failed, 0 not settled yet. */
static int upstream(sched *s, size_t r, const ub_task *t)
{
    int all_ok = 1;
    for (size_t j = 0; j < t->nafter; j++) {
        ub_sstate u = at(s, r, t->after[j])->st;
        if (u == UB_SS_FAILED || u == UB_SS_UPSTREAM_FAILED)
            return -1;
        all_ok &= u == UB_SS_SUCCESS;
    }
    return all_ok;
}

/* Moves waiting tasks of run r whose upstream is settled to queued or
 * upstream_failed; topological order settles chains in one pass.  An early
 * try whose upstream failed is asked to stop (on_end records the task). */
static void propagate(sched *s, size_t r)
{
    const ub_spec *sp = s->cfg->spec;
    for (size_t k = 0; k < s->ntasks; k++) {
        const ub_task *t = &sp->tasks[sp->order[k]];
        slot *x = at(s, r, t->index);
        if (x->st == UB_SS_RUNNING && x->early && x->stopping == 0 && upstream(s, r, t) < 0) {
            x->stopping = 1;
            x->kill_at = s->ops->now(s->ud) + s->cfg->grace;
            s->ops->stop(s->ud, r, t->index, 0);
            continue;
        }
        if (x->st != UB_SS_WAITING)
            continue;
        int up = upstream(s, r, t), bad = up < 0, all_ok = up > 0;
        if (bad) {
            x->st = UB_SS_UPSTREAM_FAILED;
            s->ops->record(s->ud, r, t->index, "upstream_failed", x->tries, NULL, 0);
        } else if (all_ok) {
            x->st = UB_SS_QUEUED;
            s->ops->record(s->ud, r, t->index, "queued", x->tries, NULL, 0);
        }
    }
}

/* Closes run r when nothing of it runs any more and nothing more will. */
static void maybe_close(sched *s, size_t r)
{
    if (s->phase[r] != RUN_ACTIVE)
        return;
    int all_terminal = 1, all_ok = 1, busy = 0;
    for (size_t i = 0; i < s->ntasks; i++) {
        ub_sstate st = at(s, r, i)->st;
        all_terminal &= terminal(st);
        all_ok &= st == UB_SS_SUCCESS;
        busy |= st == UB_SS_RUNNING;
    }
    if (!all_terminal && !(cancelled(s) && !busy))
        return;
    int ok = all_terminal && all_ok;
    s->phase[r] = ok ? RUN_OK : RUN_FAILED;
    s->active--;
    if (ok)
        s->sum->runs_ok++;
    else
        s->sum->runs_failed++;
    s->ops->close_run(s->ud, r, ok);
}

static void failed_for_good(sched *s, size_t r, size_t i, const char *error)
{
    s->sum->tasks_failed++;
    if (s->sum->first_failed_task < 0) {
        s->sum->first_failed_run = (long)r;
        s->sum->first_failed_task = (long)i;
        snprintf(s->sum->first_error, sizeof s->sum->first_error, "%s", error ? error : "");
    }
}

/* A try of (r, i) ended: success, retry or failure, then what follows. */
static void on_end(sched *s, size_t r, size_t i, int ok, int fatal, const char *error)
{
    const ub_task *t = &s->cfg->spec->tasks[i];
    slot *x = at(s, r, i);
    char msg[1000];
    if (x->st != UB_SS_RUNNING)
        return;
    if (x->early)
        s->early_running--;
    else
        s->running--;
    double now = s->ops->now(s->ud);
    /* an early try (ops->early): it ended before its upstream settled, or after one failed */
    int up = x->early ? upstream(s, r, t) : 1;
    x->early = 0;
    if (up < 0) {
        x->st = UB_SS_UPSTREAM_FAILED;
        s->ops->record(s->ud, r, i, "upstream_failed", x->tries, NULL, 0);
        goto settled;
    }
    if (ok && up == 0) {                     /* not reached: the try waits for its upstream before committing */
        ok = 0;
        error = "ended with success before its upstream tasks did";
    }
    if (ok) {
        x->st = UB_SS_SUCCESS;
        s->ops->record(s->ud, r, i, "success", x->tries, NULL, 0);
    } else {
        if (x->timed_out)
            snprintf(msg, sizeof msg, "timed out after %gs", t->timeout);
        else if (cancelled(s) && x->stopping)
            snprintf(msg, sizeof msg, "cancelled by a signal");
        else
            snprintf(msg, sizeof msg, "%s", error && *error ? error : "failed");
        /* what an early try met may be its unfinished upstream's doing: it is not counted,
         * not final, and the next try waits for the upstream */
        if (up == 0 && !x->timed_out && !cancelled(s)) {
            x->attempts--;
            fatal = 0;
        }
        int last = cancelled(s) || fatal || x->attempts >= t->retries + 1;
        if (last) {
            x->st = UB_SS_FAILED;
            s->ops->record(s->ud, r, i, "failed", x->tries, msg, 0);
            failed_for_good(s, r, i, msg);
        } else if (up == 0) {
            x->st = UB_SS_WAITING;
            s->ops->record(s->ud, r, i, "up_for_retry", x->tries, msg, 0);
        } else {
            double d = ub_sched_retry_delay(t, x->attempts);
            x->st = UB_SS_RETRY;
            x->retry_at = now + d;
            s->ops->record(s->ud, r, i, "up_for_retry", x->tries, msg, d);
        }
    }
settled:
    x->stopping = 0;
    x->timed_out = 0;
    x->deadline = 0;
    propagate(s, r);
    maybe_close(s, r);
}

/* Opens the runs that may open now: in date order, within max_active_runs,
 * and with depends_on_past only after the previous run succeeded. */
static void open_runs(sched *s)
{
    const ub_sched_cfg *c = s->cfg;
    while (s->next_run < c->nruns && !cancelled(s)) {
        size_t r = s->next_run;
        if (c->max_active_runs > 0 && s->active >= (size_t)c->max_active_runs)
            return;
        if (c->depends_on_past && r > 0) {
            int prev = s->phase[r - 1];
            if (prev == RUN_ACTIVE || prev == RUN_IDLE)
                return;
            if (prev != RUN_OK) {               /* this run and every later one */
                for (; s->next_run < c->nruns; s->next_run++) {
                    s->phase[s->next_run] = RUN_NOT_STARTED;
                    s->sum->runs_not_started++;
                    s->ops->close_run(s->ud, s->next_run, -1);
                }
                return;
            }
        }
        s->next_run++;
        ub_err err;
        err.msg[0] = '\0';
        for (size_t i = 0; i < s->ntasks; i++) {
            s->init[i] = UB_SS_WAITING;
            s->tries0[i] = 0;
        }
        s->phase[r] = RUN_ACTIVE;
        s->active++;
        if (s->ops->open_run(s->ud, r, s->init, s->tries0, &err)) {
            s->phase[r] = RUN_FAILED;
            s->active--;
            s->sum->runs_failed++;
            if (s->sum->first_failed_task < 0) {
                s->sum->first_failed_run = (long)r;
                snprintf(s->sum->first_error, sizeof s->sum->first_error, "%s", err.msg);
            }
            s->ops->close_run(s->ud, r, 0);
            continue;
        }
        for (size_t i = 0; i < s->ntasks; i++) {
            slot *x = at(s, r, i);
            x->st = s->init[i] == UB_SS_SUCCESS ? UB_SS_SUCCESS : UB_SS_WAITING;
            x->tries = s->tries0[i] > 0 ? s->tries0[i] : 0;
        }
        propagate(s, r);
        maybe_close(s, r);
    }
}

static void start_try(sched *s, size_t r, const ub_task *t, double now, int early)
{
    slot *x = at(s, r, t->index);
    x->tries++;
    x->attempts++;
    x->st = UB_SS_RUNNING;
    x->deadline = t->timeout > 0 ? now + t->timeout : 0;
    x->stopping = 0;
    x->timed_out = 0;
    x->early = early;
    if (early)
        s->early_running++;
    else
        s->running++;
    s->ops->record(s->ud, r, t->index, "running", x->tries, NULL, 0);
    ub_err err;
    if (s->ops->start(s->ud, r, t->index, x->tries, &err))
        on_end(s, r, t->index, 0, 0, err.msg);
}

static void start_ready(sched *s, double now)
{
    const ub_spec *sp = s->cfg->spec;
    size_t jobs = s->cfg->jobs > 0 ? (size_t)s->cfg->jobs : 1;
    for (size_t r = 0; r < s->cfg->nruns && s->running < jobs; r++) {
        if (s->phase[r] != RUN_ACTIVE)
            continue;
        for (size_t k = 0; k < s->ntasks && s->running < jobs; k++) {
            const ub_task *t = &sp->tasks[s->prio[k]];
            slot *x = at(s, r, t->index);
            if (!(x->st == UB_SS_QUEUED || (x->st == UB_SS_RETRY && now >= x->retry_at)))
                continue;
            start_try(s, r, t, now, 0);
        }
    }
    /* then the streaming hand-offs the runner offers: a follower rides on the worker of
     * the upstream try it follows (the two are one stream), so it needs none of its own */
    for (size_t r = 0; s->ops->early && r < s->cfg->nruns; r++) {
        if (s->phase[r] != RUN_ACTIVE)
            continue;
        for (size_t k = 0; k < s->ntasks; k++) {
            const ub_task *t = &sp->tasks[s->prio[k]];
            slot *x = at(s, r, t->index);
            if (x->st != UB_SS_WAITING || x->early_tried || upstream(s, r, t) != 0 ||
                !s->ops->early(s->ud, r, t->index))
                continue;
            x->early_tried = 1;
            start_try(s, r, t, now, 1);
        }
    }
}

/* SIGTERM past the deadline (or on cancel), SIGKILL past the grace. */
static void police(sched *s, double now)
{
    int cancel_now = cancelled(s) && !s->cancel_seen;
    if (cancel_now)
        s->cancel_seen = 1;
    for (size_t r = 0; r < s->cfg->nruns; r++) {
        if (s->phase[r] != RUN_ACTIVE)
            continue;
        for (size_t i = 0; i < s->ntasks; i++) {
            slot *x = at(s, r, i);
            if (x->st != UB_SS_RUNNING)
                continue;
            if (x->stopping == 0 && (cancel_now || (x->deadline > 0 && now >= x->deadline))) {
                x->timed_out = !cancel_now;
                x->stopping = 1;
                x->kill_at = now + s->cfg->grace;
                s->ops->stop(s->ud, r, i, 0);
            } else if (x->stopping == 1 && now >= x->kill_at) {
                x->stopping = 2;
                s->ops->stop(s->ud, r, i, 1);
            }
        }
    }
}

/* Seconds until something is due: a retry, a deadline, a kill. */
static double next_wait(sched *s, double now)
{
    double w = s->cfg->tick > 0 ? s->cfg->tick : 0.2;
    for (size_t r = 0; r < s->cfg->nruns; r++) {
        if (s->phase[r] != RUN_ACTIVE)
            continue;
        for (size_t i = 0; i < s->ntasks; i++) {
            const slot *x = at(s, r, i);
            double due = -1;
            if (x->st == UB_SS_RETRY && !cancelled(s))
                due = x->retry_at;
            else if (x->st == UB_SS_RUNNING && x->stopping == 0 && x->deadline > 0)
                due = x->deadline;
            else if (x->st == UB_SS_RUNNING && x->stopping == 1)
                due = x->kill_at;
            if (due >= 0 && due - now < w)
                w = due - now;
        }
    }
    return w < 0 ? 0 : w;
}

static int anything_pending(const sched *s)
{
    if (s->running || s->early_running)
        return 1;
    if (cancelled(s))
        return 0;
    if (s->next_run < s->cfg->nruns)
        return 1;
    for (size_t r = 0; r < s->cfg->nruns; r++)
        if (s->phase[r] == RUN_ACTIVE)
            return 1;
    return 0;
}

int ub_sched_run(const ub_sched_cfg *cfg, const ub_sched_ops *ops, void *ud, ub_sched_summary *sum)
{
    return ub_sched_run_weighted(cfg, NULL, ops, ud, sum);
}

int ub_sched_run_weighted(const ub_sched_cfg *cfg, const double *weight, const ub_sched_ops *ops, void *ud,
                          ub_sched_summary *sum)
{
    sched s;
    memset(&s, 0, sizeof s);
    memset(sum, 0, sizeof *sum);
    sum->first_failed_run = sum->first_failed_task = -1;
    s.cfg = cfg;
    s.ops = ops;
    s.ud = ud;
    s.sum = sum;
    s.ntasks = cfg->spec->ntasks;
    int rc = 1;
    if (cfg->nruns == 0)
        return 0;
    s.slots = ub_calloc(cfg->nruns * s.ntasks, sizeof *s.slots);
    s.phase = ub_calloc(cfg->nruns, sizeof *s.phase);
    s.init = ub_calloc(s.ntasks, sizeof *s.init);
    s.tries0 = ub_calloc(s.ntasks, sizeof *s.tries0);
    s.rank = ub_calloc(s.ntasks, sizeof *s.rank);
    s.prio = ub_calloc(s.ntasks, sizeof *s.prio);
    if (!s.slots || !s.phase || !s.init || !s.tries0 || !s.rank || !s.prio) {
        snprintf(sum->first_error, sizeof sum->first_error, "out of memory");
        goto out;
    }
    if (ub_sched_rank(cfg->spec, weight, s.rank, s.prio)) {
        snprintf(sum->first_error, sizeof sum->first_error, "out of memory");
        goto out;
    }
    for (;;) {
        open_runs(&s);
        double now = ops->now(ud);
        police(&s, now);
        if (!cancelled(&s))
            start_ready(&s, now);
        if (!anything_pending(&s))
            break;
        ub_sched_result res;
        memset(&res, 0, sizeof res);
        if (ops->wait(ud, next_wait(&s, ops->now(ud)), &res) == 1)
            on_end(&s, res.run, res.task, res.ok, res.fatal, res.error);
    }
    /* cancelled: close what is still open, note what never started */
    for (size_t r = 0; r < cfg->nruns; r++) {
        if (s.phase[r] == RUN_ACTIVE)
            maybe_close(&s, r);
        if (s.phase[r] == RUN_ACTIVE) {          /* not reached: nothing runs any more */
            s.phase[r] = RUN_FAILED;
            sum->runs_failed++;
            ops->close_run(ud, r, 0);
        } else if (s.phase[r] == RUN_IDLE) {
            s.phase[r] = RUN_NOT_STARTED;
            sum->runs_not_started++;
            ops->close_run(ud, r, -1);
        }
    }
    sum->cancelled = cancelled(&s) != 0;
    rc = sum->runs_ok == cfg->nruns && !sum->cancelled ? 0 : 1;
out:
    ub_free(s.slots);
    ub_free(s.phase);
    ub_free(s.init);
    ub_free(s.tries0);
    ub_free(s.rank);
    ub_free(s.prio);
    return rc;
}
