/* journal.h — the run journal: an append-only, fsync'd record per
 * (pipeline, ds) of every task state change, under the state directory:
 *   STATE/runs/<pipeline>/<ds>/journal.jsonl
 * One JSON object per line: {"ts":…, "task":…, "state":…, "try":…,
 * "error":…, "outputs":{…}}.  A torn last line (crash mid-write) is ignored
 * on reading and cut off when the journal is next opened for append, so a
 * crash at any moment leaves a journal that reads back.
 */
#ifndef UB_JOURNAL_H
#define UB_JOURNAL_H
#include <stddef.h>
#include "core/engine.h"

typedef struct ub_jtask {
    char   *task;
    char   *state;        /* last state: queued, running, success, failed, up_for_retry, upstream_failed, skipped */
    int     tries;
    double  started, ended; /* epoch seconds of the last try */
    char   *error;
    ub_kv  *outputs;      /* owned */
    size_t  nout;
} ub_jtask;

typedef struct ub_journal {
    char     *path;
    int       fd;         /* open for append while running, -1 otherwise */
    size_t    repaired;   /* bytes of a torn last line cut off when opened for append */
    ub_jtask *tasks;
    size_t    n;
} ub_journal;

/* Reads the journal of pipeline/ds (missing = empty).  0 or -1. */
int  ub_journal_open(ub_journal *j, const char *state_dir, const char *pipeline, const char *ds, int for_append,
                     ub_err *err);
void ub_journal_close(ub_journal *j);
const ub_jtask *ub_journal_task(const ub_journal *j, const char *task);
/* Appends a state change (fsync'd) and updates the in-memory view.  On a
 * failed write or fsync the file is cut back to the end of the previous
 * record and err says why (with the errno text); the caller must stop. */
int  ub_journal_record(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                       const ub_kv *outputs, size_t nout, ub_err *err);
/* Directory of the run's logs: STATE/runs/<pipeline>/<ds>/logs */
int  ub_journal_log_path(const char *state_dir, const char *pipeline, const char *ds, const char *task,
                         int try_no, ub_buf *out);

#endif
