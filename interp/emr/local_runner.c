/* local_runner.c — the local EMR runner: the background process that works the queue, one child per step. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* prctl, close_range */
#endif
#include "emr/local.h"
#include "base/mem.h"
#include "base/secret.h"
#include "io/fsutil.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* ==== the runner ================================================================= */

typedef struct runner {
    const char *dir;
    int logfd;
} runner;

static void rlog(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rlog(runner *r, const char *fmt, ...)
{
    char now[32], msg[2048];
    va_list ap;
    ub_buf m = UB_BUF_INIT;
    el_iso_now(now);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ub_secret_mask(msg, &m);
    dprintf(r->logfd, "%s runner[%ld]: %s\n", now, (long)getpid(), m.err ? "(out of memory)" : ub_buf_str(&m));
    ub_buf_free(&m);
}

typedef struct outcome {
    ub_step_state state;
    char reason[1024];
} outcome;

static int cancel_requested(runner *r, const char *id)
{
    ub_err err;
    json_t *rec;
    if (el_rec_load(r->dir, id, &rec, &err))
        return 0;
    int yes = el_rec_state(rec) == UB_STEP_CANCEL_PENDING;
    json_decref(rec);
    return yes;
}

/* Runs the step in a child process, watching for a cancel request. */
static void execute(runner *r, const json_t *rec, const char *logpath, outcome *o)
{
    const char *id = el_rec_str(rec, "Id");
    int pfd[2] = { -1, -1 }, logfd = -1;
    o->state = UB_STEP_FAILED;
    o->reason[0] = '\0';
    do
        logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    while (logfd < 0 && errno == EINTR);
    if (logfd < 0) {
        snprintf(o->reason, sizeof o->reason, "could not open step log '%s': %s", logpath, strerror(errno));
        return;
    }
    if (pipe(pfd) < 0) {
        snprintf(o->reason, sizeof o->reason, "could not create a pipe: %s", strerror(errno));
        close(logfd);
        return;
    }
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(o->reason, sizeof o->reason, "could not fork the step process: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        close(logfd);
        return;
    }
    if (pid == 0) {
        ub_err err;
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);    /* a killed runner takes its step with it */
#endif
        if (getppid() != parent)
            _exit(3);
        close(pfd[0]);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(logfd);
        int rc = el_run_step(rec, &err);
        if (rc) {
            ub_buf m = UB_BUF_INIT;
            ub_secret_mask(err.msg, &m);
            const char *txt = m.err ? "(out of memory)" : ub_buf_str(&m);
            ssize_t w = write(pfd[1], txt, strlen(txt));
            (void)w;
            dprintf(STDOUT_FILENO, "error: %s\n", txt);
            ub_buf_free(&m);
        }
        _exit(rc ? 1 : 0);
    }
    close(pfd[1]);
    close(logfd);
    size_t len = 0;
    int cancel_sent = 0;
    for (;;) {
        struct pollfd p = { pfd[0], POLLIN, 0 };
        int pr = poll(&p, 1, POLL_MS);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr > 0) {
            char trash[256];
            char *dst = len + 1 < sizeof o->reason ? o->reason + len : trash;
            size_t room = len + 1 < sizeof o->reason ? sizeof o->reason - 1 - len : sizeof trash;
            ssize_t got = read(pfd[0], dst, room);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                break;
            if (got > 0 && dst != trash)
                len += (size_t)got;
            continue;
        }
        if (pr == 0 && !cancel_sent && cancel_requested(r, id)) {
            rlog(r, "step %s: cancel requested, killing process %ld", id, (long)pid);
            kill(pid, SIGKILL);
            cancel_sent = 1;
        }
    }
    o->reason[len] = '\0';
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        o->state = UB_STEP_COMPLETED;
        o->reason[0] = '\0';
    } else if (cancel_sent && (WIFSIGNALED(status) || WIFEXITED(status))) {
        o->state = UB_STEP_CANCELLED;
        snprintf(o->reason, sizeof o->reason, "cancelled on request while running");
    } else if (WIFSIGNALED(status)) {
        snprintf(o->reason, sizeof o->reason, "the step process was killed by signal %d", WTERMSIG(status));
    } else if (!o->reason[0]) {
        snprintf(o->reason, sizeof o->reason, "the step process exited with status %d", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status) && el_rec_str(rec, "HdfsDir"))
        ub_sweep_tmp(el_rec_str(rec, "HdfsDir"));    /* a killed step cleans nothing up itself */
}

/*
 * Under state.lock: ends steps left RUNNING / CANCEL_PENDING by a runner that
 * died (we hold runner.lock and run nothing, so none of them is running),
 * drops final steps from the queue, and picks the first PENDING step, which
 * becomes RUNNING.  *picked is NULL when there is nothing to do.
 */
static int pick(runner *r, json_t **picked, ub_err *err)
{
    strlist q = { NULL, 0, 0 }, keep = { NULL, 0, 0 };
    int lk = el_lock_take(r->dir, "state.lock", 0, err), rc = -1;
    char why[512];
    json_t *rec = NULL;
    *picked = NULL;
    if (lk < 0)
        return -1;
    if (el_queue_load(r->dir, &q, err))
        goto out;
    int term = el_terminated(r->dir, why, sizeof why, err);
    if (term < 0)
        goto out;
    el_private_sweep(r->dir, &q);
    for (size_t i = 0; i < q.n; i++) {
        if (el_rec_load(r->dir, q.v[i], &rec, err)) {
            rlog(r, "dropping %s from the queue: %s", q.v[i], err->msg);
            continue;
        }
        int s = el_rec_state(rec), bad = 0;
        if (s == UB_STEP_RUNNING || s == UB_STEP_CANCEL_PENDING) {
            /* no step of this queue can still run: its runner died */
            char reason[256], behind[320];
            long long pid = el_rec_int(rec, "RunnerPid");
            if (s == UB_STEP_RUNNING)
                snprintf(reason, sizeof reason, "interrupted: runner died (pid %lld) while the step was running",
                         pid);
            else
                snprintf(reason, sizeof reason, "cancelled on request (runner pid %lld died)", pid);
            rlog(r, "step %s: %s", q.v[i], reason);
            if (el_rec_str(rec, "HdfsDir"))
                ub_sweep_tmp(el_rec_str(rec, "HdfsDir"));
            int interrupted = s == UB_STEP_RUNNING;
            s = UB_STEP_CANCELLED;
            bad = el_rec_finish(rec, UB_STEP_CANCELLED, reason) ? ub_err_oom(err) : el_rec_save(r->dir, rec, err);
            if (!bad && interrupted) {
                snprintf(behind, sizeof behind, "cancelled because step %s before it was interrupted (runner died)",
                         q.v[i]);
                bad = el_cancel_behind(r->dir, &q, i, behind, err);
            }
        } else if (s == UB_STEP_PENDING && term) {
            char reason[600];
            snprintf(reason, sizeof reason, "cancelled: the local cluster is terminated (%s)", why);
            s = UB_STEP_CANCELLED;
            bad = el_rec_finish(rec, UB_STEP_CANCELLED, reason) ? ub_err_oom(err) : el_rec_save(r->dir, rec, err);
        } else if (s == UB_STEP_PENDING && !*picked) {
            char logpath[PATH_MAX];
            snprintf(logpath, sizeof logpath, "%s/logs/%s.log", r->dir, q.v[i]);
            if (el_rec_set_state(rec, UB_STEP_RUNNING) || el_rec_set_now(rec, "StartedAt") ||
                el_rec_set_int(rec, "RunnerPid", (long long)getpid()) || el_rec_set_str(rec, "LogFile", logpath))
                bad = ub_err_oom(err);
            else
                bad = el_rec_save(r->dir, rec, err);
            if (!bad) {
                *picked = rec;        /* the caller owns it */
                rec = NULL;
            }
        }
        json_decref(rec);
        rec = NULL;
        if (bad)
            goto out;
        if (!ub_step_state_final((ub_step_state)s) && el_strlist_push(&keep, q.v[i], ID_LEN) < 0) {
            ub_err_oom(err);
            goto out;
        }
    }
    if (keep.n != q.n && el_queue_save(r->dir, &keep, err))
        goto out;
    rc = 0;
out:
    if (rc && *picked) {
        json_decref(*picked);
        *picked = NULL;
    }
    json_decref(rec);
    el_lock_drop(lk);
    el_strlist_free(&q);
    el_strlist_free(&keep);
    return rc;
}

/* Under state.lock: records the outcome and applies ActionOnFailure. */
static int finish(runner *r, const char *id, const outcome *o, ub_err *err)
{
    strlist q = { NULL, 0, 0 };
    json_t *rec = NULL;
    int lk = el_lock_take(r->dir, "state.lock", 0, err), rc = -1;
    if (lk < 0)
        return -1;
    if (el_rec_load(r->dir, id, &rec, err) || el_queue_load(r->dir, &q, err))
        goto out;
    if (el_rec_finish(rec, o->state, o->reason[0] ? o->reason : NULL)) {
        ub_err_oom(err);
        goto out;
    }
    if (el_rec_save(r->dir, rec, err))
        goto out;
    if (o->state == UB_STEP_FAILED) {
        size_t at = 0;
        while (at < q.n && strcmp(q.v[at], id) != 0)
            at++;
        if (at < q.n && el_apply_failure(r->dir, &q, at, rec, err))
            goto out;
    }
    rc = 0;
out:
    json_decref(rec);
    el_lock_drop(lk);
    el_strlist_free(&q);
    return rc;
}

/* Works the queue while we hold runner.lock: 0 when nothing is left, -1 on error. */
static int work(runner *r)
{
    ub_err err;
    for (;;) {
        json_t *rec;
        if (pick(r, &rec, &err)) {
            rlog(r, "%s", err.msg);
            return -1;
        }
        if (!rec)
            return 0;
        const char *id = el_rec_str(rec, "Id"), *name = el_rec_str(rec, "Name");
        outcome o;
        json_t *clear = NULL;
        rlog(r, "step %s ('%s') RUNNING", id, name ? name : "");
        /* arguments with a secret: the clear ones from the private file, into the
         * record in memory only (what is saved is read from disk again, masked) */
        if (json_is_true(json_object_get(rec, "PrivateArgs")) &&
            (el_private_take(r->dir, id, &clear, &err) || json_object_set_new(rec, "Args", clear))) {
            o.state = UB_STEP_FAILED;
            snprintf(o.reason, sizeof o.reason, "not run: %.900s", clear ? "out of memory" : err.msg);
        } else {
            execute(r, rec, el_rec_str(rec, "LogFile"), &o);
        }
        rlog(r, "step %s ('%s') %s%s%s", id, name ? name : "", ub_step_state_name(o.state),
             o.reason[0] ? ": " : "", o.reason);
        int bad = finish(r, id, &o, &err);
        json_decref(rec);
        if (bad) {
            rlog(r, "%s", err.msg);
            return -1;
        }
    }
}

/*
 * `ubpipe __emr-local-runner DIR`: argv as main gets it (DIR is the last
 * argument).  Forks a process per step, so call it only from a
 * single-threaded process.  Returns 0 when the queue is worked off (or
 * another runner has it), 1 on an error of the runner itself, 2 on usage.
 */
int ub_emr_local_runner_main(int argc, char **argv)
{
    if (argc < 2 || !argv[argc - 1] || argv[argc - 1][0] != '/') {
        fprintf(stderr, "usage: ubpipe __emr-local-runner DIR (absolute)\n");
        return 2;
    }
    runner r = { argv[argc - 1], STDERR_FILENO };
    ub_secret_scan_env();           /* and each step's own, from its private file */
    ub_buf p = UB_BUF_INIT;
    ub_err err;
    int rc = 0;
    if (el_pathf(&p, "%s/runner.log", r.dir) && ub_mkdirs(r.dir) == 0) {
        int fd = open(p.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            r.logfd = fd;
    }
    for (;;) {
        /* submitters probe the lock for a moment to see whether a runner
         * is active: do not take such a probe for a runner */
        int lk = el_lock_take(r.dir, "runner.lock", 1, &err);
        for (int tries = 0; lk == -2 && tries < 10; tries++) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            lk = el_lock_take(r.dir, "runner.lock", 1, &err);
        }
        if (lk == -2) {
            rlog(&r, "another runner works this queue");
            break;
        }
        if (lk < 0) {
            rlog(&r, "%s", err.msg);
            rc = 1;
            break;
        }
        rc = work(&r) ? 1 : 0;
        el_lock_drop(lk);
        /* a step submitted after our last look but before we let go of the
         * lock found the lock taken and started no runner: look again */
        if (rc || !el_queue_has_pending(r.dir))
            break;
    }
    rlog(&r, "exiting");
    if (r.logfd != STDERR_FILENO)
        close(r.logfd);
    ub_buf_free(&p);
    return rc;
}
