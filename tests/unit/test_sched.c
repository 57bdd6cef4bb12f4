/* test_sched.c — the scheduler core under a fake clock: retry delays, workers, upstream_failed,
 * timeouts (SIGTERM then SIGKILL), cancellation, several runs, resume.  No sleeps: the fake
 * backend's wait() moves the clock to the next scripted event.  Expected times are worked by hand
 * from the scripts below. */
#include "core/sched.h"
#include "base/buf.h"
#include "t.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 8
#define MAXR 3
#define MAXA 6

typedef struct step { double dur; int ok, fatal, deaf; const char *error; } step;   /* deaf: ignores SIGTERM */

typedef struct fake {
    double now;
    step   script[MAXR][MAXT][MAXA];
    int    nscript[MAXR][MAXT];
    int    done_before[MAXR][MAXT], tries_before[MAXR][MAXT];
    int    used[MAXR][MAXT];               /* tries started so far */
    struct { int on; double end; int ok, fatal, deaf; const char *error; } run[MAXR][MAXT];
    size_t nrunning, max_running;
    int    open_fail[MAXR];
    int    closed[MAXR];                   /* 1 ok, 2 failed, 3 not started */
    double cancel_at;                      /* < 0: never */
    volatile sig_atomic_t cancel;
    ub_buf log;
    const ub_spec *spec;
    int    early_task;                     /* ops->early offers this task while task 0 runs; -1 none */
} fake;

static double f_now(void *ud) { return ((fake *)ud)->now; }

static int f_open(void *ud, size_t r, ub_sstate *init, int *tries, ub_err *err)
{
    fake *f = ud;
    if (f->open_fail[r])
        return ub_err_set(err, "cannot open run %zu", r);
    for (size_t i = 0; i < f->spec->ntasks; i++) {
        init[i] = f->done_before[r][i] ? UB_SS_SUCCESS : UB_SS_WAITING;
        tries[i] = f->tries_before[r][i];
    }
    ub_buf_addf(&f->log, "%g open r%zu\n", f->now, r);
    return 0;
}

static void f_close(void *ud, size_t r, int ok)
{
    fake *f = ud;
    f->closed[r] = ok == 1 ? 1 : ok == 0 ? 2 : 3;
    ub_buf_addf(&f->log, "%g close r%zu %d\n", f->now, r, ok);
}

static int f_start(void *ud, size_t r, size_t i, int try_no, ub_err *err)
{
    fake *f = ud;
    int k = f->used[r][i]++;
    step s = k < f->nscript[r][i] ? f->script[r][i][k] : (step){ 1, 1, 0, 0, NULL };
    (void)try_no;
    (void)err;
    f->run[r][i].on = 1;
    f->run[r][i].end = f->now + s.dur;
    f->run[r][i].ok = s.ok;
    f->run[r][i].fatal = s.fatal;
    f->run[r][i].deaf = s.deaf;
    f->run[r][i].error = s.error;
    if (++f->nrunning > f->max_running)
        f->max_running = f->nrunning;
    return 0;
}

static void f_stop(void *ud, size_t r, size_t i, int hard)
{
    fake *f = ud;
    ub_buf_addf(&f->log, "%g %s %s\n", f->now, hard ? "SIGKILL" : "SIGTERM", f->spec->tasks[i].id);
    if (!f->run[r][i].on)
        return;
    if (hard || !f->run[r][i].deaf) {
        double end = f->now + (hard ? 0 : 0.5);          /* a polite child takes half a second */
        if (end < f->run[r][i].end)
            f->run[r][i].end = end;
        f->run[r][i].ok = 0;
        f->run[r][i].error = hard ? "killed" : "cancelled";
    }
}

static int f_wait(void *ud, double secs, ub_sched_result *res)
{
    fake *f = ud;
    double best = -1;
    size_t br = 0, bi = 0;
    for (size_t r = 0; r < MAXR; r++)
        for (size_t i = 0; i < MAXT; i++)
            if (f->run[r][i].on && (best < 0 || f->run[r][i].end < best)) {
                best = f->run[r][i].end;
                br = r;
                bi = i;
            }
    double until = f->now + secs;
    if (f->cancel_at >= 0 && !f->cancel && f->cancel_at <= until && (best < 0 || f->cancel_at < best)) {
        f->now = f->cancel_at;                            /* the signal interrupts the wait */
        f->cancel = 1;
        return 0;
    }
    if (best < 0 || best > until) {
        f->now = until;
        return 0;
    }
    f->now = best;
    f->run[br][bi].on = 0;
    f->nrunning--;
    res->run = br;
    res->task = bi;
    res->ok = f->run[br][bi].ok;
    res->fatal = f->run[br][bi].fatal;
    res->error = f->run[br][bi].error ? f->run[br][bi].error : "";
    return 1;
}

static void f_record(void *ud, size_t r, size_t i, const char *state, int try_no, const char *error, double delay)
{
    fake *f = ud;
    ub_buf_addf(&f->log, "%g r%zu %s %s %d", f->now, r, f->spec->tasks[i].id, state, try_no);
    if (error)
        ub_buf_addf(&f->log, " [%s]", error);
    if (delay > 0)
        ub_buf_addf(&f->log, " +%g", delay);
    ub_buf_addc(&f->log, '\n');
}

static const ub_sched_ops fops = { f_now, f_open, f_close, f_start, f_stop, f_wait, f_record, NULL };

static int f_early(void *ud, size_t r, size_t i)
{
    fake *f = ud;
    return f->early_task >= 0 && (size_t)f->early_task == i && f->run[r][0].on;
}

static const ub_sched_ops eops = { f_now, f_open, f_close, f_start, f_stop, f_wait, f_record, f_early };

/* A spec built by hand: tasks named by letters, edges given as "AB" (B after A). */
typedef struct gspec {
    ub_spec s;
    ub_task t[MAXT];
    size_t  order[MAXT];
    size_t  after[MAXT][MAXT];
} gspec;

static void mkspec(gspec *g, size_t n, const char *edges)
{
    static const char *const ids[] = { "A", "B", "C", "D", "E", "F", "G", "H" };
    memset(g, 0, sizeof *g);
    g->s.pipeline = "p";
    g->s.tasks = g->t;
    g->s.ntasks = n;
    g->s.order = g->order;
    for (size_t i = 0; i < n; i++) {
        g->t[i].id = ids[i];
        g->t[i].index = i;
        g->t[i].after = g->after[i];
        g->t[i].retry_delay = 60;
        g->t[i].max_retry_delay = 600;
        g->order[i] = i;                 /* edges below always go from a lower to a higher letter */
    }
    for (const char *e = edges; e && e[0] && e[1]; e += 2) {
        ub_task *to = &g->t[e[1] - 'A'];
        to->after[to->nafter++] = (size_t)(e[0] - 'A');
    }
}

static void fkinit(fake *f, const gspec *g)
{
    memset(f, 0, sizeof *f);
    ub_buf_init(&f->log, UB_BUF_DEFAULT_MAX);
    f->spec = &g->s;
    f->cancel_at = -1;
    f->early_task = -1;
}

static void script(fake *f, size_t r, size_t i, step s)
{
    f->script[r][i][f->nscript[r][i]++] = s;
}

static ub_sched_cfg cfg_of(const gspec *g, fake *f, size_t nruns, int jobs)
{
    ub_sched_cfg c = { &g->s, nruns, jobs, 0, 0, 3.0, 1000, &f->cancel };
    return c;
}

static int has_line(const fake *f, const char *line)
{
    const char *p = ub_buf_str(&f->log);
    size_t l = strlen(line);
    for (;;) {
        const char *q = strstr(p, line);
        if (!q)
            return 0;
        if ((q == ub_buf_str(&f->log) || q[-1] == '\n') && (q[l] == '\n' || q[l] == '\0'))
            return 1;
        p = q + 1;
    }
}

#define T_LINE(f, line) do { if (has_line(f, line)) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: no line [%s] in:\n%s", __FILE__, __LINE__, line, ub_buf_str(&(f)->log)); } } while (0)

static void test_delays(void)
{
    ub_task t;
    memset(&t, 0, sizeof t);
    t.retry_delay = 60;
    t.max_retry_delay = 300;
    t.retry_backoff = 1;
    /* 60, 120, 240, then the cap */
    T_CHECK(ub_sched_retry_delay(&t, 1) == 60);
    T_CHECK(ub_sched_retry_delay(&t, 2) == 120);
    T_CHECK(ub_sched_retry_delay(&t, 3) == 240);
    T_CHECK(ub_sched_retry_delay(&t, 4) == 300);
    T_CHECK(ub_sched_retry_delay(&t, 40) == 300);
    t.retry_backoff = 0;
    T_CHECK(ub_sched_retry_delay(&t, 1) == 60);
    T_CHECK(ub_sched_retry_delay(&t, 3) == 60);
    t.retry_delay = 900;                  /* a delay above the cap is capped too */
    T_CHECK(ub_sched_retry_delay(&t, 1) == 300);
}

/* fails twice, then succeeds: tries at 0, 61 (1 + 60), 182 (62 + 120) */
static void test_fail_twice_then_succeed(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 2, "AB");
    g.t[0].retries = 2;
    g.t[0].retry_backoff = 1;
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 1, 0, 0, 0, "boom 1" });
    script(&f, 0, 0, (step){ 1, 0, 0, 0, "boom 2" });
    script(&f, 0, 0, (step){ 1, 1, 0, 0, NULL });
    ub_sched_cfg c = cfg_of(&g, &f, 1, 4);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_LINE(&f, "0 r0 A queued 0");
    T_LINE(&f, "0 r0 A running 1");
    T_LINE(&f, "1 r0 A up_for_retry 1 [boom 1] +60");
    T_LINE(&f, "61 r0 A running 2");
    T_LINE(&f, "62 r0 A up_for_retry 2 [boom 2] +120");
    T_LINE(&f, "182 r0 A running 3");
    T_LINE(&f, "183 r0 A success 3");
    T_LINE(&f, "183 r0 B queued 0");
    T_LINE(&f, "184 r0 B success 1");
    T_LINE(&f, "184 close r0 1");
    T_INTEQ(sum.runs_ok, 1);
    T_INTEQ(sum.tasks_failed, 0);
    ub_buf_free(&f.log);
}

/* keeps failing: two tries, then failed; downstream upstream_failed; the other branch runs on */
static void test_keeps_failing(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 5, "ABBC");                /* A -> B -> C; D and E unrelated, E after D */
    g.t[4].after[g.t[4].nafter++] = 3;
    g.t[0].retries = 1;
    g.t[0].retry_delay = 10;
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 2, 0, 0, 0, "connection refused" });
    script(&f, 0, 0, (step){ 2, 0, 0, 0, "relation \"x\" does not exist" });
    script(&f, 0, 3, (step){ 30, 1, 0, 0, NULL });
    ub_sched_cfg c = cfg_of(&g, &f, 1, 2);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_LINE(&f, "2 r0 A up_for_retry 1 [connection refused] +10");
    T_LINE(&f, "12 r0 A running 2");
    T_LINE(&f, "14 r0 A failed 2 [relation \"x\" does not exist]");
    T_LINE(&f, "14 r0 B upstream_failed 0");
    T_LINE(&f, "14 r0 C upstream_failed 0");
    T_LINE(&f, "30 r0 D success 1");        /* D ran 0..30 alongside A */
    T_LINE(&f, "31 r0 E success 1");
    T_LINE(&f, "31 close r0 0");
    T_INTEQ(sum.tasks_failed, 1);
    T_INTEQ(sum.first_failed_task, 0);
    T_STREQ(sum.first_error, "relation \"x\" does not exist");
    T_INTEQ(f.used[0][1], 0);
    ub_buf_free(&f.log);
}

/* a fatal error is not retried */
static void test_fatal(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 1, "");
    g.t[0].retries = 3;
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 1, 0, 1, 0, "data.csv:3: record has 4 fields, expected 2" });
    ub_sched_cfg c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_INTEQ(f.used[0][0], 1);
    T_LINE(&f, "1 r0 A failed 1 [data.csv:3: record has 4 fields, expected 2]");
    ub_buf_free(&f.log);
}

/* five independent tasks of 10 s: with 2 workers, at most 2 at once and done at 30 s; with 5, at 10 s */
static void test_workers(void)
{
    for (int jobs = 2; jobs <= 5; jobs += 3) {
        gspec g;
        fake f;
        ub_sched_summary sum;
        mkspec(&g, 5, "");
        fkinit(&f, &g);
        for (size_t i = 0; i < 5; i++)
            script(&f, 0, i, (step){ 10, 1, 0, 0, NULL });
        ub_sched_cfg c = cfg_of(&g, &f, 1, jobs);
        T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
        T_INTEQ(f.max_running, jobs);
        T_CHECK(f.now == (jobs == 2 ? 30 : 10));
        if (jobs == 2) {
            T_LINE(&f, "0 r0 B running 1");
            T_LINE(&f, "10 r0 C running 1");    /* C waits for a worker */
            T_LINE(&f, "20 r0 E running 1");
        }
        ub_buf_free(&f.log);
    }
}

/* a try past its timeout gets SIGTERM; a deaf one SIGKILL after the grace (3 s) */
static void test_timeout(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 2, "");
    g.t[0].timeout = 5;
    g.t[1].timeout = 5;
    g.t[1].retries = 1;
    g.t[1].retry_delay = 1;
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 100, 1, 0, 0, NULL });
    script(&f, 0, 1, (step){ 100, 1, 0, 1, NULL });  /* deaf */
    script(&f, 0, 1, (step){ 2, 1, 0, 0, NULL });    /* the retry is quick */
    ub_sched_cfg c = cfg_of(&g, &f, 1, 2);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_LINE(&f, "5 SIGTERM A");
    T_LINE(&f, "5.5 r0 A failed 1 [timed out after 5s]");
    T_LINE(&f, "5 SIGTERM B");
    T_LINE(&f, "8 SIGKILL B");
    T_LINE(&f, "8 r0 B up_for_retry 1 [timed out after 5s] +1");
    T_LINE(&f, "9 r0 B running 2");
    T_LINE(&f, "11 r0 B success 2");
    ub_buf_free(&f.log);
}

/* a signal at 4 s: running tries get SIGTERM and fail as cancelled; nothing new starts */
static void test_cancel(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 3, "AC");
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 10, 1, 0, 0, NULL });
    script(&f, 0, 1, (step){ 2, 1, 0, 0, NULL });
    f.cancel_at = 4;
    ub_sched_cfg c = cfg_of(&g, &f, 1, 2);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_LINE(&f, "2 r0 B success 1");
    T_LINE(&f, "4 SIGTERM A");
    T_LINE(&f, "4.5 r0 A failed 1 [cancelled by a signal]");
    T_LINE(&f, "4.5 close r0 0");
    T_INTEQ(f.used[0][2], 0);
    T_INTEQ(sum.cancelled, 1);
    ub_buf_free(&f.log);
}

/* resume: done tasks are not run again, tries go on from the journal's count */
static void test_resume(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 3, "ABBC");
    fkinit(&f, &g);
    f.done_before[0][0] = 1;
    f.tries_before[0][0] = 1;
    f.tries_before[0][1] = 2;
    ub_sched_cfg c = cfg_of(&g, &f, 1, 2);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_INTEQ(f.used[0][0], 0);
    T_LINE(&f, "0 r0 B running 3");
    T_LINE(&f, "1 r0 C running 1");
    ub_buf_free(&f.log);
}

/* three runs: max_active_runs, depends_on_past, and a failed run that does not stop the others */
static void test_runs(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    mkspec(&g, 2, "AB");
    fkinit(&f, &g);
    ub_sched_cfg c = cfg_of(&g, &f, 3, 4);
    c.max_active_runs = 1;
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_LINE(&f, "2 close r0 1");
    T_LINE(&f, "2 open r1");
    T_LINE(&f, "4 open r2");
    T_LINE(&f, "6 close r2 1");
    T_INTEQ(sum.runs_ok, 3);
    ub_buf_free(&f.log);

    /* no limit: all three at once, finished at 2 */
    fkinit(&f, &g);
    c = cfg_of(&g, &f, 3, 4);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_LINE(&f, "0 open r2");
    T_LINE(&f, "2 close r2 1");
    T_INTEQ(f.max_running, 3);
    ub_buf_free(&f.log);

    /* run 1 fails: without depends_on_past run 2 still runs */
    fkinit(&f, &g);
    script(&f, 1, 0, (step){ 1, 0, 1, 0, "bad day" });
    c = cfg_of(&g, &f, 3, 4);
    c.max_active_runs = 1;
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_LINE(&f, "3 close r1 0");
    T_LINE(&f, "3 open r2");
    T_INTEQ(f.closed[2], 1);
    T_INTEQ(sum.runs_ok, 2);
    T_INTEQ(sum.runs_failed, 1);
    ub_buf_free(&f.log);

    /* with depends_on_past, run 2 waits for run 1 even without a limit, and never starts */
    fkinit(&f, &g);
    script(&f, 1, 0, (step){ 1, 0, 1, 0, "bad day" });
    c = cfg_of(&g, &f, 3, 4);
    c.depends_on_past = 1;
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_LINE(&f, "2 open r1");
    T_LINE(&f, "3 close r1 0");
    T_LINE(&f, "3 close r2 -1");
    T_INTEQ(f.used[2][0], 0);
    T_INTEQ(sum.runs_not_started, 1);
    ub_buf_free(&f.log);

    /* a run that cannot open fails alone */
    fkinit(&f, &g);
    f.open_fail[0] = 1;
    c = cfg_of(&g, &f, 2, 4);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 1);
    T_INTEQ(f.closed[0], 2);
    T_INTEQ(f.closed[1], 1);
    T_STREQ(sum.first_error, "cannot open run 0");
    ub_buf_free(&f.log);
}

/* critical path first: with fewer workers than ready tasks, the ready task with the longest
 * path to the end starts first (A alone, B -> C -> D a chain; then weights turn it round) */
static void test_critical_path(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    double rank[MAXT];
    size_t prio[MAXT];
    mkspec(&g, 4, "BCCD");
    T_INTEQ(ub_sched_rank(&g.s, NULL, rank, prio), 0);
    T_CHECK(rank[0] == 1 && rank[1] == 3 && rank[2] == 2 && rank[3] == 1);
    T_CHECK(prio[0] == 1 && prio[1] == 2 && prio[2] == 0 && prio[3] == 3);   /* ties: A before D */
    fkinit(&f, &g);
    ub_sched_cfg c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_LINE(&f, "0 r0 B running 1");
    T_LINE(&f, "1 r0 C running 1");          /* C (2 to go) before A (1) */
    T_LINE(&f, "2 r0 A running 1");          /* A and D tie: topological order */
    T_LINE(&f, "3 r0 D running 1");
    T_CHECK(f.now == 4);
    ub_buf_free(&f.log);

    /* last known durations: A takes 10, the chain 1 each: A is the longest path */
    double w[MAXT] = { 10, 1, 1, 1 };
    T_INTEQ(ub_sched_rank(&g.s, w, rank, prio), 0);
    T_CHECK(rank[0] == 10 && rank[1] == 3);
    T_CHECK(prio[0] == 0 && prio[1] == 1);
    fkinit(&f, &g);
    script(&f, 0, 0, (step){ 10, 1, 0, 0, NULL });
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run_weighted(&c, w, &fops, &f, &sum), 0);
    T_LINE(&f, "0 r0 A running 1");          /* by task count B would go first */
    T_LINE(&f, "10 r0 B running 1");
    T_LINE(&f, "12 r0 D running 1");
    T_CHECK(f.now == 13);
    ub_buf_free(&f.log);

    /* a diamond with a long arm: A -> B -> E and A -> C -> D -> E;
     * ranks by task count: A 4, C 3, D 2, B 2, E 1; ready after A: B and C, C first */
    mkspec(&g, 5, "ABACBECDDE");
    T_INTEQ(ub_sched_rank(&g.s, NULL, rank, prio), 0);
    T_CHECK(rank[0] == 4 && rank[1] == 2 && rank[2] == 3 && rank[3] == 2 && rank[4] == 1);
    fkinit(&f, &g);
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &fops, &f, &sum), 0);
    T_LINE(&f, "1 r0 C running 1");
    T_LINE(&f, "2 r0 B running 1");          /* B and D tie at 2: B comes first in topological order */
    T_LINE(&f, "3 r0 D running 1");
    T_LINE(&f, "4 r0 E running 1");
    ub_buf_free(&f.log);
}

/* measured durations with a tolerance: paths within 10% or 100 ms of the longest of their class
 * tie and go as without weights (tasks, then spec order); a long side branch with known
 * durations starts before a chain that is longer in tasks but shorter in seconds */
static void test_tolerance(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    double rank[MAXT];
    size_t prio[MAXT];
    T_CHECK(ub_sched_paths_tie(1.0, 1.05));
    T_CHECK(ub_sched_paths_tie(1.05, 1.0));
    T_CHECK(ub_sched_paths_tie(10, 10.9));          /* 9% */
    T_CHECK(!ub_sched_paths_tie(10, 11.2));         /* 11% and 1.2 s */
    T_CHECK(ub_sched_paths_tie(0.5, 0.59));         /* 18%, but 90 ms */
    T_CHECK(!ub_sched_paths_tie(0.5, 0.65));        /* 150 ms and 23% */
    T_CHECK(ub_sched_paths_tie(0, 0));

    /* three equal 1 s tasks whose measured durations differ by milliseconds keep spec order */
    mkspec(&g, 3, "");
    double eq[MAXT] = { 1.003, 1.012, 0.998 };
    T_INTEQ(ub_sched_rank(&g.s, eq, rank, prio), 0);
    T_CHECK(prio[0] == 0 && prio[1] == 1 && prio[2] == 2);
    double eq2[MAXT] = { 0.95, 1.0, 1.04 };         /* the spread is monotone the other way */
    T_INTEQ(ub_sched_rank(&g.s, eq2, rank, prio), 0);
    T_CHECK(prio[0] == 0 && prio[1] == 1 && prio[2] == 2);
    fkinit(&f, &g);
    ub_sched_cfg c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run_weighted(&c, eq2, &fops, &f, &sum), 0);
    T_LINE(&f, "0 r0 A running 1");
    T_LINE(&f, "1 r0 B running 1");
    T_LINE(&f, "2 r0 C running 1");
    ub_buf_free(&f.log);
    /* beyond the tolerance the measured order wins */
    double far[MAXT] = { 1, 1, 3 };
    T_INTEQ(ub_sched_rank(&g.s, far, rank, prio), 0);
    T_CHECK(prio[0] == 2 && prio[1] == 0 && prio[2] == 1);

    /* a tie in seconds falls back to the path in tasks: A alone 2.0 s, B -> C 1.0 + 0.95 s */
    mkspec(&g, 3, "BC");
    double tie[MAXT] = { 2.0, 1.0, 0.95 };
    T_INTEQ(ub_sched_rank(&g.s, tie, rank, prio), 0);
    T_CHECK(prio[0] == 1 && prio[1] == 0 && prio[2] == 2);

    /* the reference pipeline's shape: A extract -> C stage -> E load -> F metric (4 tasks, 2.7 s),
     * B review upload -> D classify -> F (3 tasks, 5.3 s) */
    mkspec(&g, 6, "ACCEEFBDDF");
    T_INTEQ(ub_sched_rank(&g.s, NULL, rank, prio), 0);
    T_CHECK(prio[0] == 0 && prio[1] == 1);          /* by tasks: the extract */
    double ref[MAXT] = { 1, 2, 0.2, 3, 1.2, 0.3 };
    T_INTEQ(ub_sched_rank(&g.s, ref, rank, prio), 0);
    T_CHECK(rank[0] > 2.69 && rank[0] < 2.71 && rank[1] > 5.29 && rank[1] < 5.31);
    T_CHECK(prio[0] == 1 && prio[1] == 3 && prio[2] == 0);
    fkinit(&f, &g);
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run_weighted(&c, ref, &fops, &f, &sum), 0);
    T_LINE(&f, "0 r0 B running 1");
    T_LINE(&f, "1 r0 D running 1");
    T_LINE(&f, "2 r0 A running 1");
    ub_buf_free(&f.log);
}

/* the weights from the journal of the latest ds: last successful try's duration, the average for
 * a task never done; no journal at all: NULL (count tasks) */
static void test_history(void)
{
    gspec g;
    char dir[] = "/tmp/ub_sched_hist_XXXXXX";
    ub_buf b = UB_BUF_INIT;
    mkspec(&g, 3, "AB");
    if (!mkdtemp(dir)) {
        T_CHECK(0);
        return;
    }
    T_CHECK(ub_sched_history(&g.s, dir, NULL) == NULL);
    const char *days[] = { "2021-01-01", "2021-01-02" };
    for (int k = 0; k < 2; k++) {
        ub_buf_reset(&b);
        ub_buf_addf(&b, "mkdir -p %s/runs/p/%s", dir, days[k]);
        T_INTEQ(system(ub_buf_str(&b)), 0);
        ub_buf_reset(&b);
        ub_buf_addf(&b, "%s/runs/p/%s/journal.jsonl", dir, days[k]);
        FILE *f = fopen(ub_buf_str(&b), "w");
        T_CHECK(f != NULL);
        if (!f)
            goto out;
        /* the older day says A took 100 s: only the latest day counts */
        fprintf(f, "{\"ts\":10,\"task\":\"A\",\"state\":\"running\",\"try\":1}\n"
                   "{\"ts\":%d,\"task\":\"A\",\"state\":\"success\",\"try\":1}\n"
                   "{\"ts\":20,\"task\":\"B\",\"state\":\"running\",\"try\":1}\n"
                   "{\"ts\":24,\"task\":\"B\",\"state\":\"success\",\"try\":1}\n"
                   "{\"ts\":30,\"task\":\"C\",\"state\":\"running\",\"try\":1}\n"
                   "{\"ts\":31,\"task\":\"C\",\"state\":\"failed\",\"try\":1}\n", k ? 12 : 110);
        fclose(f);
    }
    double *w = ub_sched_history(&g.s, dir, NULL);
    T_CHECK(w != NULL);
    if (w) {
        T_CHECK(w[0] == 2 && w[1] == 4 && w[2] == 3);      /* C failed: the average of A and B */
        ub_free(w);
    }
    /* run.c asks for the most recent ds before the one it runs: a rerun of 2021-01-02 goes by
     * 2021-01-01, a run of 2021-01-01 by nothing */
    w = ub_sched_history(&g.s, dir, "2021-01-02");
    T_CHECK(w != NULL);
    if (w) {
        T_CHECK(w[0] == 100 && w[1] == 4 && w[2] == 52);
        ub_free(w);
    }
    T_CHECK(ub_sched_history(&g.s, dir, "2021-01-01") == NULL);
    w = ub_sched_history(&g.s, dir, "2021-01-03");
    T_CHECK(w != NULL && w[0] == 2);
    ub_free(w);
out:
    ub_buf_reset(&b);
    ub_buf_addf(&b, "rm -rf %s", dir);
    T_INTEQ(system(ub_buf_str(&b)), 0);
    ub_buf_free(&b);
}

/* The streaming hand-off (ops->early): A -> B -> C, C offered early while A runs.  One worker:
 * the early C rides on A's (it does not wait for B's worker). */
static void test_early(void)
{
    gspec g;
    fake f;
    ub_sched_summary sum;
    ub_sched_cfg c;
    /* success: C starts at 0 beside A, ends at 12 after B (10-11) */
    mkspec(&g, 3, "ABBC");
    fkinit(&f, &g);
    f.early_task = 2;
    script(&f, 0, 0, (step){ 10, 1, 0, 0, NULL });
    script(&f, 0, 1, (step){ 1, 1, 0, 0, NULL });
    script(&f, 0, 2, (step){ 12, 1, 0, 0, NULL });
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &eops, &f, &sum), 0);
    T_LINE(&f, "0 r0 C running 1");
    T_LINE(&f, "10 r0 B running 1");
    T_LINE(&f, "12 r0 C success 1");
    T_INTEQ(f.used[0][2], 1);
    T_CHECK(f.now == 12);
    ub_buf_free(&f.log);

    /* A fails for good: B upstream_failed, the early C is stopped and upstream_failed too */
    mkspec(&g, 3, "ABBC");
    fkinit(&f, &g);
    f.early_task = 2;
    script(&f, 0, 0, (step){ 5, 0, 1, 0, "source gone" });
    script(&f, 0, 2, (step){ 12, 1, 0, 0, NULL });
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &eops, &f, &sum), 1);
    T_LINE(&f, "5 r0 A failed 1 [source gone]");
    T_LINE(&f, "5 r0 B upstream_failed 0");
    T_LINE(&f, "5 SIGTERM C");
    T_LINE(&f, "5.5 r0 C upstream_failed 1");
    T_INTEQ((int)sum.tasks_failed, 1);
    T_INTEQ(f.closed[0], 2);
    ub_buf_free(&f.log);

    /* C fails (fatally, no retries) while A still runs: not counted, not final; it runs again
     * once B succeeded, in the ordinary way (a second early try is never made) */
    mkspec(&g, 3, "ABBC");
    g.t[2].retries = 0;
    fkinit(&f, &g);
    f.early_task = 2;
    script(&f, 0, 0, (step){ 10, 1, 0, 0, NULL });
    script(&f, 0, 1, (step){ 1, 1, 0, 0, NULL });
    script(&f, 0, 2, (step){ 2, 0, 1, 0, "bad row" });
    script(&f, 0, 2, (step){ 1, 1, 0, 0, NULL });
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &eops, &f, &sum), 0);
    T_LINE(&f, "2 r0 C up_for_retry 1 [bad row]");
    T_LINE(&f, "11 r0 C queued 1");
    T_LINE(&f, "11 r0 C running 2");
    T_LINE(&f, "12 r0 C success 2");
    T_INTEQ(f.used[0][2], 2);
    ub_buf_free(&f.log);

    /* an early C that reports success before its upstream did is not believed */
    mkspec(&g, 3, "ABBC");
    fkinit(&f, &g);
    f.early_task = 2;
    script(&f, 0, 0, (step){ 10, 1, 0, 0, NULL });
    script(&f, 0, 1, (step){ 1, 1, 0, 0, NULL });
    script(&f, 0, 2, (step){ 3, 1, 0, 0, NULL });
    script(&f, 0, 2, (step){ 1, 1, 0, 0, NULL });
    c = cfg_of(&g, &f, 1, 1);
    T_INTEQ(ub_sched_run(&c, &eops, &f, &sum), 0);
    T_LINE(&f, "3 r0 C up_for_retry 1 [ended with success before its upstream tasks did]");
    T_LINE(&f, "12 r0 C success 2");
    ub_buf_free(&f.log);
}

int main(void)
{
    test_delays();
    test_fail_twice_then_succeed();
    test_keeps_failing();
    test_fatal();
    test_workers();
    test_timeout();
    test_cancel();
    test_resume();
    test_runs();
    test_critical_path();
    test_tolerance();
    test_history();
    test_early();
    return t_done("test_sched");
}
