/* sched_hist.c — the last known duration of each task, read from a journal,
 * for the scheduler's critical path first (ub_sched_run_weighted). */
#include "core/journal.h"
#include "core/sched.h"
#include "base/buf.h"
#include "base/mem.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* a ds directory name: YYYY-MM-DD */
static int is_ds(const char *n)
{
    if (strlen(n) != 10)
        return 0;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? n[i] != '-' : (n[i] < '0' || n[i] > '9'))
            return 0;
    return 1;
}

double *ub_sched_history(const ub_spec *s, const char *state_dir, const char *before)
{
    const char *home = state_dir && *state_dir ? state_dir : getenv("UBPIPE_HOME");
    ub_buf dir = UB_BUF_INIT;
    ub_journal j;
    ub_err err;
    char last[11] = "";
    double *w = NULL, sum = 0;
    size_t known = 0;
    DIR *d = NULL;
    memset(&j, 0, sizeof j);
    j.fd = -1;
    if (!home || !*home)
        home = ".ubpipe";
    ub_buf_addf(&dir, "%s/runs/%s", home, s->pipeline);
    if (dir.err || !(d = opendir(ub_buf_str(&dir))))
        goto out;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (is_ds(e->d_name) && strcmp(e->d_name, last) > 0 && (!before || strcmp(e->d_name, before) < 0))
            memcpy(last, e->d_name, sizeof last);
    if (!*last || ub_journal_open(&j, home, s->pipeline, last, 0, &err))
        goto out;
    if (!(w = ub_calloc(s->ntasks ? s->ntasks : 1, sizeof *w)))
        goto out;
    for (size_t i = 0; i < s->ntasks; i++) {
        const ub_jtask *t = ub_journal_task(&j, s->tasks[i].id);
        if (t && t->state && strcmp(t->state, "success") == 0 && t->ended > t->started) {
            w[i] = t->ended - t->started;
            sum += w[i];
            known++;
        }
    }
    if (!known) {                 /* nothing to go by: count tasks */
        ub_free(w);
        w = NULL;
        goto out;
    }
    for (size_t i = 0; i < s->ntasks; i++)   /* a task never done: an average one */
        if (w[i] <= 0)
            w[i] = sum / (double)known;
out:
    if (d)
        closedir(d);
    ub_journal_close(&j);
    ub_buf_free(&dir);
    return w;
}
