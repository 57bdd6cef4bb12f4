/* test_emr_local.c — the local EMR step runner on real files: submit, run, describe, cancel. */
#include "emr/emr.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/secret.h"
#include "io/stream.h"
#include "lake/lake.h"
#include "t.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static char self_exe[4096];

/* The vendor file: 4 reviews.  Worked by hand (lower-case, split on single
 * whitespace, stop words dropped, positive = "good" among the tokens):
 *   101 "this movie was good"                   -> good            true
 *   102 "it was not good, said nobody"          -> "good," only    false
 *   103 "good acting"                           -> good            true
 *   104 "a multi-line\nreview, but good"        -> good            true   */
static const char movie_csv[] =
    "cid,review_str\n"
    "101,This movie was good\n"
    "102,\"It was not good, said nobody\"\n"
    "103,GOOD acting\n"
    "104,\"a multi-line\nreview, but good\"\n";
static const char movie_classified[] =
    "cid,positive_review,insert_date\n"
    "101,true,2021-05-01\n"
    "102,false,2021-05-01\n"
    "103,true,2021-05-01\n"
    "104,true,2021-05-01\n";

/* pipelines/emr/clean_movie_review.json rendered for a ds and bucket user-analytics */
static char *pipeline_steps(const char *ds, const char *aof)
{
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b,
        "[\n"
        "  {\"Name\": \"Move raw data from S3 to HDFS\", \"ActionOnFailure\": \"%s\",\n"
        "   \"HadoopJarStep\": {\"Jar\": \"command-runner.jar\", \"Args\": [\"s3-dist-cp\",\n"
        "     \"--src=s3://user-analytics/raw/movie_review/%s/\", \"--dest=/movie/%s/\"]}},\n"
        "  {\"Name\": \"Classify movie reviews\", \"ActionOnFailure\": \"%s\",\n"
        "   \"HadoopJarStep\": {\"Jar\": \"command-runner.jar\", \"Args\": [\"spark-submit\", \"--deploy-mode\",\n"
        "     \"client\", \"s3://user-analytics/scripts/random_text_classification.py\", \"--input\",\n"
        "     \"/movie/%s/\", \"--output\", \"/output/%s/\", \"--run-id\", \"%s\"]}},\n"
        "  {\"Name\": \"Move classified data from HDFS to S3\", \"ActionOnFailure\": \"%s\",\n"
        "   \"HadoopJarStep\": {\"Jar\": \"command-runner.jar\", \"Args\": [\"s3-dist-cp\",\n"
        "     \"--src=/output/%s/\", \"--dest=s3://user-analytics/stage/movie_review/%s/\"]}}\n"
        "]\n",
        aof, ds, ds, aof, ds, ds, ds, aof, ds, ds);
    return ub_buf_detach(&b, NULL);
}

/* one step: Name and Args given as a JSON list body */
static void add_step(ub_buf *b, const char *name, const char *aof, const char *args)
{
    ub_buf_adds(b, b->len ? ",\n" : "[\n");
    ub_buf_addf(b, "{\"Name\": \"%s\", \"ActionOnFailure\": \"%s\", \"HadoopJarStep\": "
                   "{\"Jar\": \"command-runner.jar\", \"Args\": [%s]}}", name, aof, args);
}

static char *slurp_file(const char *path)
{
    ub_buf b = UB_BUF_INIT;
    FILE *f = fopen(path, "rb");
    ub_buf_add(&b, "", 0);
    if (!f) {
        ub_buf_addf(&b, "(missing %s)", path);
        return ub_buf_detach(&b, NULL);
    }
    char chunk[512];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ub_buf_add(&b, chunk, n);
    fclose(f);
    return ub_buf_detach(&b, NULL);
}

static void check_file(const char *path, const char *want)
{
    char *got = slurp_file(path);
    T_STREQ(got, want);
    ub_free(got);
}

static int put(ub_lake *l, const char *key, const char *text, int zstd)
{
    ub_err err;
    ub_writer *w = ub_lake_open_write(l, key, &err);
    if (w && zstd) {
        ub_writer *z = ub_zstd_writer(w, 0, &err);
        if (!z)
            ub_writer_abort(w);
        w = z;
    }
    if (!w || ub_write(w, text, strlen(text), &err) < 0 || ub_writer_commit(w, &err) < 0) {
        fprintf(stderr, "put %s: %s\n", key, err.msg);
        return -1;
    }
    return 0;
}

static int run_runner(const char *dir)
{
    char *argv[] = { "ubpipe", "__emr-local-runner", (char *)dir, NULL };
    return ub_emr_local_runner_main(3, argv);
}

typedef struct env {
    char state[300], dir[340], hdfs[340], lake[300];
    ub_emr *emr;
    ub_lake *lk;
} env;

static const ub_emr_script scripts[] = { { "random_text_classification.py", "classify" } };

static int env_open(env *v, const char *name, int background)
{
    ub_err err;
    snprintf(v->state, sizeof v->state, "%s/%s", tmpdir, name);
    snprintf(v->dir, sizeof v->dir, "%s/emr/local", v->state);
    snprintf(v->hdfs, sizeof v->hdfs, "%s/hdfs", v->state);
    snprintf(v->lake, sizeof v->lake, "%s/lake", tmpdir);
    ub_emr_opts o = { 0 };
    o.cluster = "local";
    o.state_dir = v->state;
    o.self_exe = background ? self_exe : NULL;   /* NULL: no background runner, we run it here */
    o.lake_url = "file:lake";                    /* relative to base_dir */
    o.base_dir = tmpdir;
    o.scripts = scripts;
    o.nscripts = 1;
    v->emr = ub_emr_open(&o, &err);
    if (!v->emr)
        fprintf(stderr, "ub_emr_open: %s\n", err.msg);
    v->lk = ub_lake_file_open(v->lake, &err);
    return v->emr && v->lk ? 0 : -1;
}

static void env_close(env *v)
{
    ub_emr_free(v->emr);
    ub_lake_free(v->lk);
}

typedef struct idset {
    char **v;
    size_t n;
} idset;

static idset submit(env *v, const char *json, size_t want_n)
{
    idset r = { NULL, 0 };
    ub_err err;
    if (ub_emr_add_steps(v->emr, json, &r.v, &r.n, &err)) {
        fprintf(stderr, "add_steps: %s\n", err.msg);
        r.v = NULL;
        r.n = 0;
    }
    T_INTEQ(r.n, want_n);
    return r;
}

static void ids_free(idset *r)
{
    for (size_t i = 0; i < r->n; i++)
        ub_free(r->v[i]);
    ub_free(r->v);
}

static ub_emr_step_status describe(env *v, const char *id)
{
    ub_emr_step_status st;
    ub_err err;
    memset(&st, 0, sizeof st);
    if (!id || ub_emr_describe_step(v->emr, id, &st, &err)) {
        st.state = (ub_step_state)-1;
        snprintf(st.reason, sizeof st.reason, "(describe failed: %.900s)", id ? err.msg : "no id");
    }
    return st;
}

static const char *state_of(env *v, idset *r, size_t i)
{
    if (i >= r->n)
        return "(no such step)";
    static char why[1024];
    ub_emr_step_status st = describe(v, r->v[i]);
    if ((int)st.state >= 0)
        return ub_step_state_name(st.state);
    snprintf(why, sizeof why, "%s", st.reason);
    return why;
}

static void id_shape(const char *id)
{
    T_INTEQ(strlen(id), 15);
    T_CHECK(id[0] == 's' && id[1] == '-');
    for (size_t i = 2; i < strlen(id); i++)
        T_CHECK((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9'));
}

/* ---- the reference pipeline ---------------------------------------------------- */

static void test_pipeline(void)
{
    env v;
    char path[600];
    if (env_open(&v, "state1", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    T_INTEQ(put(v.lk, "raw/movie_review/2021-05-01/movie.csv", movie_csv, 0), 0);
    char *json = pipeline_steps("2021-05-01", "CANCEL_AND_WAIT");
    idset r = submit(&v, json, 3);
    for (size_t i = 0; i < r.n; i++) {
        id_shape(r.v[i]);
        T_STREQ(state_of(&v, &r, i), "PENDING");
    }
    if (r.n == 3)
        T_CHECK(strcmp(r.v[0], r.v[1]) && strcmp(r.v[1], r.v[2]) && strcmp(r.v[0], r.v[2]));
    ub_emr_step_status st = describe(&v, r.n ? r.v[0] : NULL);
    T_STREQ(st.name, "Move raw data from S3 to HDFS");

    T_INTEQ(run_runner(v.dir), 0);
    for (size_t i = 0; i < 3; i++)
        T_STREQ(state_of(&v, &r, i), "COMPLETED");
    st = describe(&v, r.n > 1 ? r.v[1] : NULL);
    T_STREQ(st.reason, "");

    /* step 1 copied the raw file into HDFS, step 2 classified it, step 3 staged it */
    snprintf(path, sizeof path, "%s/movie/2021-05-01/movie.csv", v.hdfs);
    check_file(path, movie_csv);
    snprintf(path, sizeof path, "%s/output/2021-05-01/part-00000.csv", v.hdfs);
    check_file(path, movie_classified);
    snprintf(path, sizeof path, "%s/output/2021-05-01/_SUCCESS", v.hdfs);
    check_file(path, "");
    snprintf(path, sizeof path, "%s/stage/movie_review/2021-05-01/part-00000.csv", v.lake);
    check_file(path, movie_classified);
    snprintf(path, sizeof path, "%s/stage/movie_review/2021-05-01/_SUCCESS", v.lake);
    check_file(path, "");
    /* nothing but the output directory beside it (no temporary directory) */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/output')\" = 2021-05-01", v.hdfs);
    T_INTEQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s/output/2021-05-01' | tr '\\n' ' ')\" = '_SUCCESS part-00000.csv '",
             v.hdfs);
    T_INTEQ(system(cmd), 0);
    /* the step log says what happened; the record is JSON with the runner's pid */
    snprintf(path, sizeof path, "%s/logs/%s.log", v.dir, r.n > 1 ? r.v[1] : "x");
    char *log = slurp_file(path);
    T_CHECK(log && strstr(log, "4 rows, 3 positive") != NULL);
    ub_free(log);
    snprintf(path, sizeof path, "%s/steps/%s.json", v.dir, r.n ? r.v[0] : "x");
    json_error_t je;
    json_t *rec = json_load_file(path, 0, &je);
    T_CHECK(rec != NULL);
    T_INTEQ(json_integer_value(json_object_get(rec, "RunnerPid")), getpid());
    T_STREQ(json_string_value(json_object_get(rec, "State")), "COMPLETED");
    json_decref(rec);
    /* the queue is worked off */
    snprintf(path, sizeof path, "%s/queue", v.dir);
    check_file(path, "");

    /* again: same result (the output directory is replaced, not added to) */
    idset r2 = submit(&v, json, 3);
    T_INTEQ(run_runner(v.dir), 0);
    for (size_t i = 0; i < 3; i++)
        T_STREQ(state_of(&v, &r2, i), "COMPLETED");
    snprintf(path, sizeof path, "%s/stage/movie_review/2021-05-01/part-00000.csv", v.lake);
    check_file(path, movie_classified);
    ids_free(&r2);

    /* a runner with nothing to do exits at once */
    T_INTEQ(run_runner(v.dir), 0);

    ub_free(json);
    ids_free(&r);
    env_close(&v);
}

/* ---- several inputs, compressed input, single objects ------------------------------ */

static void test_inputs(void)
{
    env v;
    char path[600];
    if (env_open(&v, "state2", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    T_INTEQ(put(v.lk, "raw/multi/a.csv", "cid,review_str\n1,good\n", 0), 0);
    T_INTEQ(put(v.lk, "raw/multi/b.csv.zst", "review_str,cid\nnot good,2\nno good,3\n", 1), 0);
    T_INTEQ(put(v.lk, "raw/multi/_manifest", "not csv at all,\"\n", 0), 0);
    T_INTEQ(put(v.lk, "raw/multi/sub/c.csv", "not csv either,\"\n", 0), 0);
    ub_buf b = UB_BUF_INIT;
    add_step(&b, "copy", "CANCEL_AND_WAIT", "\"s3-dist-cp\", \"--src=s3://any-bucket/raw/multi\", \"--dest=/in/\"");
    add_step(&b, "classify", "CANCEL_AND_WAIT",
             "\"spark-submit\", \"--master\", \"yarn\", \"--conf\", \"spark.x=1\", \"--deploy-mode=cluster\", "
             "\"random_text_classification.py\", \"--input\", \"hdfs:///in\", \"--output=/out/x\", "
             "\"--run-id\", \"2021-06-01\"");
    add_step(&b, "one object", "CANCEL_AND_WAIT",
             "\"s3-dist-cp\", \"--src=/out/x/part-00001.csv\", \"--dest=s3://b/stage/one.csv\"");
    add_step(&b, "one object into a directory", "CANCEL_AND_WAIT",
             "\"s3-dist-cp\", \"--src\", \"s3://b/raw/multi/a.csv\", \"--dest\", \"/single/\"");
    ub_buf_adds(&b, "]");
    idset r = submit(&v, ub_buf_str(&b), 4);
    T_INTEQ(run_runner(v.dir), 0);
    for (size_t i = 0; i < 4; i++)
        T_STREQ(state_of(&v, &r, i), "COMPLETED");
    /* sub/c.csv was copied (relative names kept) but is not read by classify,
     * nor is _manifest (Spark skips names starting with '_') */
    snprintf(path, sizeof path, "%s/in/sub/c.csv", v.hdfs);
    check_file(path, "not csv either,\"\n");
    snprintf(path, sizeof path, "%s/in/_manifest", v.hdfs);
    check_file(path, "not csv at all,\"\n");
    snprintf(path, sizeof path, "%s/out/x/part-00000.csv", v.hdfs);
    check_file(path, "cid,positive_review,insert_date\n1,true,2021-06-01\n");
    /* "not" is a stop word, "no" is not: both keep "good" */
    snprintf(path, sizeof path, "%s/out/x/part-00001.csv", v.hdfs);
    check_file(path, "cid,positive_review,insert_date\n2,true,2021-06-01\n3,true,2021-06-01\n");
    snprintf(path, sizeof path, "%s/out/x/part-00002.csv", v.hdfs);
    struct stat sb;
    T_CHECK(stat(path, &sb) < 0);
    snprintf(path, sizeof path, "%s/stage/one.csv", v.lake);
    check_file(path, "cid,positive_review,insert_date\n2,true,2021-06-01\n3,true,2021-06-01\n");
    snprintf(path, sizeof path, "%s/single/a.csv", v.hdfs);
    check_file(path, "cid,review_str\n1,good\n");
    /* file lake to local HDFS on one file system: hard links, not copies of the bytes */
    struct stat sa, sl;
    char lpath[600];
    snprintf(lpath, sizeof lpath, "%s/raw/multi/a.csv", v.lake);
    T_CHECK(stat(path, &sa) == 0 && stat(lpath, &sl) == 0 && sa.st_ino == sl.st_ino && sa.st_dev == sl.st_dev);
    snprintf(path, sizeof path, "%s/out/x/part-00001.csv", v.hdfs);
    snprintf(lpath, sizeof lpath, "%s/stage/one.csv", v.lake);
    T_CHECK(stat(path, &sa) == 0 && stat(lpath, &sl) == 0 && sa.st_ino == sl.st_ino);
    ub_buf_free(&b);
    ids_free(&r);
    env_close(&v);
}

/* ---- failures and ActionOnFailure --------------------------------------------------- */

static void test_failures(void)
{
    env v;
    char path[600], want[1600];
    if (env_open(&v, "state3", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }

    /* an unknown script fails its step; CANCEL_AND_WAIT cancels the rest */
    ub_buf b = UB_BUF_INIT;
    add_step(&b, "copy", "CANCEL_AND_WAIT",
             "\"s3-dist-cp\", \"--src=s3://b/raw/movie_review/2021-05-01/\", \"--dest=/m/\"");
    add_step(&b, "mystery", "CANCEL_AND_WAIT", "\"spark-submit\", \"s3://b/scripts/mystery.py\", \"--x\"");
    add_step(&b, "after", "CANCEL_AND_WAIT", "\"s3-dist-cp\", \"--src=/m/\", \"--dest=/n/\"");
    add_step(&b, "after too", "CONTINUE", "\"s3-dist-cp\", \"--src=/m/\", \"--dest=/o/\"");
    ub_buf_adds(&b, "]");
    idset r = submit(&v, ub_buf_str(&b), 4);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "COMPLETED");
    T_STREQ(state_of(&v, &r, 1), "FAILED");
    T_STREQ(state_of(&v, &r, 2), "CANCELLED");
    T_STREQ(state_of(&v, &r, 3), "CANCELLED");
    if (r.n == 4) {
        ub_emr_step_status st = describe(&v, r.v[1]);
        snprintf(want, sizeof want,
                 "spark-submit: script 'mystery.py' has no local built-in (the emr connection's scripts map "
                 "random_text_classification.py -> classify) (log file: %s/logs/%s.log)", v.dir, r.v[1]);
        T_STREQ(st.reason, want);
        T_STREQ(st.name, "mystery");
        st = describe(&v, r.v[2]);
        snprintf(want, sizeof want, "cancelled because step %s ('mystery') failed (ActionOnFailure CANCEL_AND_WAIT)",
                 r.v[1]);
        T_STREQ(st.reason, want);
    }
    snprintf(path, sizeof path, "%s/n", v.hdfs);
    struct stat sb;
    T_CHECK(stat(path, &sb) < 0);     /* the cancelled copy never ran */
    ids_free(&r);
    ub_buf_reset(&b);

    /* CONTINUE goes on after a failure; other commands fail with a clear reason */
    add_step(&b, "mystery", "CONTINUE", "\"spark-submit\", \"mystery.py\"");
    add_step(&b, "hive", "CONTINUE", "\"hive-script\", \"--run-hive-script\"");
    add_step(&b, "bad flag", "CONTINUE", "\"s3-dist-cp\", \"--src=/m/\", \"--dest=/p/\", \"--srcPattern=.*\"");
    add_step(&b, "bad path", "CONTINUE", "\"s3-dist-cp\", \"--src=m/\", \"--dest=/p/\"");
    add_step(&b, "escape", "CONTINUE", "\"s3-dist-cp\", \"--src=/m/../../x\", \"--dest=/p/\"");
    add_step(&b, "nothing there", "CONTINUE", "\"s3-dist-cp\", \"--src=/nothing/\", \"--dest=/p/\"");
    add_step(&b, "unsupported option", "CONTINUE", "\"spark-submit\", \"--queue\", \"q\", \"x.py\"");
    add_step(&b, "still runs", "CONTINUE", "\"s3-dist-cp\", \"--src=/m/\", \"--dest=/q/\"");
    ub_buf_adds(&b, "]");
    r = submit(&v, ub_buf_str(&b), 8);
    T_INTEQ(run_runner(v.dir), 0);
    static const char *reasons[] = {
        "spark-submit: script 'mystery.py' has no local built-in (the emr connection's scripts map "
        "random_text_classification.py -> classify)",
        "command 'hive-script' is not supported by the local step runner",
        "s3-dist-cp: option '--srcPattern=.*' is not supported by the local step runner",
        "s3-dist-cp: --src 'm/' must be an s3://BUCKET/KEY URL or an absolute HDFS path",
        "s3-dist-cp: --src '/m/../../x': invalid lake key 'm/../../x': '..' segment not allowed",
        "s3-dist-cp: no objects under --src '/nothing/'",
        "spark-submit: option '--queue' is not supported by the local step runner",
    };
    for (size_t i = 0; i < 7 && i < r.n; i++) {
        ub_emr_step_status st = describe(&v, r.v[i]);
        T_STREQ(ub_step_state_name(st.state), "FAILED");
        snprintf(want, sizeof want, "%s (log file: %s/logs/%s.log)", reasons[i], v.dir, r.v[i]);
        T_STREQ(st.reason, want);
    }
    T_STREQ(state_of(&v, &r, 7), "COMPLETED");
    snprintf(path, sizeof path, "%s/q/movie.csv", v.hdfs);
    check_file(path, movie_csv);
    ids_free(&r);
    ub_buf_free(&b);
    env_close(&v);
}

/* ---- a data error fails the step and keeps the previous output -------------------- */

static void test_ragged(void)
{
    env v;
    char path[600], want[1600];
    if (env_open(&v, "state4", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    char cmd[1400];
    T_INTEQ(put(v.lk, "raw/movie_review/2021-05-02/movie.csv", "cid,review_str\n201,good\n202,too,many\n", 0), 0);
    /* the previous run's output */
    snprintf(path, sizeof path, "%s/output/2021-05-02", v.hdfs);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf old > '%s/part-00000.csv'", path, path);
    T_INTEQ(system(cmd), 0);
    char *json = pipeline_steps("2021-05-02", "CANCEL_AND_WAIT");
    idset r = submit(&v, json, 3);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "COMPLETED");
    T_STREQ(state_of(&v, &r, 1), "FAILED");
    T_STREQ(state_of(&v, &r, 2), "CANCELLED");
    if (r.n == 3) {
        ub_emr_step_status st = describe(&v, r.v[1]);
        snprintf(want, sizeof want,
                 "%s/movie/2021-05-02/movie.csv:3: record has 3 fields, expected 2 (header) (log file: %s/logs/%s.log)",
                 v.hdfs, v.dir, r.v[1]);
        T_STREQ(st.reason, want);
    }
    snprintf(path, sizeof path, "%s/output/2021-05-02/part-00000.csv", v.hdfs);
    check_file(path, "old");
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/output')\" = 2021-05-02", v.hdfs);
    T_INTEQ(system(cmd), 0);          /* no temporary directory left */
    ub_lake_info info;
    ub_err err;
    T_INTEQ(ub_lake_stat(v.lk, "stage/movie_review/2021-05-02/part-00000.csv", &info, &err), 0);
    ub_free(json);
    ids_free(&r);
    env_close(&v);
}

/* ---- cancel, a dead runner, a terminated cluster ------------------------------------- */

/* rewrites a step record as a runner killed mid-step would have left it */
static void fake_running(env *v, const char *id, long long pid)
{
    char path[600];
    json_error_t je;
    snprintf(path, sizeof path, "%s/steps/%s.json", v->dir, id);
    json_t *rec = json_load_file(path, 0, &je);
    T_CHECK(rec != NULL);
    if (!rec)
        return;
    json_object_set_new(rec, "State", json_string("RUNNING"));
    json_object_set_new(rec, "RunnerPid", json_integer(pid));
    T_INTEQ(json_dump_file(rec, path, JSON_INDENT(2)), 0);
    json_decref(rec);
}

static long long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (long long)p;
}

static void test_cancel_and_death(void)
{
    env v;
    char want[1200], path[600];
    ub_err err;
    if (env_open(&v, "state5", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    ub_buf b = UB_BUF_INIT;
    add_step(&b, "first", "CONTINUE", "\"s3-dist-cp\", \"--src=s3://b/raw/movie_review/\", \"--dest=/c1/\"");
    add_step(&b, "second", "CONTINUE", "\"s3-dist-cp\", \"--src=s3://b/raw/movie_review/\", \"--dest=/c2/\"");
    ub_buf_adds(&b, "]");
    idset r = submit(&v, ub_buf_str(&b), 2);
    if (r.n == 2) {
        /* cancel of a PENDING step: at once */
        T_INTEQ(ub_emr_cancel_steps(v.emr, r.v, 1, &err), 0);
        ub_emr_step_status st = describe(&v, r.v[0]);
        T_STREQ(ub_step_state_name(st.state), "CANCELLED");
        T_STREQ(st.reason, "cancelled on request");
        T_STREQ(state_of(&v, &r, 1), "PENDING");
    }
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "CANCELLED");
    T_STREQ(state_of(&v, &r, 1), "COMPLETED");
    snprintf(path, sizeof path, "%s/c1", v.hdfs);
    struct stat sb;
    T_CHECK(stat(path, &sb) < 0);
    /* cancelling final steps changes nothing; an unknown id is an error */
    T_INTEQ(ub_emr_cancel_steps(v.emr, r.v, r.n, &err), 0);
    T_STREQ(state_of(&v, &r, 1), "COMPLETED");
    char *bogus[] = { "s-AAAAAAAAAAAAA" };
    T_INTEQ(ub_emr_cancel_steps(v.emr, bogus, 1, &err), -1);
    T_STREQ(err.msg, "step 's-AAAAAAAAAAAAA' does not exist in cluster 'local'");
    T_INTEQ(ub_emr_describe_step(v.emr, "s-bad", &(ub_emr_step_status){ 0 }, &err), -1);
    T_STREQ(err.msg, "'s-bad' is not a step id (s- and 13 letters or digits)");
    ids_free(&r);

    /* a runner killed mid-step: the step was interrupted, not failed.  The
     * next runner ends it CANCELLED (so a sensor with resubmit submits it
     * again), whatever its ActionOnFailure, and cancels the steps behind it;
     * a RUNNING step asked to cancel ends CANCELLED */
    ub_buf_reset(&b);
    add_step(&b, "killed", "CONTINUE", "\"s3-dist-cp\", \"--src=/c2/\", \"--dest=/d1/\"");
    add_step(&b, "behind it", "CONTINUE", "\"s3-dist-cp\", \"--src=/c2/\", \"--dest=/d2/\"");
    add_step(&b, "cancel me", "CONTINUE", "\"s3-dist-cp\", \"--src=/c2/\", \"--dest=/d3/\"");
    ub_buf_adds(&b, "]");
    r = submit(&v, ub_buf_str(&b), 3);
    long long dead = dead_pid();
    if (r.n == 3) {
        fake_running(&v, r.v[0], dead);
        fake_running(&v, r.v[2], dead);
        T_STREQ(state_of(&v, &r, 2), "RUNNING");
        T_INTEQ(ub_emr_cancel_steps(v.emr, r.v + 2, 1, &err), 0);
        T_STREQ(state_of(&v, &r, 2), "CANCEL_PENDING");
    }
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "CANCELLED");
    T_STREQ(state_of(&v, &r, 1), "CANCELLED");
    T_STREQ(state_of(&v, &r, 2), "CANCELLED");
    snprintf(path, sizeof path, "%s/d2", v.hdfs);
    T_CHECK(stat(path, &sb) < 0);                 /* the step behind it never ran */
    if (r.n == 3) {
        ub_emr_step_status st = describe(&v, r.v[0]);
        snprintf(want, sizeof want, "interrupted: runner died (pid %lld) while the step was running", dead);
        T_CHECK(strncmp(st.reason, want, strlen(want)) == 0);
        st = describe(&v, r.v[1]);
        snprintf(want, sizeof want, "cancelled because step %s before it was interrupted (runner died)", r.v[0]);
        T_CHECK(strncmp(st.reason, want, strlen(want)) == 0);
        st = describe(&v, r.v[2]);
        snprintf(want, sizeof want, "cancelled on request (runner pid %lld died)", dead);
        T_STREQ(st.reason, want);
    }
    ids_free(&r);
    /* submitted again (what the sensor's resubmit does), the steps run */
    ub_buf_reset(&b);
    add_step(&b, "killed", "CONTINUE", "\"s3-dist-cp\", \"--src=/c2/\", \"--dest=/d1/\"");
    ub_buf_adds(&b, "]");
    r = submit(&v, ub_buf_str(&b), 1);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "COMPLETED");
    ids_free(&r);

    /* TERMINATE_CLUSTER: the rest is cancelled and the cluster refuses steps
     * until DIR/terminated is removed */
    ub_buf_reset(&b);
    add_step(&b, "fatal", "TERMINATE_CLUSTER", "\"spark-submit\", \"mystery.py\"");
    add_step(&b, "never", "CONTINUE", "\"s3-dist-cp\", \"--src=/c2/\", \"--dest=/e/\"");
    ub_buf_adds(&b, "]");
    r = submit(&v, ub_buf_str(&b), 2);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "FAILED");
    T_STREQ(state_of(&v, &r, 1), "CANCELLED");
    char **more = NULL;
    size_t nmore = 99;
    T_INTEQ(ub_emr_add_steps(v.emr, ub_buf_str(&b), &more, &nmore, &err), -1);
    T_INTEQ(nmore, 0);
    if (r.n)
        snprintf(want, sizeof want,
                 "cluster 'local' is terminated (step %s ('fatal') failed with ActionOnFailure TERMINATE_CLUSTER); "
                 "remove '%s/terminated' to use it again", r.v[0], v.dir);
    T_STREQ(err.msg, want);
    snprintf(path, sizeof path, "%s/terminated", v.dir);
    T_INTEQ(unlink(path), 0);
    idset r2 = submit(&v, ub_buf_str(&b), 2);
    ids_free(&r2);
    ids_free(&r);
    ub_buf_free(&b);
    env_close(&v);
}

/* ---- errors before anything runs ----------------------------------------------------- */

static void test_errors(void)
{
    ub_err err;
    ub_emr_opts o = { 0 };
    o.state_dir = tmpdir;
    o.cluster = "";
    T_CHECK(ub_emr_open(&o, &err) == NULL);
    T_STREQ(ub_step_state_name(UB_STEP_CANCEL_PENDING), "CANCEL_PENDING");
    T_INTEQ(ub_step_state_final(UB_STEP_INTERRUPTED), 1);
    T_INTEQ(ub_step_state_final(UB_STEP_CANCEL_PENDING), 0);
    T_INTEQ(ub_step_state_final(UB_STEP_RUNNING), 0);

    env v;
    if (env_open(&v, "state6", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    static const struct { const char *json, *msg; } bad[] = {
        { "[", "steps JSON:1:1: ']' expected near end of file" },
        { "{}", "steps JSON: must be a non-empty array of steps" },
        { "[]", "steps JSON: must be a non-empty array of steps" },
        { "[{\"HadoopJarStep\": {}}]", "steps JSON: step 1 needs a string Name" },
        { "[{\"Name\": \"x\", \"ActionOnFailure\": \"RETRY\", \"HadoopJarStep\": {\"Jar\": \"j\", \"Args\": [\"a\"]}}]",
          "steps JSON: step 1 ('x'): ActionOnFailure must be CONTINUE, CANCEL_AND_WAIT, TERMINATE_CLUSTER or "
          "TERMINATE_JOB_FLOW" },
        { "[{\"Name\": \"x\", \"HadoopJarStep\": {\"Args\": [\"a\"]}}]",
          "steps JSON: step 1 ('x'): needs HadoopJarStep.Jar (a string)" },
        { "[{\"Name\": \"x\", \"HadoopJarStep\": {\"Jar\": \"j\", \"Args\": [1]}}]",
          "steps JSON: step 1 ('x'): HadoopJarStep.Args must be a non-empty list of strings" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **ids = NULL;
        size_t n = 0;
        T_INTEQ(ub_emr_add_steps(v.emr, bad[i].json, &ids, &n, &err), -1);
        T_STREQ(err.msg, bad[i].msg);
    }
    /* nothing was queued */
    char path[600];
    snprintf(path, sizeof path, "%s/queue", v.dir);
    struct stat sb;
    T_CHECK(stat(path, &sb) < 0);
    /* an unknown jar fails at run time, as on EMR */
    idset r = submit(&v, "[{\"Name\": \"j\", \"HadoopJarStep\": {\"Jar\": \"s3://b/my.jar\", \"Args\": [\"x\"]}}]", 1);
    T_INTEQ(run_runner(v.dir), 0);
    if (r.n) {
        ub_emr_step_status st = describe(&v, r.v[0]);
        T_STREQ(ub_step_state_name(st.state), "FAILED");
        const char *want = "jar 's3://b/my.jar' is not supported by the local step runner (only command-runner.jar)";
        T_CHECK(strncmp(st.reason, want, strlen(want)) == 0);
    }
    ids_free(&r);
    env_close(&v);
}

/* ---- the background runner: started by add_steps as `self_exe __emr-local-runner DIR` -- */

static int runner_busy(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/runner.lock", dir);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return 0;
    int busy = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd);
    return busy;
}

static void test_background(void)
{
    env v;
    char path[600];
    if (getenv("UBPIPE_FAIL_ALLOC"))
        return;      /* the runner would inherit the fault and fail at every start */
    if (env_open(&v, "state7", 1)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    T_INTEQ(put(v.lk, "raw/movie_review/2021-05-09/movie.csv", movie_csv, 0), 0);
    char *json = pipeline_steps("2021-05-09", "CANCEL_AND_WAIT");
    idset r = submit(&v, json, 3);
    /* wait for the last step to end: a bound on the wait, not a timing check */
    int final = 0;
    for (int i = 0; i < 1200 && !final; i++) {
        ub_emr_step_status st = describe(&v, r.n == 3 ? r.v[2] : NULL);
        final = (int)st.state < 0 || ub_step_state_final(st.state);
        if (!final) {
            struct timespec ts = { 0, 50 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    T_CHECK(final);
    for (size_t i = 0; i < 3; i++)
        T_STREQ(state_of(&v, &r, i), "COMPLETED");
    snprintf(path, sizeof path, "%s/stage/movie_review/2021-05-09/part-00000.csv", v.lake);
    char *got = slurp_file(path);
    T_CHECK(got && strstr(got, "101,true,2021-05-09\n102,false,2021-05-09\n") != NULL);
    ub_free(got);
    /* the runner was another process, and it goes away when the queue is empty */
    snprintf(path, sizeof path, "%s/steps/%s.json", v.dir, r.n ? r.v[0] : "x");
    json_error_t je;
    json_t *rec = json_load_file(path, 0, &je);
    long long pid = rec ? (long long)json_integer_value(json_object_get(rec, "RunnerPid")) : 0;
    json_decref(rec);
    T_CHECK(pid > 0 && pid != (long long)getpid());
    for (int i = 0; i < 1200 && runner_busy(v.dir); i++) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    T_CHECK(!runner_busy(v.dir));
    snprintf(path, sizeof path, "%s/runner.log", v.dir);
    got = slurp_file(path);
    T_CHECK(got && strstr(got, "exiting") != NULL);
    ub_free(got);
    ub_free(json);
    ids_free(&r);
    env_close(&v);
}

/* ---- a secret in a step's arguments ------------------------------------------------ */

/* 1 when the file at path holds needle */
static int file_has(const char *path, const char *needle)
{
    char *t = slurp_file(path);
    int yes = t && strstr(t, needle) != NULL;
    free(t);
    return yes;
}

static int put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) || bad ? -1 : 0;
}

static void test_secret_args(void)
{
    env v;
    char path[700], cmd[900];
    if (env_open(&v, "state_secret", 0)) {
        T_CHECK(!"env_open");
        env_close(&v);
        return;
    }
    /* a key-safe secret, so that the step can only succeed with the clear value: the
     * object's key holds it, and "****" names no object */
    ub_secret_add("Sekr1tKey9");
    T_INTEQ(put(v.lk, "raw/Sekr1tKey9/f.csv", movie_csv, 0), 0);
    ub_buf b = UB_BUF_INIT;
    add_step(&b, "copy", "CONTINUE", "\"s3-dist-cp\", \"--src=s3://b/raw/Sekr1tKey9/f.csv\", \"--dest=/sec/\"");
    ub_buf_adds(&b, "]");
    idset r = submit(&v, ub_buf_str(&b), 1);
    const char *id = r.n ? r.v[0] : "s-NONE";
    /* the record holds the argument masked; the clear one waits in a private 0600 file */
    snprintf(path, sizeof path, "%s/steps/%s.json", v.dir, id);
    T_INTEQ(file_has(path, "Sekr1tKey9"), 0);
    T_INTEQ(file_has(path, "--src=s3://b/raw/****/f.csv"), 1);
    T_INTEQ(file_has(path, "\"PrivateArgs\": true"), 1);
    snprintf(path, sizeof path, "%s/private/%s.json", v.dir, id);
    struct stat st;
    T_INTEQ(stat(path, &st), 0);
    T_INTEQ(st.st_mode & 0777, 0600);
    T_INTEQ(file_has(path, "Sekr1tKey9"), 1);
    snprintf(path, sizeof path, "%s/private", v.dir);
    T_INTEQ(stat(path, &st), 0);
    T_INTEQ(st.st_mode & 0777, 0700);

    /* the runner runs it with the clear value (else the copy finds nothing) and the file goes */
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "COMPLETED");
    snprintf(path, sizeof path, "%s/sec/f.csv", v.hdfs);
    check_file(path, movie_csv);
    snprintf(path, sizeof path, "%s/private/%s.json", v.dir, id);
    T_CHECK(access(path, F_OK) != 0);
    /* nothing under the cluster's directory holds it: records, step log, runner.log */
    snprintf(cmd, sizeof cmd, "! grep -r -q Sekr1tKey9 '%s'", v.dir);
    T_INTEQ(system(cmd), 0);
    snprintf(path, sizeof path, "%s/logs/%s.log", v.dir, id);
    T_INTEQ(file_has(path, "raw/****/f.csv"), 1);
    ids_free(&r);

    /* a step whose private file is gone fails and says so, rather than run with "****" */
    r = submit(&v, ub_buf_str(&b), 1);
    id = r.n ? r.v[0] : "s-NONE";
    snprintf(path, sizeof path, "%s/private/%s.json", v.dir, id);
    T_INTEQ(unlink(path), 0);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "FAILED");
    ub_emr_step_status sst = describe(&v, id);
    char want[1200];
    snprintf(want, sizeof want, "not run: its private arguments '%s' are gone (log file: %s/logs/%s.log)", path,
             v.dir, id);
    T_STREQ(sst.reason, want);
    ids_free(&r);

    /* a cancelled PENDING step leaves no private file behind */
    r = submit(&v, ub_buf_str(&b), 1);
    id = r.n ? r.v[0] : "s-NONE";
    ub_err err;
    T_INTEQ(ub_emr_cancel_steps(v.emr, r.v, r.n, &err), 0);
    snprintf(path, sizeof path, "%s/private/%s.json", v.dir, id);
    T_CHECK(access(path, F_OK) != 0);
    ids_free(&r);

    /* the runner removes private files no queued step owns (a submitter that died between
     * its writes) and the temporaries of dead writers */
    snprintf(path, sizeof path, "%s/private/s-ORPHAN0000000.json", v.dir);
    T_INTEQ(put_file(path, "{\"Args\": [\"x\"]}"), 0);
    snprintf(cmd, sizeof cmd, "%s/private/s-ORPHAN0000001.json.ubtmp.999999999.1", v.dir);
    T_INTEQ(put_file(cmd, "{}"), 0);
    T_INTEQ(run_runner(v.dir), 0);
    T_CHECK(access(path, F_OK) != 0);
    T_CHECK(access(cmd, F_OK) != 0);

    /* without a secret: no private file, the arguments as given */
    ub_buf_reset(&b);
    add_step(&b, "plain", "CONTINUE", "\"s3-dist-cp\", \"--src=/sec/\", \"--dest=/sec2/\"");
    ub_buf_adds(&b, "]");
    r = submit(&v, ub_buf_str(&b), 1);
    id = r.n ? r.v[0] : "s-NONE";
    snprintf(path, sizeof path, "%s/steps/%s.json", v.dir, id);
    T_INTEQ(file_has(path, "PrivateArgs"), 0);
    T_INTEQ(file_has(path, "--src=/sec/"), 1);
    snprintf(path, sizeof path, "%s/private/%s.json", v.dir, id);
    T_CHECK(access(path, F_OK) != 0);
    T_INTEQ(run_runner(v.dir), 0);
    T_STREQ(state_of(&v, &r, 0), "COMPLETED");
    ids_free(&r);
    ub_buf_free(&b);
    ub_secret_reset();
    env_close(&v);
}

int main(int argc, char **argv)
{
    /* the background runner of test_background is this very program */
    if (argc >= 3 && strcmp(argv[1], "__emr-local-runner") == 0)
        return ub_emr_local_runner_main(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) {
        fprintf(stderr, "cannot find this program (/proc/self/exe)\n");
        return 1;
    }
    self_exe[n] = '\0';
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ub_test_emr_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_pipeline();
    test_inputs();
    test_failures();
    test_ragged();
    test_cancel_and_death();
    test_errors();
    test_background();
    test_secret_args();
    if (!getenv("UB_KEEP_TMP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "kept %s\n", tmpdir);
    }
    return t_done("test_emr_local");
}
