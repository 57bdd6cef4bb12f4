/* emr_local.c — the local EMR backend object: submit, describe and cancel steps; start the runner. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* close_range */
#endif
#include "emr/local.h"
#include "base/mem.h"
#include "base/secret.h"
#include "io/fsutil.h"
#include "io/stream.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* ---- the backend object ------------------------------------------------------- */

typedef struct local_emr {
    ub_emr base;
    char *dir;          /* STATE/emr/local */
    char *self_exe;     /* NULL: never start a runner */
    char *lake_url;     /* absolute when it could be resolved; NULL: none */
    char *hdfs_dir;     /* absolute */
    json_t *scripts;    /* object: script base name -> built-in */
} local_emr;

/* an absolute, normalized directory for dir (relative to base, else the
 * working directory); caller frees */
static char *abs_dir(const char *dir, const char *base, ub_err *err)
{
    ub_buf u = UB_BUF_INIT;
    char *out = NULL;
    if (ub_buf_addf(&u, "file:%s", dir) < 0) {
        ub_err_oom(err);
        return NULL;
    }
    ub_lake *l = ub_lake_open(u.p, base, err);   /* the file backend does the path work */
    if (l) {
        out = ub_strdup(l->url + 5);
        if (!out)
            ub_err_oom(err);
    }
    ub_lake_free(l);
    ub_buf_free(&u);
    return out;
}

/* Starts `self_exe __emr-local-runner DIR` in its own session, detached:
 * the process is reparented to init and never waited for by us. */
static int start_runner(local_emr *e, ub_err *err)
{
    ub_buf logp = UB_BUF_INIT;
    int pfd[2] = { -1, -1 };
    int rc = -1;
    int r = el_runner_active(e->dir, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (!el_pathf(&logp, "%s/runner.log", e->dir)) {
        ub_err_oom(err);
        goto out;
    }
    char *argv[] = { e->self_exe, "__emr-local-runner", e->dir, NULL };
    if (pipe(pfd) < 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0) {
        ub_err_set(err, "could not start the local step runner: pipe: %s", strerror(errno));
        goto out;
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    pid_t pid = fork();
    if (pid < 0) {
        ub_err_set(err, "could not start the local step runner: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* only async-signal-safe calls from here: the parent may have threads */
        close(pfd[0]);
        pid_t p2 = fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 1 : 0);
        setsid();
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0 && fd != 0) {
            dup2(fd, 0);
            close(fd);
        }
        fd = open(logp.p, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        if (pfd[1] != 3) {
            dup2(pfd[1], 3);
            close(pfd[1]);
        }
        fcntl(3, F_SETFD, FD_CLOEXEC);
        for (long i = 4; i < maxfd; i++)
            close((int)i);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        execv(argv[0], argv);
        int e2 = errno;
        ssize_t w = write(3, &e2, sizeof e2);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    int status = 0;
    pid_t wr;
    while ((wr = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    int child_errno = 0;
    ssize_t got;
    while ((got = read(pfd[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof child_errno) {
        ub_err_set(err, "could not start the local step runner '%s': %s", e->self_exe, strerror(child_errno));
        goto out;
    }
    if (wr == pid && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        ub_err_set(err, "could not start the local step runner '%s': fork failed", e->self_exe);
        goto out;
    }
    rc = 0;
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    ub_buf_free(&logp);
    return rc;
}

/* a new id ("s-" and 13 characters) whose record does not exist yet */
static int new_id(const char *dir, char out[ID_LEN + 1], ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    int rc = -1, fd;
    do
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ub_err_set(err, "could not open '/dev/urandom': %s", strerror(errno));
    for (int tries = 0; tries < 100; tries++) {
        out[0] = 's';
        out[1] = '-';
        for (size_t i = 2; i < ID_LEN;) {
            unsigned char b[32];
            ssize_t n = read(fd, b, sizeof b);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                ub_err_set(err, "could not read '/dev/urandom': %s", n < 0 ? strerror(errno) : "end of file");
                goto out;
            }
            for (ssize_t j = 0; j < n && i < ID_LEN; j++)
                if (b[j] < 252)                 /* 252 = 7 * 36: no bias */
                    out[i++] = el_id_chars[b[j] % 36];
        }
        out[ID_LEN] = '\0';
        struct stat st;
        if (!el_pathf(&p, "%s/steps/%s.json", dir, out)) {
            ub_err_oom(err);
            goto out;
        }
        if (stat(p.p, &st) < 0 && errno == ENOENT) {
            rc = 0;
            goto out;
        }
    }
    ub_err_set(err, "could not find a free step id");
out:
    close(fd);
    ub_buf_free(&p);
    return rc;
}

static const char *const aof_names[] = {
    "CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW", NULL,
};

/* Checks the AddJobFlowSteps "Steps" array; the caller owns the result. */
static json_t *parse_steps(const char *text, ub_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ub_err_set(err, "steps JSON:%d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_array(root) || json_array_size(root) == 0) {
        ub_err_set(err, "steps JSON: must be a non-empty array of steps");
        goto fail;
    }
    size_t i;
    json_t *st;
    json_array_foreach(root, i, st) {
        const char *name = json_string_value(json_object_get(st, "Name"));
        if (!json_is_object(st) || !name) {
            ub_err_set(err, "steps JSON: step %zu needs a string Name", i + 1);
            goto fail;
        }
        json_t *aof = json_object_get(st, "ActionOnFailure");
        if (aof) {
            const char *a = json_string_value(aof);
            size_t k = 0;
            while (a && aof_names[k] && strcmp(a, aof_names[k]) != 0)
                k++;
            if (!a || !aof_names[k]) {
                ub_err_set(err, "steps JSON: step %zu ('%s'): ActionOnFailure must be CONTINUE, CANCEL_AND_WAIT, "
                                "TERMINATE_CLUSTER or TERMINATE_JOB_FLOW", i + 1, name);
                goto fail;
            }
        }
        json_t *hjs = json_object_get(st, "HadoopJarStep");
        if (!json_is_string(json_object_get(hjs, "Jar"))) {
            ub_err_set(err, "steps JSON: step %zu ('%s'): needs HadoopJarStep.Jar (a string)", i + 1, name);
            goto fail;
        }
        json_t *args = json_object_get(hjs, "Args"), *a;
        size_t j;
        int ok = json_is_array(args) && json_array_size(args) > 0;
        json_array_foreach(args, j, a)
            ok = ok && json_is_string(a);
        if (!ok) {
            ub_err_set(err, "steps JSON: step %zu ('%s'): HadoopJarStep.Args must be a non-empty list of strings",
                       i + 1, name);
            goto fail;
        }
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

/* the PENDING record of one submitted step; caller owns it.  *clear: the clear
 * Args (a new reference) when they hold a secret, masked in the record, else NULL */
static json_t *new_record(local_emr *e, const json_t *step, const char *id, json_t **clear)
{
    json_t *hjs = json_object_get(step, "HadoopJarStep");
    const char *aof = json_string_value(json_object_get(step, "ActionOnFailure"));
    json_t *rec = json_object();
    json_t *args = json_deep_copy(json_object_get(hjs, "Args"));
    json_t *scripts = json_deep_copy(e->scripts);
    if (!rec || !args || !scripts ||
        el_rec_set_str(rec, "Id", id) || el_rec_set_str(rec, "Name", json_string_value(json_object_get(step, "Name"))) ||
        el_rec_set_str(rec, "ActionOnFailure", aof ? aof : "CONTINUE") ||
        el_rec_set_str(rec, "Jar", json_string_value(json_object_get(hjs, "Jar"))) ||
        json_object_set(rec, "Args", args) || el_rec_set_state(rec, UB_STEP_PENDING) ||
        el_rec_set_now(rec, "SubmittedAt") ||
        (e->lake_url && el_rec_set_str(rec, "Lake", e->lake_url)) || el_rec_set_str(rec, "HdfsDir", e->hdfs_dir) ||
        json_object_set(rec, "Scripts", scripts)) {
        json_decref(rec);
        rec = NULL;
    }
    *clear = NULL;
    if (rec && ub_secret_mask_json(args)) {
        *clear = json_deep_copy(json_object_get(hjs, "Args"));
        if (!*clear || json_object_set_new(rec, "PrivateArgs", json_true())) {
            json_decref(rec);
            rec = NULL;
        }
    }
    json_decref(args);
    json_decref(scripts);
    return rec;
}

static int local_add_steps(ub_emr *base, const char *steps_json, char ***ids_out, size_t *n_out, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t *steps = parse_steps(steps_json, err);
    strlist q = { NULL, 0, 0 }, ids = { NULL, 0, 0 };
    ub_buf p = UB_BUF_INIT;
    int lk = -1, rc = -1, queued = 0;
    if (!steps)
        return -1;
    if (!el_pathf(&p, "%s/steps", e->dir) || ub_mkdirs(p.p) < 0 || !el_pathf(&p, "%s/logs", e->dir) || ub_mkdirs(p.p) < 0) {
        ub_err_set(err, "could not create '%s': %s", p.p ? p.p : e->dir, p.err ? "out of memory" : strerror(errno));
        goto out;
    }
    if ((lk = el_lock_take(e->dir, "state.lock", 0, err)) < 0)
        goto out;
    char why[512];
    int t = el_terminated(e->dir, why, sizeof why, err);
    if (t < 0)
        goto out;
    if (t) {
        ub_err_set(err, "cluster 'local' is terminated (%s); remove '%s/terminated' to use it again", why, e->dir);
        goto out;
    }
    if (el_queue_load(e->dir, &q, err))
        goto out;
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st) {
        char id[ID_LEN + 1];
        if (new_id(e->dir, id, err))
            goto out;
        json_t *clear = NULL, *rec = new_record(e, st, id, &clear);
        if (!rec) {
            ub_err_oom(err);
            goto out;
        }
        int bad = (clear && el_private_save(e->dir, id, clear, err)) || el_rec_save(e->dir, rec, err);
        if (bad)
            el_private_drop(e->dir, id);
        json_decref(clear);
        json_decref(rec);
        if (bad)
            goto out;
        if (el_strlist_push(&ids, id, ID_LEN) < 0 || el_strlist_push(&q, id, ID_LEN) < 0) {
            ub_err_oom(err);
            goto out;
        }
    }
    if (el_queue_save(e->dir, &q, err))
        goto out;
    queued = 1;
    el_lock_drop(lk);
    lk = -1;
    if (e->self_exe && start_runner(e, err)) {
        /* no runner: the steps must not wait for one that will never come */
        ub_err tmp;
        char reason[1200];
        snprintf(reason, sizeof reason, "not run: %s", err->msg);
        if ((lk = el_lock_take(e->dir, "state.lock", 0, &tmp)) >= 0)
            for (size_t k = 0; k < ids.n; k++) {
                json_t *rec;
                if (el_rec_load(e->dir, ids.v[k], &rec, &tmp) == 0) {
                    if (el_rec_state(rec) == UB_STEP_PENDING && !el_rec_finish(rec, UB_STEP_CANCELLED, reason))
                        el_rec_save(e->dir, rec, &tmp);
                    json_decref(rec);
                }
            }
        goto out;
    }
    *ids_out = ids.v;                 /* the caller owns the ids now */
    *n_out = ids.n;
    ids.v = NULL;
    ids.n = ids.cap = 0;
    rc = 0;
out:
    if (rc && !queued)                /* records of a failed submission never reach the queue */
        for (size_t k = 0; k < ids.n; k++)
            if (el_pathf(&p, "%s/steps/%s.json", e->dir, ids.v[k])) {
                unlink(p.p);
                el_private_drop(e->dir, ids.v[k]);
            }
    el_lock_drop(lk);
    json_decref(steps);
    el_strlist_free(&q);
    el_strlist_free(&ids);
    ub_buf_free(&p);
    return rc;
}

static int local_describe_step(ub_emr *base, const char *id, ub_emr_step_status *st, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t *rec;
    if (el_rec_load(e->dir, id, &rec, err))
        return -1;
    int rc = -1;
    st->state = (ub_step_state)el_rec_state(rec);
    const char *name = el_rec_str(rec, "Name"), *reason = el_rec_str(rec, "Reason"), *log = el_rec_str(rec, "LogFile");
    snprintf(st->name, sizeof st->name, "%s", name ? name : "");
    if (reason && *reason && st->state == UB_STEP_FAILED && log && *log)
        snprintf(st->reason, sizeof st->reason, "%s (log file: %s)", reason, log);
    else
        snprintf(st->reason, sizeof st->reason, "%s", reason ? reason : "");
    /* an unfinished step needs a runner: start one if the last one is gone */
    if (!ub_step_state_final(st->state) && e->self_exe) {
        int active = el_runner_active(e->dir, err);
        if (active < 0)
            goto out;
        if (!active && start_runner(e, err)) {
            ub_err_wrap(err, "step %s is %s but no local step runner is active", id, ub_step_state_name(st->state));
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(rec);
    return rc;
}

static int local_cancel_steps(ub_emr *base, char *const *ids, size_t n, ub_err *err)
{
    local_emr *e = (local_emr *)base;
    json_t **recs = ub_calloc(n, sizeof *recs);
    int lk = -1, rc = -1, asked = 0;
    if (!recs)
        return ub_err_oom(err);
    if ((lk = el_lock_take(e->dir, "state.lock", 0, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)      /* all of them exist, or nothing changes */
        if (el_rec_load(e->dir, ids[i], &recs[i], err))
            goto out;
    for (size_t i = 0; i < n; i++) {
        int s = el_rec_state(recs[i]), bad = 0;
        if (s == UB_STEP_PENDING)
            bad = el_rec_finish(recs[i], UB_STEP_CANCELLED, "cancelled on request");
        else if (s == UB_STEP_RUNNING) {
            bad = el_rec_set_state(recs[i], UB_STEP_CANCEL_PENDING);
            asked = 1;
        } else
            continue;                 /* final or already asked: nothing to do */
        if (bad) {
            ub_err_oom(err);
            goto out;
        }
        if (el_rec_save(e->dir, recs[i], err))
            goto out;
    }
    el_lock_drop(lk);
    lk = -1;
    if (asked && e->self_exe && start_runner(e, err))
        goto out;
    rc = 0;
out:
    el_lock_drop(lk);
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    ub_free(recs);
    return rc;
}

static void local_free(ub_emr *base)
{
    local_emr *e = (local_emr *)base;
    ub_free(e->dir);
    ub_free(e->self_exe);
    ub_free(e->lake_url);
    ub_free(e->hdfs_dir);
    json_decref(e->scripts);
    ub_free(e);
}

static const ub_emr_ops local_ops = {
    "local", local_add_steps, local_describe_step, local_cancel_steps, local_free,
};

ub_emr *ub_emr_local_open(const ub_emr_opts *o, ub_err *err)
{
    local_emr *e = ub_calloc(1, sizeof *e);
    char *state = NULL;
    ub_buf b = UB_BUF_INIT;
    if (!e) {
        ub_err_oom(err);
        return NULL;
    }
    e->base.ops = &local_ops;
    if (!o->state_dir || !*o->state_dir) {
        ub_err_set(err, "cluster 'local': no state directory given");
        goto fail;
    }
    if (!(state = abs_dir(o->state_dir, NULL, err)))
        goto fail;
    if (ub_buf_addf(&b, "%s/emr/local", state) < 0 || !(e->dir = ub_buf_detach(&b, NULL)))
        goto oom;
    if (o->hdfs_dir && *o->hdfs_dir) {
        if (!(e->hdfs_dir = abs_dir(o->hdfs_dir, o->base_dir, err)))
            goto fail;
    } else {
        ub_buf_reset(&b);
        if (ub_buf_addf(&b, "%s/hdfs", state) < 0 || !(e->hdfs_dir = ub_buf_detach(&b, NULL)))
            goto oom;
    }
    if (o->lake_url && *o->lake_url) {
        ub_err ignored;
        ub_lake *l = ub_lake_open(o->lake_url, o->base_dir, &ignored);
        /* a lake this build cannot open is kept as given: the step using it reports why */
        e->lake_url = ub_strdup(l ? l->url : o->lake_url);
        ub_lake_free(l);
        if (!e->lake_url)
            goto oom;
    }
    if (o->self_exe && !(e->self_exe = ub_strdup(o->self_exe)))
        goto oom;
    if (!(e->scripts = json_object()))
        goto oom;
    for (size_t i = 0; i < o->nscripts; i++)
        if (o->scripts[i].name && o->scripts[i].builtin &&
            json_object_set_new(e->scripts, o->scripts[i].name, json_string(o->scripts[i].builtin)))
            goto oom;
    ub_free(state);
    return &e->base;
oom:
    ub_err_oom(err);
fail:
    ub_free(state);
    ub_buf_free(&b);
    local_free(&e->base);
    return NULL;
}
