/* fingerprint.h — what a task read, in one place: the fingerprint of a try,
 * computed before it runs (plan time, nothing executed) and recorded in the
 * journal with its success, and the decision a later run of the same ds
 * takes from it (run or skip, and why).
 *
 * The components (a JSON object, recorded as the journal's "fp"):
 *   "op"       operator name and ubpipe version
 *   "params"   every parameter of the task, rendered (after templates), secrets masked
 *   "files"    per PATH parameter read from outside the workdir: {"path", "hash"
 *              of the content, "rendered": hash of the rendered template when the
 *              file holds "{{"}; files larger than UB_FP_SMALL are identified by
 *              size, mtime and inode ("stat") unless the operator reported the
 *              content hash it computed while streaming (ub_op_input_file)
 *   "conns"    per connection parameter: its identity (conninfo without the
 *              password, lake URL, cluster id, scripts); "lake": the lake URL
 *   "pipeline_params"  the values of the pipeline parameters (params.NAME) its
 *              parameters and template files name: only for the reasons, the
 *              rendered values above already carry their effect
 *   "upstream" per upstream task: the hash of its recorded fingerprint and outputs
 * The fingerprint is the hash of the components (canonical JSON: keys
 * sorted, compact).  Every hash here is the content hash of io/chash.h
 * (XXH3-128).  Documented in ubpipe-pipeline(5), FINGERPRINTS.
 */
#ifndef UB_FINGERPRINT_H
#define UB_FINGERPRINT_H
#include <jansson.h>
#include "core/engine.h"
#include "core/journal.h"
#include "io/chash.h"

#define UB_FP_SMALL (4u << 20)       /* files up to this size are hashed at decision time */

enum { UB_FP_SKIP = 0, UB_FP_RUN = 1 };

typedef struct ub_fp_decision {
    int   action;                     /* UB_FP_RUN or UB_FP_SKIP */
    char *reason;                     /* owned; "up to date" when skipped */
} ub_fp_decision;

/* The components of task t's fingerprint in e (a run-mode engine whose
 * outputs of the upstream tasks are published), with the journal j for the
 * upstream component and the cached content hashes of large files.  A new
 * reference, or NULL with *why set (static text). */
json_t *ub_fp_compute(ub_engine *e, ub_task *t, const ub_journal *j, const char **why);
/* The hash (hex) of the components, stat hints excluded. */
void ub_fp_hash(const json_t *fp, char out[UB_CHASH_HEX + 1]);
/* Why now differs from old (both components), as a new string; NULL when
 * they are the same. */
char *ub_fp_diff(ub_engine *e, ub_task *t, const json_t *old, const json_t *now);

/* Decides, for every task of e's spec (in e's order), whether a run of
 * this ds runs it: force[i] set = run (forced), otherwise it runs when it
 * never succeeded, was recorded without a fingerprint, its fingerprint
 * changed, or an upstream task runs.  e must be a run-mode engine; the
 * recorded outputs of the tasks it skips are published to it.  *legacy is
 * set when the journal was written by an ubpipe without fingerprints.
 * out[] has spec->ntasks entries (free with ub_fp_decisions_free). 0 or -1. */
int  ub_fp_decide(ub_engine *e, const ub_journal *j, const char *force, ub_fp_decision *out, int *legacy);
void ub_fp_decisions_free(ub_fp_decision *d, size_t n);

/* Merges content hashes reported by the try ({"PARAM": "HASHHEX"}) into
 * the components (replacing a "stat" identity). */
void ub_fp_merge_inputs(json_t *fp, const json_t *inputs);

/* The content hash of a file (hex); 0 or -1 (errno). */
int ub_fp_file_hash(const char *path, char out[UB_CHASH_HEX + 1]);

#endif
