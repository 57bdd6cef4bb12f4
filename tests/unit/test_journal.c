/* test_journal.c — journal checkpoints (core/journal.c): a reader that starts from the last
 * {"checkpoint":…} line folds to exactly the view of one that reads every line (the same file with
 * the checkpoints taken out), a torn or garbled checkpoint falls back to reading every line, and an
 * up-to-date open writes nothing. */
#include "base/buf.h"
#include "core/journal.h"
#include "t.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_of(const char *ds, char *out, size_t cap)
{
    snprintf(out, cap, "%s/runs/p/%s/journal.jsonl", dir, ds);
}

/* one "run" of three tasks: a start line, decisions, queued/running/success (a fingerprint of k) */
static void one_run(int k)
{
    ub_journal j;
    ub_err err;
    char fp[512], rows[16], val[32];
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-01", 1, &err) == 0);
    ub_kv ps[1] = { { "bucket", k % 2 ? "b" : "a" } };
    T_CHECK(ub_journal_run_start(&j, ps, 1, &err) == 0);
    static const char *const tasks[] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        T_CHECK(ub_journal_decision(&j, tasks[i], "run", k ? "input changed" : "never ran", &err) == 0);
        T_CHECK(ub_journal_record(&j, tasks[i], "queued", 0, NULL, NULL, 0, &err) == 0);
        T_CHECK(ub_journal_record(&j, tasks[i], "running", k + 1, NULL, NULL, 0, &err) == 0);
        snprintf(fp, sizeof fp, "{\"op\":\"noop 1\",\"params\":{\"k\":\"%d\",\"pad\":\"%0400d\"}}", k, 0);
        snprintf(rows, sizeof rows, "%d", k);
        snprintf(val, sizeof val, "v%d", k);
        ub_kv out[2] = { { "rows", rows }, { k == 0 ? "first" : "later", val } };   /* "first": only in run 0 */
        if (i == 2 && k % 3 == 1)
            T_CHECK(ub_journal_record(&j, tasks[i], "failed", k + 1, "boom\nsecond line", out, 2, &err) == 0);
        else
            T_CHECK(ub_journal_record_fp(&j, tasks[i], "success", k + 1, NULL, out, 2, fp, &err) == 0);
    }
    ub_journal_close(&j);
}

/* the view as text, for comparison */
static void view(const char *ds, ub_buf *b)
{
    ub_journal j;
    ub_err err;
    T_CHECK(ub_journal_open(&j, dir, "p", ds, 0, &err) == 0);
    for (size_t i = 0; i < j.n; i++) {
        const ub_jtask *t = &j.tasks[i];
        ub_buf_addf(b, "%s %s %d %.6f %.6f [%s] %s %s %s |", t->task, t->state ? t->state : "-", t->tries, t->started,
                    t->ended, t->error ? t->error : "-", t->fp ? t->fp : "-", t->decision ? t->decision : "-",
                    t->reason ? t->reason : "-");
        for (size_t k = 0; k < t->nout; k++)
            ub_buf_addf(b, " %s=%s", t->outputs[k].key, t->outputs[k].val);
        ub_buf_addc(b, '\n');
    }
    for (size_t i = 0; i < j.nparams; i++)
        ub_buf_addf(b, "param %s=%s\n", j.params[i].key, j.params[i].val);
    ub_journal_close(&j);
}

/* copies the journal of 2021-05-01 to ds, keeping the lines keep() accepts (and rewriting the last
 * checkpoint's line with repl when given) */
static size_t copy_to(const char *ds, int drop_checkpoints, const char *repl)
{
    char src[160], dst[160], cmd[400];
    path_of("2021-05-01", src, sizeof src);
    path_of(ds, dst, sizeof dst);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/runs/p/%s'", dir, ds);
    T_CHECK(system(cmd) == 0);
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    char *line = NULL;
    size_t cap = 0, cps = 0, total = 0;
    ssize_t n;
    while (in && out && (n = getline(&line, &cap, in)) > 0)
        total += strncmp(line, "{\"checkpoint\":", 14) == 0;
    if (in)
        rewind(in);
    while (in && out && (n = getline(&line, &cap, in)) > 0) {
        int cp = strncmp(line, "{\"checkpoint\":", 14) == 0;
        cps += cp;
        if (cp && drop_checkpoints)
            continue;
        fputs(cp && repl && cps == total ? repl : line, out);
    }
    free(line);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return total;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ubpipe-test-journal.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    for (int k = 0; k < 100; k++)
        one_run(k);
    ub_buf with = UB_BUF_INIT, without = UB_BUF_INIT, garbled = UB_BUF_INIT, torn = UB_BUF_INIT;
    view("2021-05-01", &with);
    size_t cps = copy_to("2021-05-02", 1, NULL);
    T_CHECK(cps >= 3);                                   /* 100 runs of ~3 KB: one every 64 KB */
    view("2021-05-02", &without);
    T_CHECK(with.len > 0);
    T_STREQ(ub_buf_str(&with), ub_buf_str(&without));
    T_CHECK(strstr(ub_buf_str(&with), "first=v0") != NULL);   /* an output only the first run wrote */
    T_CHECK(strstr(ub_buf_str(&with), "param bucket=b") != NULL);
    /* a garbled last checkpoint: every line is read, the same view */
    copy_to("2021-05-03", 0, "{\"checkpoint\":{\"tasks\":7}}\n");
    view("2021-05-03", &garbled);
    T_STREQ(ub_buf_str(&garbled), ub_buf_str(&with));
    /* the reader starts from the last checkpoint: what only the lines before it say is not read */
    ub_buf planted = UB_BUF_INIT;
    copy_to("2021-05-04", 0, "{\"checkpoint\":{\"tasks\":[{\"task\":\"zz\",\"state\":\"success\",\"tries\":4,"
                             "\"started\":1,\"ended\":2,\"outputs\":{\"k\":\"v\"}}],\"params\":{}},\"ts\":3}\n");
    view("2021-05-04", &planted);
    T_CHECK(strstr(ub_buf_str(&planted), "zz success 4 1.000000 2.000000 [-] - - - | k=v\n") != NULL);
    T_CHECK(strstr(ub_buf_str(&planted), "first=v0") == NULL);
    ub_buf_free(&planted);
    /* a checkpoint torn as the last line: ignored (and the view is that of the lines before it) */
    char p[160];
    path_of("2021-05-01", p, sizeof p);
    FILE *f = fopen(p, "a");
    if (f) {
        fputs("{\"checkpoint\":{\"tasks\":[", f);
        fclose(f);
    }
    view("2021-05-01", &torn);
    T_STREQ(ub_buf_str(&torn), ub_buf_str(&with));
    /* opening for append repairs the tail and writes nothing else until a record comes */
    struct stat st0, st1;
    ub_journal j;
    ub_err err;
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-01", 1, &err) == 0);
    ub_journal_close(&j);
    T_CHECK(stat(p, &st0) == 0);
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-01", 1, &err) == 0);
    ub_journal_close(&j);
    T_CHECK(stat(p, &st1) == 0);
    T_INTEQ(st1.st_size, st0.st_size);
    /* a try that starts over voids the outputs of earlier runs (a resume must not re-attach to them),
     * in the view of every later reader, checkpoint or not; what it records itself counts again */
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-09", 1, &err) == 0);
    ub_kv steps[1] = { { "step_ids", "s-OLD" } };
    T_CHECK(ub_journal_record(&j, "emr", "success", 1, NULL, steps, 1, &err) == 0);
    T_CHECK(ub_journal_record_fresh(&j, "emr", "queued", 1, &err) == 0);
    T_INTEQ(ub_journal_task(&j, "emr")->nout, 0);
    T_CHECK(ub_journal_record(&j, "emr", "running", 2, NULL, NULL, 0, &err) == 0);
    ub_journal_close(&j);                          /* killed here */
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-09", 0, &err) == 0);
    const ub_jtask *et = ub_journal_task(&j, "emr");
    T_CHECK(et && et->nout == 0 && et->tries == 2 && strcmp(et->state, "running") == 0);
    ub_journal_close(&j);
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-09", 1, &err) == 0);
    ub_kv steps2[1] = { { "step_ids", "s-NEW" } };
    T_CHECK(ub_journal_record(&j, "emr", "success", 2, NULL, steps2, 1, &err) == 0);
    ub_journal_close(&j);
    T_CHECK(ub_journal_open(&j, dir, "p", "2021-05-09", 0, &err) == 0);
    et = ub_journal_task(&j, "emr");
    T_CHECK(et && et->nout == 1);
    T_STREQ(et && et->nout ? et->outputs[0].val : NULL, "s-NEW");
    ub_journal_close(&j);
    ub_buf_free(&with);
    ub_buf_free(&without);
    ub_buf_free(&garbled);
    ub_buf_free(&torn);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
    return t_done("test_journal");
}
