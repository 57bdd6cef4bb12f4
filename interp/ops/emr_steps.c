/* emr.c — emr.add_steps (submit the step JSON) and emr.wait_steps (sensor). */
#include "emr/emr.h"
#include "base/buf.h"
#include "base/mem.h"
#include "op.h"
#include <jansson.h>
#include <string.h>

static const ub_param add_params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "emr", .choices = "emr",
      .desc = "EMR connection of the profile (cluster: local, or a cluster id)" },
    { .name = "steps", .type = UB_T_PATH, .required = 1,
      .desc = "JSON file (a template) with the steps, in the AddJobFlowSteps Steps shape" },
    { .name = NULL },
};

/* Parses the rendered step JSON; every step needs Name and HadoopJarStep.Args. */
static json_t *parse_steps(ub_opctx *c, const char *text)
{
    json_error_t je;
    const char *path = ub_op_str(c, "steps");
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ub_op_fail(c, "%s:%d:%d: invalid JSON after rendering: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_array(root) || json_array_size(root) == 0) {
        ub_op_fail(c, "%s: must hold a non-empty JSON array of steps", path);
        json_decref(root);
        return NULL;
    }
    size_t i;
    json_t *st;
    json_array_foreach(root, i, st) {
        json_t *name = json_object_get(st, "Name");
        json_t *args = json_object_get(json_object_get(st, "HadoopJarStep"), "Args");
        json_t *aof = json_object_get(st, "ActionOnFailure");
        if (!json_is_string(name) || !json_is_array(args)) {
            ub_op_fail(c, "%s: step %zu needs a string Name and HadoopJarStep.Args (a list)", path, i + 1);
            json_decref(root);
            return NULL;
        }
        const char *a = aof ? json_string_value(aof) : "CONTINUE";
        if (!a || (strcmp(a, "CONTINUE") && strcmp(a, "CANCEL_AND_WAIT") && strcmp(a, "TERMINATE_CLUSTER") &&
                   strcmp(a, "TERMINATE_JOB_FLOW"))) {
            ub_op_fail(c, "%s: step %zu: ActionOnFailure must be CONTINUE, CANCEL_AND_WAIT, TERMINATE_CLUSTER "
                          "or TERMINATE_JOB_FLOW", path, i + 1);
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

static int add_plan(ub_opctx *c)
{
    const char *text = ub_op_file_rendered(c, "steps");
    const char *conn = ub_op_str(c, "conn");
    const char *cluster = ub_op_conn(c, "conn", "cluster");
    if (!text || !conn)
        return -1;
    json_t *root = parse_steps(c, text);
    if (!root)
        return -1;
    size_t i;
    json_t *st;
    json_array_foreach(root, i, st) {
        char *s = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        ub_op_effect(c, "emr.step", cluster ? cluster : conn, "%s", s ? s : "(out of memory)");
        ub_free(s);
    }
    json_decref(root);
    return 0;
}

static int open_emr(ub_opctx *c, ub_emr **out)
{
    ub_emr_opts o = { 0 };
    ub_emr_script *scripts = NULL;
    size_t cap = 0;
    ub_err err;
    int rc = -1;
    *out = NULL;
    o.cluster = ub_op_conn(c, "conn", "cluster");
    o.state_dir = ub_op_state_dir(c);
    o.self_exe = ub_op_self_exe(c);
    o.lake_url = ub_op_lake_url(c);
    o.base_dir = ub_op_spec_dir(c);          /* a relative lake or hdfs dir is relative to the spec */
    o.hdfs_dir = ub_op_conn(c, "conn", "hdfs");
    o.region = ub_op_conn(c, "conn", "region");
    if (!o.cluster) {
        ub_op_fail(c, "the emr connection has no cluster");
        goto out;
    }
    /* the local runner needs the script → built-in map: every entry of it */
    const char *val, *key;
    while ((val = ub_op_conn_map(c, "conn", "scripts", o.nscripts, &key)) != NULL) {
        if (o.nscripts == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ub_emr_script *v = ub_realloc(scripts, ncap * sizeof *v);
            if (!v) {
                ub_op_fail(c, "out of memory");
                goto out;
            }
            scripts = v;
            cap = ncap;
        }
        scripts[o.nscripts].name = key;
        scripts[o.nscripts++].builtin = val;
    }
    o.scripts = scripts;
    *out = ub_emr_open(&o, &err);            /* copies what it keeps of o */
    if (!*out) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    rc = 0;
out:
    ub_free(scripts);
    return rc;
}

/* a later run: steps_json again from the step file (the journal holds it with its secrets masked) */
static int add_restore(ub_opctx *c)
{
    const char *text = ub_op_file_rendered(c, "steps");
    return text ? ub_op_set_output(c, "steps_json", text) : -1;
}

static int add_run(ub_opctx *c)
{
    const char *text = ub_op_file_rendered(c, "steps");
    if (!text)
        return -1;
    json_t *root = parse_steps(c, text);
    if (!root)
        return -1;
    json_decref(root);
    ub_emr *emr = NULL;
    char **ids = NULL;
    size_t n = 0;
    ub_err err;
    int rc = -1;
    /* resume: steps already submitted by an earlier try are re-attached */
    const char *prev = ub_op_prev_output(c, "step_ids");
    if (prev && *prev) {
        ub_op_log(c, "re-attaching to steps %s submitted earlier", prev);
        ub_op_set_output(c, "step_ids", prev);
        ub_op_set_output(c, "steps_json", text);
        return 0;
    }
    if (open_emr(c, &emr))
        goto out;
    if (ub_emr_add_steps(emr, text, &ids, &n, &err)) {
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    ub_buf b = UB_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        ub_buf_adds(&b, i ? " " : "");
        ub_buf_adds(&b, ids[i]);
    }
    if (b.err || ub_op_set_output(c, "step_ids", ub_buf_str(&b)) ||
        ub_op_set_output(c, "last_step", n ? ids[n - 1] : "") || ub_op_set_output(c, "steps_json", text)) {
        ub_buf_free(&b);
        ub_op_fail(c, "out of memory");
        goto out;
    }
    ub_op_log(c, "submitted %zu steps: %s", n, ub_buf_str(&b));
    ub_buf_free(&b);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        ub_free(ids[i]);
    ub_free(ids);
    ub_emr_free(emr);
    return rc;
}

static const ub_param wait_params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "emr", .choices = "emr",
      .desc = "EMR connection of the profile" },
    { .name = "steps", .type = UB_T_STR, .required = 1,
      .desc = "step ids to wait for, separated by spaces (usually an upstream output)" },
    { .name = "poke_interval", .type = UB_T_DURATION, .def = "30s",
      .desc = "time between two DescribeStep calls" },
    { .name = "resubmit", .type = UB_T_STR,
      .desc = "steps JSON to submit again when a cancelled run left the steps CANCELLED "
              "(the submit task's steps_json output)" },
    { .name = NULL },
};

static int wait_plan(ub_opctx *c)
{
    const char *steps = ub_op_str(c, "steps");
    const char *cluster = ub_op_conn(c, "conn", "cluster");
    double poke = ub_op_duration(c, "poke_interval");
    if (!steps)
        return -1;
    ub_op_effect(c, "wait", cluster ? cluster : "emr",
                 "steps %s until all are COMPLETED; fail on FAILED or INTERRUPTED (poke every %gs); cancel the "
                 "open steps if cancelled%s",
                 steps, poke, ub_op_has(c, "resubmit") ? "; a next run submits CANCELLED steps again" : "");
    return 0;
}

/* Splits "s-1 s-2,s-3" into ids (pointers into buf, which is modified). */
static size_t split_ids(char *buf, char **ids, size_t cap)
{
    size_t n = 0;
    char *p = buf;
    while (*p && n < cap) {
        p += strspn(p, " ,");
        if (!*p)
            break;
        ids[n++] = p;
        p += strcspn(p, " ,");
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static int publish_ids(ub_opctx *c, char *const *ids, size_t n)
{
    ub_buf b = UB_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        ub_buf_adds(&b, i ? " " : "");
        ub_buf_adds(&b, ids[i]);
    }
    int rc = b.err || ub_op_set_output(c, "step_ids", ub_buf_str(&b)) ? -1 : 0;
    ub_buf_free(&b);
    return rc;
}

/* Cancels the steps not yet final (CancelSteps): the run was cancelled or
 * the wait timed out, and a step left running would race the next run. */
static void cancel_open_steps(ub_opctx *c, ub_emr *emr, char *const *ids, size_t n)
{
    char *open[64];
    size_t k = 0;
    ub_err err;
    for (size_t i = 0; i < n && k < 64; i++) {
        ub_emr_step_status st;
        if (ub_emr_describe_step(emr, ids[i], &st, &err) == 0 && !ub_step_state_final(st.state))
            open[k++] = ids[i];
    }
    if (k && ub_emr_cancel_steps(emr, open, k, &err))
        ub_op_log(c, "cancelling steps failed: %s", err.msg);
    else if (k)
        ub_op_log(c, "cancelled %zu step(s) still pending or running", k);
}

static int wait_run(ub_opctx *c)
{
    const char *steps = ub_op_str(c, "steps");
    const char *resubmit = ub_op_has(c, "resubmit") ? ub_op_str(c, "resubmit") : NULL;
    double poke = ub_op_duration(c, "poke_interval");
    ub_emr *emr = NULL;
    ub_err err;
    char idbuf[4096], *ids[64], **fresh = NULL;
    size_t n = 0, nfresh = 0;
    int rc = -1, resubmitted = 0;
    if (!steps || open_emr(c, &emr))
        goto out;
    /* steps this sensor submitted again on an earlier try win over the upstream's */
    const char *prev = ub_op_prev_output(c, "step_ids");
    snprintf(idbuf, sizeof idbuf, "%s", prev && *prev ? prev : steps);
    n = split_ids(idbuf, ids, 64);
    if (n == 0) {
        ub_op_fatal(c, "no step ids to wait for ('%s')", steps);
        goto out;
    }
    for (;;) {
        int all_done = 1, cancelled = 0;
        ub_emr_step_status failed = { 0 };
        const char *failed_id = NULL;
        for (size_t i = 0; i < n; i++) {
            ub_emr_step_status st;
            if (ub_emr_describe_step(emr, ids[i], &st, &err)) {
                ub_op_fail(c, "%s", err.msg);
                goto out;
            }
            if ((st.state == UB_STEP_FAILED || st.state == UB_STEP_INTERRUPTED) && !failed_id) {
                failed = st;
                failed_id = ids[i];
            }
            cancelled |= st.state == UB_STEP_CANCELLED;
            if (st.state != UB_STEP_COMPLETED)
                all_done = 0;
        }
        if (failed_id) {
            ub_op_fatal(c, "step %s (%s) %s%s%s; fix the cause, then run again with --rerun (or --only the submit "
                           "and wait tasks) to submit new steps",
                        failed_id, failed.name, ub_step_state_name(failed.state), failed.reason[0] ? ": " : "",
                        failed.reason);
            goto out;
        }
        if (cancelled) {
            /* cancelled, nothing failed: a cancelled run (ours) stopped them */
            if (!resubmit || !*resubmit || resubmitted) {
                ub_op_fatal(c, "steps %s were cancelled; run again with --only the submit and wait tasks to "
                               "submit new steps", steps);
                goto out;
            }
            if (ub_emr_add_steps(emr, resubmit, &fresh, &nfresh, &err)) {
                ub_op_fail(c, "submitting the cancelled steps again: %s", err.msg);
                goto out;
            }
            for (size_t i = 0; i < nfresh && i < 64; i++)
                ids[i] = fresh[i];
            n = nfresh < 64 ? nfresh : 64;
            resubmitted = 1;
            if (publish_ids(c, ids, n)) {
                ub_op_fail(c, "out of memory");
                goto out;
            }
            ub_op_log(c, "the steps had been cancelled; submitted them again");
            continue;
        }
        if (all_done)
            break;
        if (ub_op_sleep(c, poke)) {
            cancel_open_steps(c, emr, ids, n);
            ub_op_fail(c, "cancelled while waiting for steps %s", steps);
            goto out;
        }
    }
    ub_op_log(c, "steps completed");
    rc = 0;
out:
    for (size_t i = 0; i < nfresh; i++)
        ub_free(fresh[i]);
    ub_free(fresh);
    ub_emr_free(emr);
    return rc;
}

const ub_opdesc ub_op_emr_add_steps = {
    .name = "emr.add_steps",
    .summary = "submit EMR steps from a JSON file",
    .doc = "Renders the step JSON and submits the steps to the cluster of the emr connection: AddJobFlowSteps on "
           "AWS, or the local step runner when the cluster is 'local' (s3-dist-cp copies between the lake and a "
           "scratch HDFS directory; spark-submit runs the built-in named for the script in the connection's "
           "'scripts'). Outputs: step_ids (space separated), last_step and steps_json (the rendered steps). A "
           "resumed run re-attaches to steps already submitted.",
    .params = add_params,
    .plan = add_plan,
    .run = add_run,
    .restore = add_restore,
};

const ub_opdesc ub_op_emr_wait_steps = {
    .name = "emr.wait_steps",
    .summary = "sensor: wait until EMR steps complete",
    .doc = "Polls DescribeStep for each step every poke_interval until all are COMPLETED. A FAILED or INTERRUPTED "
           "step fails the task for good with the step's failure details. When the run is cancelled or the task's "
           "timeout ends the wait, the steps still pending or running are cancelled (CancelSteps); the next run "
           "then finds them CANCELLED and, given resubmit, submits them again and waits for the new ones.",
    .params = wait_params,
    .plan = wait_plan,
    .run = wait_run,
};
