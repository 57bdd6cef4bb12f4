/* journal.h — the run journal: an append-only, fsync'd record per
 * (pipeline, ds) of every task state change, under the state directory:
 *   STATE/runs/<pipeline>/<ds>/journal.jsonl
 * One JSON object per line: {"ts":…, "task":…, "state":…, "try":…,
 * "error":…, "outputs":{…}}; a success also carries "fp": the components of
 * the task's fingerprint (fingerprint.h; absent in journals of older ubpipe).
 * A run that runs tasks writes {"ts":…, "run":"start", "params":{-p overrides}},
 * then per task it runs a line without "state" (older readers skip them):
 * {"ts":…, "task":…, "decision":"run", "reason":…}; a task it skips is up to
 * date and gets no line, and an up-to-date ds writes nothing.
 * Now and then a {"checkpoint":{…}} line holds the whole view folded so far
 * (journal.c), and a reader starts from the last one.
 * A torn last line (crash mid-write) is ignored on reading and cut off when the
 * journal is next opened for append, so a crash at any moment leaves a journal
 * that reads back.
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
    ub_kv  *outputs;      /* owned; secrets masked when read back from the file */
    unsigned char *out_masked;  /* per output: 1 when its recorded value had a secret masked */
    size_t  nout;
    char   *fp;           /* fingerprint components (JSON) of the last success; NULL = none recorded */
    char   *decision, *reason;  /* the last run's decision and why, or NULL */
} ub_jtask;

typedef struct ub_journal {
    char     *path;
    int       fd;         /* open for append while running, -1 otherwise */
    size_t    repaired;   /* bytes of a torn last line cut off when opened for append */
    ub_jtask *tasks;
    size_t    n;
    ub_kv    *params;     /* the -p overrides of the last run that ran tasks (owned), secrets masked */
    size_t    nparams;
    size_t    since_checkpoint;  /* bytes folded after the last checkpoint line (journal.c) */
} ub_journal;

/* A checkpoint line (the whole folded view) is appended before the first
 * record of a process once this many bytes were folded since the last one,
 * so that reading a journal costs at most about this much parsing. */
#define UB_JOURNAL_CHECKPOINT (64u * 1024)

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
/* The same, with the fingerprint components (JSON text, or NULL) of a success. */
int  ub_journal_record_fp(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                          const ub_kv *outputs, size_t nout, const char *fp, ub_err *err);
/* The first record of a try that starts over (--rerun, a changed input):
 * it carries "fresh": true and voids the outputs earlier runs recorded for
 * the task, so a run resumed after a crash re-attaches only to what this
 * run's tries left (EMR steps it submitted), never to an older run's. */
int  ub_journal_record_fresh(ub_journal *j, const char *task, const char *state, int try_no, ub_err *err);
/* Appends a run's decision for a task ("run" or "skip") and its reason. */
int  ub_journal_decision(ub_journal *j, const char *task, const char *decision, const char *reason, ub_err *err);
/* Appends the start of a run that runs tasks, with its -p overrides. */
int  ub_journal_run_start(ub_journal *j, const ub_kv *params, size_t n, ub_err *err);
/* Directory of the run's logs: STATE/runs/<pipeline>/<ds>/logs */
int  ub_journal_log_path(const char *state_dir, const char *pipeline, const char *ds, const char *task,
                         int try_no, ub_buf *out);

#endif
