/* run.c — `ubpipe run`: the scheduler core over forked task processes, the
 * journal, resume, backfill, progress and signals; the range form of `plan`.
 * The readers of what a run left (`status`, `logs`) are in status.c. */
#include "core/run.h"
#include "core/hooks.h"
#include "core/fingerprint.h"
#include "core/handoff.h"
#include "core/lineage.h"
#include "base/date.h"
#include "base/jtext.h"
#include "base/show.h"
#include "core/journal.h"
#include "core/plan.h"
#include "core/sched.h"
#include "io/stream.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRACE_DEFAULT 10.0            /* seconds between SIGTERM and SIGKILL */
#define CHILD_PROGRESS_EVERY 0.5      /* a child forwards progress at most this often */
#define PLAIN_PROGRESS_EVERY 10.0     /* not a TTY: a progress line per task at most this often */

typedef struct runinfo {              /* one date */
    ub_ds      ds;
    ub_engine *e;                     /* while open */
    ub_journal j;
    int        jopen;
    int        lockfd;
    double     t0;
    size_t     pending;                  /* tasks to run when it opened */
    char      *fresh;                 /* per task: run from scratch (--rerun, --only), no outputs
                                         of an earlier run to re-attach to */
    char       lineage_run[37];       /* OpenLineage runId of this pipeline run (the parent) */
    ub_handoff *ho;                   /* streaming hand-offs of this run (handoff.h) */
    size_t     nho;
} runinfo;

enum { W_FREE, W_RUNNING, W_DONE, W_REPORTED };

typedef struct worker {               /* one running try */
    int      st;
    size_t   run, task;
    int      try_no;
    pid_t    pid;
    int      fd;                      /* read end of the child's pipe; -1 at EOF */
    ub_buf   in;                      /* bytes of an unfinished line */
    int      status, reaped;
    int      got_result, ok, fatal;
    ub_buf   error;
    json_t  *outputs;
    uint64_t rows, bytes;
    int      has_progress;
    double   started, shown;          /* monotonic */
    char    *logpath;
    json_t  *fp;                      /* fingerprint components, computed before the try started */
    json_t  *inputs;                  /* content hashes the try reported while streaming */
    char    *stream;                  /* the file the try announced it writes (handoff.h) */
    int      ctl;                     /* an early try's control pipe (write end); -1 none */
    const ub_handoff *ho;             /* an early try: its hand-off */
} worker;

typedef struct runner {
    ub_spec             *spec;
    const ub_engine_opts *eo;
    const ub_run_opts   *o;
    ub_diag             *diag;
    runinfo             *runs;
    size_t               nruns;
    char                *sel;          /* tasks selected by --only */
    char                *forced;       /* tasks --rerun=T names */
    worker              *w;
    size_t               nw;           /* 2 x jobs: an early try (handoff.h) rides on its extract's worker */
    size_t               jobs;
    int                  tty, color;
    size_t               live;         /* lines of the live view on screen */
    double               drawn;
    double               grace;
    ub_lineage          *lineage;      /* NULL: no OpenLineage transport configured */
    char                 jfail[1100];  /* first journal write failure: the run stops */
} runner;

/* ---- small helpers --------------------------------------------------------- */

/* "1.2 MB" */
static void human_bytes(uint64_t b, char *out, size_t cap)
{
    static const char *const u[] = { "B", "kB", "MB", "GB", "TB" };
    double v = (double)b;
    size_t i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static int task_selected(const runner *R, size_t i) { return R->sel[i]; }

/* Marks in sel the tasks of a comma-separated list (of option flag); an id
 * that is not a task of s is an error naming the closest one. */
static int task_list(ub_spec *s, const char *flag, const char *list, char *sel, ub_diag *diag)
{
    const char **ids = ub_calloc(s->ntasks + 1, sizeof *ids);
    const char *p = list;
    int rc = -1;
    if (!ids) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->ntasks; i++)
        ids[i] = s->tasks[i].id;
    if (!*p) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s: no task named (a comma-separated list of task ids)", flag);
        goto out;
    }
    while (*p) {
        size_t l = strcspn(p, ",");
        size_t i;
        for (i = 0; i < s->ntasks; i++)
            if (strlen(s->tasks[i].id) == l && strncmp(s->tasks[i].id, p, l) == 0)
                break;
        if (i == s->ntasks) {
            char word[256];
            snprintf(word, sizeof word, "%.*s", (int)l, p);
            const char *sug = ub_suggest(word, ids);
            ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s: '%s' is not a task of '%s'%s%s%s", flag, word,
                          s->pipeline, sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
            goto out;
        }
        sel[i] = 1;
        p += l + (p[l] == ',');
    }
    rc = 0;
out:
    ub_free(ids);
    return rc;
}

/* Adds to sel every task downstream of a task in it. */
static void add_downstream(const ub_spec *s, char *sel)
{
    for (size_t k = 0; k < s->ntasks; k++) {              /* order: upstream first */
        const ub_task *t = &s->tasks[s->order[k]];
        for (size_t j = 0; j < t->nafter; j++)
            if (sel[t->after[j]])
                sel[t->index] = 1;
    }
}

/* Marks the tasks selected by --only (and --downstream), and in forced
 * (may be NULL) the tasks --rerun=T1,T2 names (the fingerprints' decision
 * runs their downstream). */
static int select_tasks(ub_spec *s, const ub_run_opts *o, char *sel, char *forced, ub_diag *diag)
{
    if (forced) {
        memset(forced, 0, s->ntasks);
        if (o->rerun_tasks && task_list(s, "--rerun", o->rerun_tasks, forced, diag))
            return -1;
    }
    if (!o->only) {
        memset(sel, 1, s->ntasks);
        return 0;
    }
    memset(sel, 0, s->ntasks);
    if (task_list(s, "--only", o->only, sel, diag))
        return -1;
    if (o->downstream || o->rerun)                     /* --only T --rerun: T and its downstream */
        add_downstream(s, sel);
    return 0;
}

int ub_run_selection(ub_spec *s, const ub_run_opts *o, char *sel, char *force, ub_diag *diag)
{
    if (select_tasks(s, o, sel, force, diag))
        return -1;
    for (size_t i = 0; i < s->ntasks; i++)     /* as the run forces them (its decision step) */
        force[i] = o->rerun || (o->only && sel[i]) || force[i];
    return 0;
}

static int depends_on_past(const ub_spec *s)
{
    const ub_node *n = ub_node_get(s->root, "depends_on_past");
    return n && n->kind == UB_SCALAR && strcmp(n->str, "true") == 0;
}

/* The directory of a file lake ("file:DIR", relative to the spec), or NULL. */
static char *file_lake_root(const ub_engine *e)
{
    const char *u = ub_engine_lake_url(e);
    if (!u || strncmp(u, "file:", 5) != 0)
        return NULL;
    u += 5;
    if (u[0] == '/' && u[1] == '/')
        u += 2;
    ub_buf b = UB_BUF_INIT;
    if (u[0] != '/')
        ub_buf_addf(&b, "%s/", e->spec->dir);
    ub_buf_adds(&b, u);
    return ub_buf_detach(&b, NULL);
}

/* Removes the temporary files a killed try left (those of live processes stay). */
static void sweep(const ub_engine *e)
{
    ub_stream_sweep_tmp(e->workdir);
    /* the local EMR runner's records (a submitting try killed mid-write) and
     * its scratch HDFS under the state directory */
    static const char *const under_state[] = { "emr", "hdfs" };
    for (size_t i = 0; i < sizeof under_state / sizeof *under_state; i++) {
        ub_buf d = UB_BUF_INIT;
        ub_buf_addf(&d, "%s/%s", e->state_dir, under_state[i]);
        if (!d.err)
            ub_stream_sweep_tmp(d.p);
        ub_buf_free(&d);
    }
    char *lake = file_lake_root(e);
    if (lake)
        ub_stream_sweep_tmp(lake);
    ub_free(lake);
}

/* ---- output ------------------------------------------------------------------ */

static void clear_live(runner *R)
{
    if (!R->live)
        return;
    for (size_t i = 0; i < R->live; i++)
        fputs("\033[1A\033[2K", stderr);
    fputs("\r", stderr);
    R->live = 0;
}

/* The live view of running tries (TTY only): task, try, time, rows, bytes, rate. */
static void draw_live(runner *R, int force)
{
    double now = ub_mono();
    if (!R->tty || R->o->quiet || R->o->log_json || (!force && now - R->drawn < 0.2))
        return;
    clear_live(R);
    R->drawn = now;
    for (size_t k = 0; k < R->nw; k++) {
        const worker *w = &R->w[k];
        if (w->st != W_RUNNING)
            continue;
        double el = now - w->started;
        char line[512];
        int n = snprintf(line, sizeof line, "  %s %s%s%s (try %d) %5.1fs", R->color ? "\033[36m▸\033[0m" : ">",
                         R->nruns > 1 ? R->runs[w->run].ds.s : "", R->nruns > 1 ? " " : "",
                         R->spec->tasks[w->task].id, w->try_no, el);
        if (w->has_progress && n > 0 && (size_t)n < sizeof line) {
            char b[32], rate[32];
            human_bytes(w->bytes, b, sizeof b);
            human_bytes(el > 0 ? (uint64_t)((double)w->bytes / el) : 0, rate, sizeof rate);
            snprintf(line + n, sizeof line - (size_t)n, "  %llu rows  %s  %s/s", (unsigned long long)w->rows, b,
                     rate);
        }
        fprintf(stderr, "%s\n", line);
        R->live++;
    }
    fflush(stderr);
}

/* A line on stderr, secrets masked and made safe for a terminal (base/show.h:
 * errors and reasons quote paths, SQL and data): progress (error 0) is dropped
 * by --quiet and --log-format json, failures (error 1) only by json.  lead,
 * printed as it is before the line, is ubpipe's own (the painted state word). */
static void vsay(runner *R, int error, const char *lead, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void vsay(runner *R, int error, const char *lead, const char *fmt, va_list ap)
{
    if ((R->o->quiet && !error) || R->o->log_json)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ub_buf m = UB_BUF_INIT, v = UB_BUF_INIT;
    ub_secret_mask(msg, &m);
    ub_show(&v, ub_buf_str(&m), m.len);
    clear_live(R);
    fprintf(stderr, "%s%s\n", lead ? lead : "", ub_buf_str(&v));
    ub_buf_free(&m);
    ub_buf_free(&v);
    draw_live(R, 1);
}

static void say(runner *R, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(runner *R, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(R, error, NULL, fmt, ap);
    va_end(ap);
}

/* "  WORD " (painted) and the line */
static void say_state(runner *R, int error, const char *word, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say_state(runner *R, int error, const char *word, const char *fmt, ...)
{
    char lead[96];
    snprintf(lead, sizeof lead, "  %s ", word);
    va_list ap;
    va_start(ap, fmt);
    vsay(R, error, lead, fmt, ap);
    va_end(ap);
}

/* --log-format json: one object per event on stderr, secrets masked. */
static void emit_json(runner *R, json_t *ev)
{
    if (!R->o->log_json) {
        json_decref(ev);
        return;
    }
    json_object_set_new(ev, "ts", json_real(ub_now()));
    json_object_set_new(ev, "pipeline", ub_jtext(R->spec->pipeline));
    ub_secret_mask_json(ev);                  /* the values first: the line stays valid JSON */
    char *txt = ub_jtext_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    if (!txt)
        return;
    ub_buf m = UB_BUF_INIT;
    ub_secret_mask(txt, &m);
    fprintf(stderr, "%s\n", ub_buf_str(&m));
    fflush(stderr);
    ub_buf_free(&m);
    ub_free(txt);
}

static const char *paint(const runner *R, const char *code, const char *word, char *buf, size_t cap)
{
    if (!R->color)
        snprintf(buf, cap, "%-8s", word);
    else
        snprintf(buf, cap, "\033[%sm%-8s\033[0m", code, word);
    return buf;
}

/* ---- the child: one try of one task ------------------------------------------ */

typedef struct child_io {
    int fd;
    double last;             /* when progress was last sent */
    uint64_t rows, bytes;    /* the latest progress, sent at the end unthrottled */
    int any;
} child_io;

static volatile sig_atomic_t child_stop;

static void on_child_signal(int sig)
{
    (void)sig;
    ub_cancel_requested = 1;
    child_stop = 1;
}

static void child_send(int fd, json_t *msg)
{
    char *txt = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!txt)
        return;
    size_t l = strlen(txt);
    if (ub_write_all(fd, txt, l) == 0)
        ub_write_all(fd, "\n", 1);
    ub_free(txt);
}

static void child_progress(void *ud, uint64_t rows, uint64_t bytes)
{
    child_io *io = ud;
    double now = ub_mono();
    io->rows = rows;
    io->bytes = bytes;
    io->any = 1;
    if (now - io->last < CHILD_PROGRESS_EVERY)
        return;
    io->last = now;
    child_send(io->fd, json_pack("{s:[I,I]}", "progress", (json_int_t)rows, (json_int_t)bytes));
}

/* Runs in the forked child; never returns. */
/* P of a hand-off: the file it writes, to the scheduler */
static void child_stream(void *ud, const char *path)
{
    child_io *io = ud;
    child_send(io->fd, json_pack("{s:s}", "stream", path));
}

static void child_main(runner *R, size_t r, size_t i, int try_no, int fd, const char *logpath, pid_t parent,
                       ub_handoff_in *hin)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* die with the scheduler: a try left running after a SIGKILL of ubpipe
     * would race the try of the resumed run */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(3);
    for (size_t k = 0; k < R->nw; k++) {
        if (R->w[k].st != W_FREE && R->w[k].fd >= 0)
            close(R->w[k].fd);
        if (R->w[k].st != W_FREE && R->w[k].ctl >= 0)
            close(R->w[k].ctl);
    }
    for (size_t k = 0; k < R->nruns; k++)
        if (R->runs[k].jopen && R->runs[k].j.fd >= 0)
            close(R->runs[k].j.fd);           /* only the scheduler writes the journal */
    ub_engine *e = R->runs[r].e;
    ub_task *t = &R->spec->tasks[i];
    child_io io = { fd, 0, 0, 0, 0 };
    ub_opctx *c = ub_ctx_new(e, t, try_no);
    if (!c) {
        child_send(fd, json_pack("{s:{s:b, s:b, s:s}}", "result", "ok", 0, "fatal", 0, "error", "out of memory"));
        _exit(0);
    }
    const ub_jtask *prev = ub_journal_task(&R->runs[r].j, t->id);
    if (prev && !R->runs[r].fresh[i])
        ub_ctx_set_prev(c, prev->outputs, prev->nout);
    FILE *log = fopen(logpath, "w");
    ub_ctx_set_log(c, log);
    ub_ctx_set_lineage(c, R->lineage != NULL);
    ub_ctx_set_progress_cb(c, child_progress, &io);
    for (size_t k = 0; k < R->runs[r].nho; k++)
        if (R->runs[r].ho[k].src == i && ub_handoff_enabled())
            ub_ctx_set_stream_cb(c, child_stream, &io);
    if (hin)
        ub_ctx_set_handoff(c, hin);
    ub_op_log(c, "try %d of %d, operator %s, pid %ld", try_no, t->retries + 1, t->op->name, (long)getpid());
    if (hin)
        ub_op_log(c, "started before its upstream ended (streaming hand-off): following %s", hin->path);
    char lrun[37];
    ub_lineage_uuid(lrun);
    int ldown = ub_lineage_emit(R->lineage, e, t, c, lrun, R->runs[r].lineage_run, "START", NULL) != 0;
    int rc = ub_ctx_preflight(c) ? -1 : t->op->run(c);      /* fails for good: the spec is wrong */
    if (rc == 0 && *ub_ctx_error(c))
        rc = -1;
    if (rc && !*ub_ctx_error(c))
        ub_op_fail(c, "failed");
    if (rc == 0 && ub_hooks_has(t, "on_success")) {
        /* runs here, in the try: a failing check fails the task (no retry),
         * and what the hook publishes joins the task's outputs */
        const ub_kv *kv0;
        size_t n0 = ub_ctx_outputs(c, &kv0), npub = 0;
        ub_kv *pub = NULL;
        ub_err herr;
        if (ub_hooks_run(e, t, "on_success", try_no, NULL, kv0, n0, &pub, &npub, &herr)) {
            ub_op_fatal(c, "%s", herr.msg);
            rc = -1;
        } else {
            for (size_t k = 0; k < npub; k++)
                ub_op_set_output(c, pub[k].key, pub[k].val);
            ub_hooks_free(pub, npub);
        }
    }
    if (rc && child_stop)
        ub_op_log(c, "stopped by the scheduler");
    ldown |= ub_lineage_emit(R->lineage, e, t, c, lrun, R->runs[r].lineage_run,
                             rc == 0 ? "COMPLETE" : child_stop || ub_op_cancelled(c) ? "ABORT" : "FAIL",
                             ub_ctx_error(c)) != 0;
    ub_op_log(c, rc ? "failed: %s" : "success%s", rc ? ub_ctx_error(c) : "");
    if (io.any)                                /* the final figures, whatever the throttle dropped */
        child_send(fd, json_pack("{s:[I,I]}", "progress", (json_int_t)io.rows, (json_int_t)io.bytes));
    json_t *outs = json_object(), *ins = json_object();
    const ub_kv *kv;
    size_t n = ub_ctx_outputs(c, &kv);
    for (size_t k = 0; k < n; k++)
        json_object_set_new(outs, kv[k].key, ub_jtext(kv[k].val));
    n = ub_ctx_inputs(c, &kv);
    for (size_t k = 0; k < n; k++)
        json_object_set_new(ins, kv[k].key, ub_jtext(kv[k].val));
    /* the error as ub_jtext: a message quoting a path that is not UTF-8 must not
     * lose the whole result ("exited with status 0 without a result") */
    json_t *res = json_pack("{s:{s:b, s:b, s:o, s:o, s:o, s:b}}", "result", "ok", rc == 0, "fatal", ub_ctx_fatal(c),
                            "error", ub_jtext(ub_ctx_error(c)), "outputs", outs, "inputs", ins, "lineage_down", ldown);
    if (!res)                                  /* out of memory: still a result */
        res = json_pack("{s:{s:b, s:b, s:s}}", "result", "ok", 0, "fatal", 0, "error", "out of memory");
    child_send(fd, res);
    ub_ctx_set_log(c, NULL);
    if (log)
        fclose(log);
    _exit(0);
}

/* ---- the scheduler's side ----------------------------------------------------- */

static worker *find_worker(runner *R, size_t r, size_t i, int st)
{
    for (size_t k = 0; k < R->nw; k++)
        if (R->w[k].st == st && R->w[k].run == r && R->w[k].task == i)
            return &R->w[k];
    return NULL;
}

static void release(worker *w)
{
    ub_buf_free(&w->in);
    ub_buf_free(&w->error);
    ub_free(w->stream);
    if (w->ctl >= 0)
        close(w->ctl);
    json_decref(w->outputs);
    json_decref(w->fp);
    json_decref(w->inputs);
    ub_free(w->logpath);
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->ctl = -1;
    w->st = W_FREE;
}

static void release_reported(runner *R)
{
    for (size_t k = 0; k < R->nw; k++)
        if (R->w[k].st == W_REPORTED)
            release(&R->w[k]);
}

/* One line from a child: progress or the result. */
static void child_line(runner *R, worker *w, const char *line)
{
    json_t *m = json_loads(line, 0, NULL);
    if (!m)
        return;
    json_t *p = json_object_get(m, "progress"), *res = json_object_get(m, "result");
    const char *stream = json_string_value(json_object_get(m, "stream"));
    if (stream && !w->stream) {
        w->stream = ub_strdup(stream);
    } else if (json_is_array(p)) {
        w->rows = (uint64_t)json_integer_value(json_array_get(p, 0));
        w->bytes = (uint64_t)json_integer_value(json_array_get(p, 1));
        w->has_progress = 1;
        double now = ub_mono();
        const runinfo *ri = &R->runs[w->run];
        if (R->o->log_json && now - w->shown >= 1.0) {
            w->shown = now;
            emit_json(R, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:f}", "event", "progress", "ds", ri->ds.s,
                                   "task", R->spec->tasks[w->task].id, "try", w->try_no, "rows", (json_int_t)w->rows,
                                   "bytes", (json_int_t)w->bytes, "elapsed_s", now - w->started));
        } else if (!R->tty && !R->o->quiet && !R->o->log_json && now - w->shown >= PLAIN_PROGRESS_EVERY) {
            char b[32];
            w->shown = now;
            human_bytes(w->bytes, b, sizeof b);
            say(R, 0, "  ...      %s%s%s: %llu rows, %s so far (%.0fs)", R->nruns > 1 ? ri->ds.s : "",
                R->nruns > 1 ? " " : "", R->spec->tasks[w->task].id, (unsigned long long)w->rows, b,
                now - w->started);
        }
    } else if (json_is_object(res)) {
        w->got_result = 1;
        w->ok = json_is_true(json_object_get(res, "ok"));
        w->fatal = json_is_true(json_object_get(res, "fatal"));
        const char *e = json_string_value(json_object_get(res, "error"));
        ub_buf_reset(&w->error);
        ub_buf_adds(&w->error, e ? e : "");
        json_decref(w->outputs);
        w->outputs = json_incref(json_object_get(res, "outputs"));
        json_decref(w->inputs);
        w->inputs = json_incref(json_object_get(res, "inputs"));
        if (json_is_true(json_object_get(res, "lineage_down")))
            ub_lineage_set_down(R->lineage);     /* later tries send nothing more */
    }
    json_decref(m);
}

/* Reads what the child wrote; closes the pipe at EOF. */
static void drain(runner *R, worker *w)
{
    char buf[8192];
    while (w->fd >= 0) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close(w->fd);
            w->fd = -1;
            break;
        }
        ub_buf_add(&w->in, buf, (size_t)n);
        char *nl;
        while (w->in.len && (nl = memchr(w->in.p, '\n', w->in.len)) != NULL) {
            *nl = '\0';
            child_line(R, w, w->in.p);
            size_t used = (size_t)(nl - w->in.p) + 1;
            memmove(w->in.p, nl + 1, w->in.len - used);
            w->in.len -= used;
        }
    }
}

/* A try whose process is gone: its result, or why it has none. */
static void finish(runner *R, worker *w)
{
    if (w->fd >= 0) {
        drain(R, w);
        if (w->fd >= 0) {                     /* a grandchild holds the pipe: stop listening */
            close(w->fd);
            w->fd = -1;
        }
    }
    if (!w->got_result) {
        w->ok = 0;
        ub_buf_reset(&w->error);
        if (WIFSIGNALED(w->status))
            ub_buf_addf(&w->error, "the task process was killed by signal %d (%s)", WTERMSIG(w->status),
                        strsignal(WTERMSIG(w->status)));
        else
            ub_buf_addf(&w->error, "the task process exited with status %d without a result",
                        WEXITSTATUS(w->status));
    }
    if (!w->got_result || !w->ok)
        sweep(R->runs[w->run].e);
    w->st = W_DONE;
}

static double op_now(void *ud)
{
    (void)ud;
    return ub_mono();
}

static int op_start(void *ud, size_t r, size_t i, int try_no, ub_err *err)
{
    runner *R = ud;
    runinfo *ri = &R->runs[r];
    ub_task *t = &R->spec->tasks[i];
    worker *w = NULL;
    ub_buf lp = UB_BUF_INIT;
    int pfd[2] = { -1, -1 }, cfd[2] = { -1, -1 };
    int rc = -1;
    const char *why = NULL;
    json_t *fp = NULL;
    release_reported(R);
    for (size_t k = 0; k < R->nw && !w; k++)
        if (R->w[k].st == W_FREE)
            w = &R->w[k];
    if (R->jfail[0]) {                        /* no try starts that the journal cannot record */
        ub_err_set(err, "not started: %s", R->jfail);
        goto out;
    }
    if (!w) {
        ub_err_set(err, "no free worker for task '%s'", t->id);   /* not reached: the core bounds tries */
        goto out;
    }
    if (ub_journal_log_path(ri->e->state_dir, R->spec->pipeline, ri->ds.s, t->id, try_no, &lp)) {
        ub_err_set(err, "cannot create the log directory of task '%s'", t->id);
        goto out;
    }
    if (pipe(pfd) || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) || fcntl(pfd[1], F_SETFD, FD_CLOEXEC)) {
        ub_err_set(err, "cannot start task '%s': pipe: %s", t->id, strerror(errno));
        goto out;
    }
    /* an early try (op_early): it follows the file its hand-off's extract announced */
    const ub_handoff *ho = NULL;
    worker *pw = NULL;
    for (size_t k = 0; k < ri->nho && !ho; k++)
        if (ri->ho[k].dst == i && (pw = find_worker(R, r, ri->ho[k].src, W_RUNNING)) != NULL && pw->stream)
            ho = &ri->ho[k];
    ub_handoff_in hin;
    memset(&hin, 0, sizeof hin);
    if (ho) {
        if (pipe(cfd) || fcntl(cfd[0], F_SETFD, FD_CLOEXEC) || fcntl(cfd[1], F_SETFD, FD_CLOEXEC)) {
            ub_err_set(err, "cannot start task '%s': pipe: %s", t->id, strerror(errno));
            goto out;
        }
        hin.path = pw->stream;
        hin.key = ho->key;
        hin.final = ho->file;
        hin.fd = cfd[0];
    }
    /* what the try reads, fixed before it starts (its upstream tasks are done; an
     * early try's is computed again when they are, handoff_notify) */
    fp = ub_fp_compute(ri->e, t, &ri->j, &why);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        ub_err_set(err, "cannot start task '%s': fork: %s", t->id, strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(pfd[0]);
        if (cfd[1] >= 0)
            close(cfd[1]);
        child_main(R, r, i, try_no, pfd[1], lp.p, parent, ho ? &hin : NULL);
    }
    close(pfd[1]);
    pfd[1] = -1;
    if (cfd[0] >= 0)
        close(cfd[0]);
    cfd[0] = -1;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    memset(w, 0, sizeof *w);
    w->ctl = -1;
    ub_buf_init(&w->in, 64u << 20);
    ub_buf_init(&w->error, 1 << 16);
    w->st = W_RUNNING;
    w->run = r;
    w->task = i;
    w->try_no = try_no;
    w->pid = pid;
    w->fd = pfd[0];
    pfd[0] = -1;
    w->started = w->shown = ub_mono();
    w->logpath = ub_buf_detach(&lp, NULL);     /* the worker owns it now */
    w->fp = fp;                                /* NULL: not recorded (the next run runs it) */
    fp = NULL;
    w->ctl = cfd[1];                           /* the worker owns it now */
    cfd[1] = -1;
    w->ho = ho;
    draw_live(R, 1);
    rc = 0;
out:
    json_decref(fp);
    for (int k = 0; k < 2; k++) {
        if (pfd[k] >= 0)
            close(pfd[k]);
        if (cfd[k] >= 0)
            close(cfd[k]);
    }
    ub_buf_free(&lp);
    return rc;
}

/* The core asks whether waiting task i may start early: it is the load of a
 * hand-off whose extract runs and announced its file (handoff.h). */
static int op_early(void *ud, size_t r, size_t i)
{
    runner *R = ud;
    const runinfo *ri = &R->runs[r];
    for (size_t k = 0; k < ri->nho; k++) {
        if (ri->ho[k].dst != i)
            continue;
        const worker *pw = find_worker(R, r, ri->ho[k].src, W_RUNNING);
        if (pw && pw->stream && !pw->got_result && !pw->reaped && !R->jfail[0])
            return 1;
    }
    return 0;
}

/* Task i of run r succeeded: an early try following it hears so ("end" from
 * the extract, "go" from the upload, its fingerprint then taken anew). */
static void handoff_notify(runner *R, size_t r, size_t i)
{
    runinfo *ri = &R->runs[r];
    for (size_t k = 0; k < ri->nho; k++) {
        const ub_handoff *h = &ri->ho[k];
        worker *dw = h->src == i || h->link == i ? find_worker(R, r, h->dst, W_RUNNING) : NULL;
        if (!dw || dw->ho != h || dw->ctl < 0)
            continue;
        if (h->link == i) {
            const char *why = NULL;
            json_decref(dw->fp);
            dw->fp = ub_fp_compute(ri->e, &R->spec->tasks[h->dst], &ri->j, &why);
        }
        const char *line = h->src == i ? "end\n" : "go\n";
        ub_write_all(dw->ctl, line, strlen(line));   /* a try already gone: its end tells the core */
    }
}

/* A try of task i of run r failed: an early try following it stops following (its
 * control pipe closes: nothing committed, and the core does not count its try). */
static void handoff_drop(runner *R, size_t r, size_t i)
{
    runinfo *ri = &R->runs[r];
    for (size_t k = 0; k < ri->nho; k++) {
        const ub_handoff *h = &ri->ho[k];
        worker *dw = h->src == i || h->link == i ? find_worker(R, r, h->dst, W_RUNNING) : NULL;
        if (dw && dw->ho == h && dw->ctl >= 0) {
            close(dw->ctl);
            dw->ctl = -1;
        }
    }
}

static void op_stop(void *ud, size_t r, size_t i, int hard)
{
    runner *R = ud;
    worker *w = find_worker(R, r, i, W_RUNNING);
    if (w && !w->reaped)
        kill(w->pid, hard ? SIGKILL : SIGTERM);
}

static int report(worker *w, ub_sched_result *res)
{
    w->st = W_REPORTED;
    res->run = w->run;
    res->task = w->task;
    res->ok = w->got_result && w->ok;
    res->fatal = w->fatal;
    res->error = ub_buf_str(&w->error);
    return 1;
}

static int op_wait(void *ud, double secs, ub_sched_result *res)
{
    runner *R = ud;
    release_reported(R);
    for (size_t k = 0; k < R->nw; k++)
        if (R->w[k].st == W_DONE)
            return report(&R->w[k], res);
    struct pollfd pf[512];
    worker *pw[512];
    nfds_t n = 0;
    for (size_t k = 0; k < R->nw && n < 512; k++)
        if (R->w[k].st == W_RUNNING && R->w[k].fd >= 0) {
            pf[n].fd = R->w[k].fd;
            pf[n].events = POLLIN;
            pf[n].revents = 0;
            pw[n++] = &R->w[k];
        }
    if (R->tty && secs > 0.2)
        secs = 0.2;
    for (size_t k = 0; k < R->nw; k++)          /* its pipe closed: the process is exiting */
        if (R->w[k].st == W_RUNNING && R->w[k].fd < 0 && secs > 0.002)
            secs = 0.002;
    int pr = poll(pf, n, (int)(secs * 1000 + 0.5));
    if (pr < 0 && errno == EINTR)
        return 0;
    for (nfds_t q = 0; pr > 0 && q < n; q++)
        if (pf[q].revents)
            drain(R, pw[q]);
    for (size_t k = 0; k < R->nw; k++) {
        worker *w = &R->w[k];
        if (w->st != W_RUNNING)
            continue;
        pid_t got = waitpid(w->pid, &w->status, WNOHANG);
        if (got == w->pid || (got < 0 && errno == ECHILD)) {
            w->reaped = 1;
            finish(R, w);
        }
    }
    draw_live(R, 0);
    for (size_t k = 0; k < R->nw; k++)
        if (R->w[k].st == W_DONE)
            return report(&R->w[k], res);
    return 0;
}

/* Outputs of a reported try, as key/value pairs (borrowed from the JSON). */
static size_t outputs_of(const worker *w, ub_kv *kv, size_t cap)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!w || !json_is_object(w->outputs))
        return 0;
    json_object_foreach(w->outputs, k, v) {
        if (n < cap && json_is_string(v)) {
            kv[n].key = k;
            kv[n++].val = json_string_value(v);
        }
    }
    return n;
}

static void op_record(void *ud, size_t r, size_t i, const char *state, int try_no, const char *error, double delay)
{
    runner *R = ud;
    runinfo *ri = &R->runs[r];
    const ub_task *t = &R->spec->tasks[i];
    int ended = strcmp(state, "success") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "up_for_retry") == 0;
    worker *w = ended ? find_worker(R, r, i, W_REPORTED) : NULL;     /* the try that just ended */
    ub_kv kv[64];
    size_t nkv = outputs_of(w, kv, 64);
    ub_err err;
    char word[64];
    const char *pre = R->nruns > 1 ? ri->ds.s : "", *sp = R->nruns > 1 ? " " : "";
    char *fpt = NULL;
    if (w && w->fp && strcmp(state, "success") == 0) {
        ub_fp_merge_inputs(w->fp, w->inputs);
        fpt = json_dumps(w->fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    /* the journal is a precondition: the first failed write stops the run
     * (tries are cancelled as on SIGTERM; nothing new starts) */
    /* a try that starts over says so in its first record, so that a resume
     * after a crash does not take an older run's outputs for its own */
    int fresh = ri->fresh && ri->fresh[i] && strcmp(state, "queued") == 0;
    int jrc = fresh ? ub_journal_record_fresh(&ri->j, t->id, state, try_no, &err)
                    : ub_journal_record_fp(&ri->j, t->id, state, try_no, error, kv, nkv, fpt, &err);
    if (jrc && !R->jfail[0]) {
        snprintf(R->jfail, sizeof R->jfail, "%s", err.msg);
        say(R, 1, "ubpipe: %s; stopping the run", err.msg);
        ub_cancel_requested = 1;
    }
    ub_free(fpt);
    if (strcmp(state, "up_for_retry") == 0 || strcmp(state, "failed") == 0)
        handoff_drop(R, r, i);
    /* on_failure / on_retry hooks run here, in the scheduler: they report, they
     * cannot change the outcome */
    const char *hook = strcmp(state, "failed") == 0 ? "on_failure"
                     : strcmp(state, "up_for_retry") == 0 ? "on_retry" : NULL;
    if (hook && ub_hooks_has(t, hook) &&
        ub_hooks_run(ri->e, (ub_task *)t, hook, try_no, error, kv, nkv, NULL, NULL, &err))
        say(R, 1, "ubpipe: %s", err.msg);
    if (nkv && ri->fresh)
        ri->fresh[i] = 0;                     /* a retry re-attaches to what this try left */
    double dur = w ? ub_mono() - w->started : 0;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:i}", "event", "task", "ds", ri->ds.s, "task", t->id, "state",
                           state, "try", try_no);
    if (error)
        json_object_set_new(ev, "error", ub_jtext(error));
    if (w)
        json_object_set_new(ev, "duration_s", json_real(dur));
    if (delay > 0)
        json_object_set_new(ev, "retry_in_s", json_real(delay));
    if (w && w->has_progress) {
        json_object_set_new(ev, "rows", json_integer((json_int_t)w->rows));
        json_object_set_new(ev, "bytes", json_integer((json_int_t)w->bytes));
    }
    if (w && w->logpath && strcmp(state, "success") != 0)
        json_object_set_new(ev, "log", ub_jtext(w->logpath));
    emit_json(R, ev);
    if (strcmp(state, "running") == 0) {
        say_state(R, 0, paint(R, "0", "start", word, sizeof word), "%s%s%s (try %d)", pre, sp, t->id, try_no);
    } else if (strcmp(state, "success") == 0) {
        ub_engine_publish(ri->e, t->id, kv, nkv);
        handoff_notify(R, r, i);
        char extra[96] = "";
        if (w && w->has_progress) {
            char b[32];
            human_bytes(w->bytes, b, sizeof b);
            snprintf(extra, sizeof extra, ", %llu rows, %s", (unsigned long long)w->rows, b);
        }
        say_state(R, 0, paint(R, "32", "ok", word, sizeof word), "%s%s%s (%.2fs%s)", pre, sp, t->id, dur, extra);
    } else if (strcmp(state, "up_for_retry") == 0) {
        say_state(R, 0, paint(R, "33", "retry", word, sizeof word), "%s%s%s (try %d failed: %s); next try in %gs",
            pre, sp, t->id, try_no, error, delay);
    } else if (strcmp(state, "failed") == 0) {
        say_state(R, 1, paint(R, "1;31", "FAILED", word, sizeof word), "%s%s%s (try %d): %s\n           log: %s",
            pre, sp, t->id, try_no, error, w && w->logpath ? w->logpath : "(none)");
    } else if (strcmp(state, "upstream_failed") == 0) {
        say_state(R, 0, paint(R, "33", "skipped", word, sizeof word), "%s%s%s (upstream failed)", pre, sp, t->id);
    }
}

/* Opens a date: engine, lock, journal, sweep; what need not run is done. */
static int op_open(void *ud, size_t r, ub_sstate *init, int *tries, ub_err *err)
{
    runner *R = ud;
    runinfo *ri = &R->runs[r];
    ub_spec *s = R->spec;
    ub_engine_opts eo = *R->eo;
    ub_buf b = UB_BUF_INIT;
    ub_fp_decision *dec = NULL;
    char *force = NULL;
    int rc = -1;
    eo.ds = ri->ds.s;
    eo.planning = 0;
    ri->lockfd = -1;
    ub_lineage_uuid(ri->lineage_run);
    ri->fresh = ub_calloc(s->ntasks ? s->ntasks : 1, 1);
    if (!ri->fresh) {
        ub_err_oom(err);
        goto out;
    }
    ri->e = ub_engine_new(s, &eo, R->diag);
    if (!ri->e) {
        ub_err_set(err, "cannot set up ds %s (see the errors above)", ri->ds.s);
        ub_diag_flush(R->diag, stderr);
        goto out;
    }
    /* one scheduler per (pipeline, ds): a second one would run the same tries */
    ub_buf_addf(&b, "%s/runs/%s/%s", ri->e->state_dir, s->pipeline, ri->ds.s);
    if (b.err || ub_mkdirs(b.p)) {
        ub_err_set(err, "cannot create '%s': %s", ub_buf_str(&b), b.err ? "out of memory" : strerror(errno));
        goto out;
    }
    ub_buf_adds(&b, "/lock");
    ri->lockfd = b.err ? -1 : open(b.p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ri->lockfd < 0) {
        ub_err_set(err, "cannot open '%s': %s", ub_buf_str(&b), strerror(errno));
        goto out;
    }
    if (flock(ri->lockfd, LOCK_EX | LOCK_NB)) {
        ub_err_set(err, "another ubpipe is running pipeline '%s' for ds %s (lock '%s')", s->pipeline, ri->ds.s,
                   b.p);
        goto out;
    }
    if (ub_journal_open(&ri->j, ri->e->state_dir, s->pipeline, ri->ds.s, 1, err))
        goto out;
    ri->jopen = 1;
    if (ri->j.repaired)
        say(R, 1, "ubpipe: %s: cut off a torn last line (%zu bytes) that an interrupted write left", ri->j.path,
            ri->j.repaired);
    sweep(ri->e);                             /* what a killed run left behind */
    ri->pending = 0;
    if (ub_handoff_enabled() && ub_handoff_find(ri->e, &ri->ho, &ri->nho)) {
        ri->ho = NULL;                        /* out of memory: no hand-off, the ordinary order */
        ri->nho = 0;
    }
    /* which tasks run: --only selects (and forces) its tasks; otherwise the
     * fingerprints decide, --rerun forcing every task */
    int legacy = 0;
    dec = ub_calloc(s->ntasks ? s->ntasks : 1, sizeof *dec);
    force = ub_calloc(s->ntasks ? s->ntasks : 1, 1);
    if (!dec || !force) {
        ub_err_oom(err);
        goto out;
    }
    for (size_t i = 0; i < s->ntasks; i++)
        force[i] = R->o->rerun || R->o->only || R->forced[i];
    if (!R->o->only && ub_fp_decide(ri->e, &ri->j, force, dec, &legacy)) {
        ub_err_oom(err);
        goto out;
    }
    if (legacy)
        say(R, 0, "ubpipe: the journal of %s ds=%s was written by an older ubpipe (no fingerprints): its tasks "
                  "count as changed", s->pipeline, ri->ds.s);
    size_t to_run = 0;
    for (size_t i = 0; i < s->ntasks; i++)
        to_run += R->o->only ? task_selected(R, i) != 0 : dec[i].action == UB_FP_RUN;
    /* an up-to-date ds writes nothing; a run records its -p values and decisions */
    if (to_run && ub_journal_run_start(&ri->j, R->eo->params, R->eo->nparams, err))
        goto journal_failed;
    for (size_t k = 0; k < s->ntasks; k++) {
        ub_task *t = &s->tasks[s->order[k]];
        const ub_jtask *jt = ub_journal_task(&ri->j, t->id);
        int done_before = jt && jt->state && strcmp(jt->state, "success") == 0;
        tries[t->index] = jt ? jt->tries : 0;
        int runs = R->o->only ? task_selected(R, t->index) : dec[t->index].action == UB_FP_RUN;
        if (runs) {                            /* a task the run skips is up to date: no line */
            const char *why = R->o->only ? "selected (--only)" : dec[t->index].reason;
            if (ub_journal_decision(&ri->j, t->id, "run", why, err))
                goto journal_failed;
        }
        if (!runs) {
            if (jt && R->o->only)
                ub_engine_publish_journaled(ri->e, t, jt->outputs, jt->out_masked, jt->nout);   /* the decision published the rest */
            init[t->index] = UB_SS_SUCCESS;
            continue;
        }
        init[t->index] = UB_SS_WAITING;
        ri->fresh[t->index] = done_before;      /* a changed task starts over, like --rerun */
        ri->pending++;
    }
    /* why each task runs or not, when some ran before and some run now */
    int ran_before = 0;
    for (size_t i = 0; i < s->ntasks; i++)
        ran_before |= tries[i] > 0;
    for (size_t k = 0; ri->pending && ran_before && !R->o->only && k < s->ntasks; k++) {
        const ub_task *t = &s->tasks[s->order[k]];
        const char *act = dec[t->index].action == UB_FP_RUN ? "run" : "skip";
        say(R, 0, "  %-7s %s: %s", act, t->id, dec[t->index].reason);
        emit_json(R, json_pack("{s:s, s:s, s:s, s:s, s:o}", "event", "decision", "ds", ri->ds.s, "task", t->id,
                               "action", act, "reason", ub_jtext(dec[t->index].reason)));
    }
    ri->t0 = ub_mono();
    if (ri->pending)
        say(R, 0, "ubpipe: run %s ds=%s profile=%s (%zu of %zu tasks to run, %zu workers)", s->pipeline, ri->ds.s,
            ri->e->profile, ri->pending, s->ntasks, R->jobs);
    else
        say(R, 0, "ubpipe: %s ds=%s is already complete and up to date (--rerun runs it again)", s->pipeline,
            ri->ds.s);
    emit_json(R, json_pack("{s:s, s:s, s:s, s:i}", "event", "run", "ds", ri->ds.s, "state", "running", "tasks_to_run",
                           (int)ri->pending));
    rc = 0;
    goto out;
journal_failed:                                 /* the journal is a precondition: nothing starts */
    if (!R->jfail[0]) {
        snprintf(R->jfail, sizeof R->jfail, "%s", err->msg);
        say(R, 1, "ubpipe: %s; stopping the run", err->msg);
    }
out:
    ub_fp_decisions_free(dec, dec ? s->ntasks : 0);
    ub_free(dec);
    ub_free(force);
    ub_buf_free(&b);
    return rc;
}

static void op_close(void *ud, size_t r, int ok)
{
    runner *R = ud;
    runinfo *ri = &R->runs[r];
    if (ok < 0) {
        say(R, 1, "ubpipe: %s ds=%s not started: depends_on_past, and an earlier ds did not succeed",
            R->spec->pipeline, ri->ds.s);
        emit_json(R, json_pack("{s:s, s:s, s:s}", "event", "run", "ds", ri->ds.s, "state", "not_started"));
        return;
    }
    if (ri->e && ri->pending) {
        if (ok)
            say(R, 0, "ubpipe: run %s ds=%s succeeded (%.1fs)", R->spec->pipeline, ri->ds.s, ub_mono() - ri->t0);
        else
            say(R, 1, "ubpipe: run %s ds=%s did not complete; run again to resume it", R->spec->pipeline,
                ri->ds.s);
    }
    emit_json(R, json_pack("{s:s, s:s, s:s}", "event", "run", "ds", ri->ds.s, "state", ok ? "success" : "failed"));
    if (ri->e)
        sweep(ri->e);
    if (ri->jopen)
        ub_journal_close(&ri->j);
    ri->jopen = 0;
    if (ri->lockfd >= 0)
        close(ri->lockfd);
    ri->lockfd = -1;
    ub_engine_free(ri->e);
    ri->e = NULL;
    ub_free(ri->fresh);
    ri->fresh = NULL;
    ub_handoff_free(ri->ho, ri->nho);
    ri->ho = NULL;
    ri->nho = 0;
}

static const ub_sched_ops fork_ops = { op_now, op_open, op_close, op_start, op_stop, op_wait, op_record, op_early };

/* ---- entry points --------------------------------------------------------------- */

int ub_run_dates(const char *ds, const char *from, const char *to, ub_ds **out, size_t *n, ub_err *err)
{
    ub_date a, z;
    ub_err why;
    *out = NULL;
    *n = 0;
    if (!from && !to) {
        a = ub_date_yesterday_utc();
        if (ds && ub_date_parse(ds, &a, &why))
            return ub_err_set(err, "--ds %s", why.msg);
        z = a;
    } else {
        if (ds)
            return ub_err_set(err, "--ds cannot be combined with --from/--to");
        if (!from || !to)
            return ub_err_set(err, "--from and --to go together");
        if (ub_date_parse(from, &a, &why))
            return ub_err_set(err, "--from %s", why.msg);
        if (ub_date_parse(to, &z, &why))
            return ub_err_set(err, "--to %s", why.msg);
        if (ub_date_to_days(z) < ub_date_to_days(a))
            return ub_err_set(err, "--from %s is after --to %s", from, to);
        if (ub_date_to_days(z) - ub_date_to_days(a) >= 36600)
            return ub_err_set(err, "--from %s --to %s spans more than 100 years", from, to);
    }
    size_t cnt = (size_t)(ub_date_to_days(z) - ub_date_to_days(a) + 1);
    ub_ds *d = ub_calloc(cnt, sizeof *d);
    if (!d)
        return ub_err_oom(err);
    for (size_t i = 0; i < cnt; i++)
        ub_date_format(ub_date_add(a, (long)i), 0, d[i].s);
    *out = d;
    *n = cnt;
    return 0;
}

int ub_run(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, const ub_run_opts *o,
           ub_diag *diag)
{
    runner R;
    ub_sched_summary sum;
    int rc = 2;
    memset(&R, 0, sizeof R);
    R.spec = s;
    R.eo = eo;
    R.o = o;
    R.diag = diag;
    R.nruns = n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    R.jobs = o->jobs > 0 ? (size_t)o->jobs : cores > 0 ? (size_t)cores : 1;
    if (R.jobs > 256)
        R.jobs = 256;
    R.nw = 2 * R.jobs;
    const char *tg = getenv("UBPIPE_KILL_GRACE");
    R.grace = tg && *tg ? atof(tg) : GRACE_DEFAULT;
    const char *term = getenv("TERM");
    R.tty = isatty(2) && !o->log_json;
    R.color = R.tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
    R.sel = ub_malloc(s->ntasks ? s->ntasks : 1);
    R.forced = ub_malloc(s->ntasks ? s->ntasks : 1);
    R.lineage = ub_lineage_from_env();
    R.runs = ub_calloc(n, sizeof *R.runs);
    R.w = ub_calloc(R.nw, sizeof *R.w);
    if (!R.sel || !R.forced || !R.runs || !R.w) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < R.nw; k++) {
        R.w[k].fd = -1;
        R.w[k].ctl = -1;
    }
    for (size_t k = 0; k < n; k++) {
        R.runs[k].ds = dates[k];
        R.runs[k].lockfd = -1;
    }
    if (select_tasks(s, o, R.sel, R.forced, diag))
        goto out;
    if (n > 1)
        say(&R, 0, "ubpipe: backfill %s from %s to %s (%zu dates%s)", s->pipeline, dates[0].s, dates[n - 1].s, n,
            depends_on_past(s) ? ", depends_on_past" : "");
    ub_sched_cfg cfg = { s, n, (int)R.jobs, o->max_active_runs, depends_on_past(s), R.grace, 0.25,
                         &ub_cancel_requested };
    /* critical path first, weighted by the durations of the most recent earlier ds (none: count tasks) */
    double *hist = n ? ub_sched_history(s, eo->state_dir, dates[0].s) : NULL;
    rc = ub_sched_run_weighted(&cfg, hist, &fork_ops, &R, &sum);
    ub_free(hist);
    clear_live(&R);
    if (R.jfail[0]) {
        say(&R, 1, "ubpipe: stopped: %s; fix the state directory (free space, permissions) and run again",
            R.jfail);
        rc = 1;
    } else if (sum.cancelled) {
        say(&R, 1, "ubpipe: cancelled; run the same command again to complete the run");
    } else if (rc) {
        if (sum.first_failed_task >= 0)
            say(&R, 1, "ubpipe: task '%s' failed%s%s: %s", s->tasks[sum.first_failed_task].id, n > 1 ? " for ds " : "",
                n > 1 ? dates[sum.first_failed_run].s : "", sum.first_error);
        else if (sum.first_error[0])
            say(&R, 1, "ubpipe: %s", sum.first_error);
        say(&R, 1, "ubpipe: %zu task(s) failed%s; fix the cause and run again to resume", sum.tasks_failed,
            n > 1 ? "" : "");
        if (n > 1)
            say(&R, 1, "ubpipe: backfill: %zu of %zu dates succeeded, %zu failed, %zu not started", sum.runs_ok, n,
                sum.runs_failed, sum.runs_not_started);
    } else if (n > 1) {
        say(&R, 0, "ubpipe: backfill %s: %zu dates succeeded", s->pipeline, n);
    }
    rc = rc ? 1 : 0;
out:
    for (size_t k = 0; R.w && k < R.nw; k++)
        if (R.w[k].st != W_FREE) {
            if (R.w[k].fd >= 0)
                close(R.w[k].fd);
            release(&R.w[k]);
        }
    for (size_t k = 0; R.runs && k < n; k++)
        if (R.runs[k].e || R.runs[k].jopen || R.runs[k].fresh)
            op_close(&R, k, 0);
    ub_free(R.w);
    ub_free(R.runs);
    ub_free(R.sel);
    ub_free(R.forced);
    ub_lineage_free(R.lineage);
    return rc;
}

int ub_run_plan_range(ub_spec *s, const ub_engine_opts *eo, const ub_ds *dates, size_t n, const ub_run_opts *o,
                      int json, FILE *out, ub_diag *diag)
{
    char *sel = ub_malloc(s->ntasks ? s->ntasks : 1), *forced = ub_malloc(s->ntasks ? s->ntasks : 1);
    char *cells = ub_calloc(n * (s->ntasks ? s->ntasks : 1), 1);     /* 1 run, 0 done */
    FILE *null = NULL;
    int rc = 2;
    size_t runs = 0, complete = 0;
    if (!sel || !forced || !cells) {
        ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "out of memory");
        goto out;
    }
    if (select_tasks(s, o, sel, forced, diag))
        goto out;
    add_downstream(s, forced);
    for (size_t i = 0; i < s->ntasks; i++)      /* as a run forces them (ub_run_selection) */
        forced[i] = o->rerun || (o->only && sel[i]) || forced[i];
    null = json ? NULL : fopen("/dev/null", "w");
    for (size_t d = 0; d < n; d++) {
        ub_engine_opts eo2 = *eo;
        eo2.ds = dates[d].s;
        eo2.planning = 1;
        ub_engine *e = ub_engine_new(s, &eo2, diag);
        ub_journal j;
        ub_err err;
        if (!e)
            goto out;
        ub_plan_sel ps = { o->only ? sel : NULL, forced };
        int prc = ub_plan_print(e, &ps, json, json ? out : null ? null : stdout, diag);
        int jok = prc == 0 && ub_journal_open(&j, e->state_dir, s->pipeline, e->ds, 0, &err) == 0;
        size_t pending = 0;
        for (size_t i = 0; jok && i < s->ntasks; i++) {
            const ub_jtask *jt = ub_journal_task(&j, s->tasks[i].id);
            int done = jt && jt->state && strcmp(jt->state, "success") == 0;
            cells[d * s->ntasks + i] = sel[i] && (!done || o->rerun || o->only || forced[i]);
            pending += cells[d * s->ntasks + i];
        }
        if (jok)
            ub_journal_close(&j);
        else if (prc == 0)
            ub_diag_error(diag, (ub_loc){ NULL, 0, 0 }, "%s", err.msg);
        ub_engine_free(e);
        if (!jok)
            goto out;
        runs += pending;
        complete += pending == 0;
    }
    if (!json) {
        fprintf(out, "Backfill of %s, %s to %s: dates × tasks (run = would run, done = already successful)\n\n",
                s->pipeline, dates[0].s, dates[n - 1].s);
        fprintf(out, "%-48s", "TASK");
        for (size_t d = 0; d < n; d++)
            fprintf(out, d + 1 < n ? " %-10s" : " %s", dates[d].s);
        fputc('\n', out);
        for (size_t k = 0; k < s->ntasks; k++) {
            size_t i = s->order[k];
            fprintf(out, "%-48s", s->tasks[i].id);
            for (size_t d = 0; d < n; d++)
                fprintf(out, d + 1 < n ? " %-10s" : " %s", cells[d * s->ntasks + i] ? "run" : "done");
            fputc('\n', out);
        }
        fprintf(out, "\n%zu dates (%zu already complete), %zu task runs%s; 'ubpipe plan FILE --ds DATE' shows the "
                     "effects of one date\n", n, complete, runs,
                depends_on_past(s) ? ", one date after the other (depends_on_past)" : "");
    }
    rc = 0;
out:
    if (null)
        fclose(null);
    ub_free(sel);
    ub_free(forced);
    ub_free(cells);
    return rc;
}
