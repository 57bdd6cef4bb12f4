/* local.h — private to the local EMR backend (emr/emr_local.c, emr/local_records.c,
 * emr/local_steps.c, emr/local_runner.c); nothing outside emr/ includes it.
 *
 * Layer: emr/ may include base/, io/, aws/ and lake/ — never core/ or ops/.
 *
 * Files: emr_local.c is the backend object (submit, describe, cancel, start the
 * runner); local_records.c the step records, the queue and the locks on disk;
 * local_steps.c the step commands that run inside a step process (s3-dist-cp,
 * spark-submit and its built-in scripts); local_runner.c the background runner
 * that works the queue.
 */
#ifndef UB_EMR_LOCAL_H
#define UB_EMR_LOCAL_H
#include "emr/emr.h"
#include "base/buf.h"
#include "base/err.h"
#include <jansson.h>
#include <stddef.h>

/*
 * The cluster "local" plays EMR on one machine.  Everything lives under
 * DIR = STATE/emr/local:
 *
 *   steps/<id>.json   one record per step (Id, Name, ActionOnFailure, Jar,
 *                     Args, State, SubmittedAt, StartedAt, EndedAt, Reason,
 *                     LogFile, RunnerPid, Lake, HdfsDir, Scripts);
 *                     always replaced atomically, so it is valid JSON at
 *                     any moment
 *   queue             ids of the steps not yet final, in submission order
 *   private/<id>.json the clear Args of a step whose arguments hold a secret
 *                     (mode 0600, directory 0700; see el_private_save)
 *   logs/<id>.log     what the step printed
 *   runner.log        what the runner printed
 *   runner.lock       flock held by the one runner working the queue
 *   state.lock        flock held for each read-modify-write of records or
 *                     of the queue (submitter, canceller and runner alike)
 *   terminated        present once a step failed with ActionOnFailure
 *                     TERMINATE_CLUSTER or TERMINATE_JOB_FLOW: from then on
 *                     ub_emr_add_steps fails and says so; remove the file to
 *                     use the local cluster again
 *
 * ub_emr_add_steps writes PENDING records and the queue, then starts
 * `<self_exe> __emr-local-runner DIR` detached (own session, stdio to
 * runner.log), unless a runner already holds runner.lock.  With self_exe
 * NULL nothing is started: the caller runs ub_emr_local_runner_main itself
 * (the unit tests do).  The runner takes the first PENDING step of the queue,
 * makes it RUNNING, runs it in a child process, and ends it COMPLETED, FAILED
 * (Reason: one line; LogFile) or CANCELLED; on FAILED it honours
 * ActionOnFailure (CONTINUE; CANCEL_AND_WAIT cancels every later PENDING step;
 * TERMINATE_* does the same and writes DIR/terminated).  A runner that finds
 * nothing PENDING exits.
 *
 * Cancelling: a PENDING step becomes CANCELLED at once; a RUNNING one becomes
 * CANCEL_PENDING, and the runner, which looks at the record every 100 ms,
 * kills the step's process and ends it CANCELLED.
 *
 * A runner killed mid-step (SIGKILL): its step process dies with it (Linux
 * parent-death signal; elsewhere it keeps runner.lock until it ends).  The
 * next runner to get runner.lock knows that no step of this queue can still
 * be running.  The step did not fail, it was interrupted: every RUNNING step
 * ends CANCELLED ("interrupted: runner died", with the pid recorded in the
 * record) and so does every PENDING step behind it in the queue (they may
 * need its output), so a waiting sensor with `resubmit` submits them all
 * again, as after a cancelled run; a CANCEL_PENDING one becomes CANCELLED.  ub_emr_describe_step starts that
 * runner when it sees an unfinished step and no live runner.
 *
 * The step commands (HadoopJarStep.Jar must be command-runner.jar):
 *   s3-dist-cp --src=X --dest=Y   X, Y: s3://BUCKET/KEY (the bucket is ignored,
 *        the key is a key of the profile's lake), hdfs:///PATH or /PATH (under
 *        the HDFS directory, default STATE/hdfs).  One object, or every object
 *        under a prefix (X ends in '/' or names no object), relative names
 *        kept; each object is written atomically.
 *   spark-submit [--deploy-mode M] [--master M] [--conf K=V]... SCRIPT ARGS...
 *        runs the built-in the connection's `scripts` map names for SCRIPT's
 *        base name.  Built-in "classify": --input DIR --output DIR --run-id DS.
 */

#define QUEUE_MAX   (16u << 20)
#define ID_LEN      15                 /* "s-" + 13 */
#define POLL_MS     100

extern const char el_id_chars[];       /* the characters of a step id after "s-" */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

/* ---- local_records.c: small helpers ---- */

/* Resets b to the formatted text; NULL when out of memory. */
const char *el_pathf(ub_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void el_iso_now(char out[32]);                 /* UTC, ISO 8601 */
/* flock of DIR/name: the descriptor, -2 when nonblock and busy, -1 on error */
int  el_lock_take(const char *dir, const char *name, int nonblock, ub_err *err);
void el_lock_drop(int fd);
int  el_runner_active(const char *dir, ub_err *err);   /* 1 held, 0 free, -1 error */
void el_one_line(const char *s, ub_buf *out);  /* one line of valid UTF-8 for a record */
int  el_strlist_push(strlist *l, const char *s, size_t n);  /* copies s[0..n) */
void el_strlist_free(strlist *l);

/* ---- local_records.c: step records (DIR/steps/<id>.json) ---- */

int         el_valid_id(const char *id);
const char *el_rec_str(const json_t *rec, const char *key);       /* NULL when absent */
long long   el_rec_int(const json_t *rec, const char *key);       /* 0 when absent */
int         el_rec_state(const json_t *rec);                      /* ub_step_state, -1 unknown */
int         el_rec_set_str(json_t *rec, const char *key, const char *val);
int         el_rec_set_int(json_t *rec, const char *key, long long v);
int         el_rec_set_now(json_t *rec, const char *key);
int         el_rec_set_state(json_t *rec, ub_step_state s);
/* *out: a new reference the caller drops; 0, or -1 (missing or invalid included) */
int         el_rec_load(const char *dir, const char *id, json_t **out, ub_err *err);
int         el_rec_save(const char *dir, json_t *rec, ub_err *err);   /* atomic replace */
int         el_rec_finish(json_t *rec, ub_step_state s, const char *reason);

/* ---- local_records.c: private arguments (DIR/private/<id>.json) ----
 * The clear Args of a step whose arguments hold a registered secret (its record
 * holds them masked and PrivateArgs true), with those secrets: mode 0600 in a
 * 0700 directory, from submission until the runner takes them (take registers
 * the secrets for masking and removes the file) or the step is final. */
int  el_private_save(const char *dir, const char *id, const json_t *args, ub_err *err);
int  el_private_take(const char *dir, const char *id, json_t **args, ub_err *err);
void el_private_drop(const char *dir, const char *id);
/* Under state.lock: removes the private files of steps not in queue q (a
 * submitter or runner that died between two writes) and stale temporaries. */
void el_private_sweep(const char *dir, const strlist *q);

/* ---- local_records.c: the queue and the cluster ---- */

int el_queue_load(const char *dir, strlist *q, ub_err *err);
int el_queue_save(const char *dir, const strlist *q, ub_err *err);
/* the first line of DIR/terminated into why: 1 terminated, 0 not, -1 error */
int el_terminated(const char *dir, char *why, size_t cap, ub_err *err);
/* every PENDING step after index at of q becomes CANCELLED with reason why */
int el_cancel_behind(const char *dir, const strlist *q, size_t at, const char *why, ub_err *err);
/* applies failed's ActionOnFailure to the PENDING steps after index at of q */
int el_apply_failure(const char *dir, const strlist *q, size_t at, const json_t *failed, ub_err *err);
int el_queue_has_pending(const char *dir);     /* 1 when a PENDING step is queued */

/* ---- local_steps.c ---- */

/* Runs the step of record rec in this process (a step process): 0 done, -1 failed (err). */
int el_run_step(const json_t *rec, ub_err *err);

#endif
