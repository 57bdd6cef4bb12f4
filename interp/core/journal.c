/* journal.c — append-only, fsync'd run journal (JSON lines). */
#include "core/journal.h"
#include "base/date.h"
#include "base/jtext.h"
#include "io/stream.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>


static ub_jtask *slot(ub_journal *j, const char *task)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->tasks[i].task, task) == 0)
            return &j->tasks[i];
    ub_jtask *p = ub_realloc(j->tasks, (j->n + 1) * sizeof *p);
    if (!p)
        return NULL;
    j->tasks = p;
    ub_jtask *t = &j->tasks[j->n];
    memset(t, 0, sizeof *t);
    if (!(t->task = ub_strdup(task)))
        return NULL;
    j->n++;
    return t;
}

static void set_str(char **dst, const char *s)
{
    ub_free(*dst);
    *dst = s ? ub_strdup(s) : NULL;
}

static void free_outputs(ub_jtask *t)
{
    for (size_t i = 0; i < t->nout; i++) {
        ub_free((char *)t->outputs[i].key);
        ub_free((char *)t->outputs[i].val);
    }
    ub_free(t->outputs);
    ub_free(t->out_masked);
    t->outputs = NULL;
    t->out_masked = NULL;
    t->nout = 0;
}

static int listed(const json_t *list, const char *k)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), k) == 0)
            return 1;
    return 0;
}

/* Folds one record into the in-memory view; masked: the names of the outputs whose
 * recorded values had a secret masked (an array, or NULL). */
static void apply(ub_journal *j, const char *task, const char *state, int try_no, double ts, const char *error,
                  json_t *outputs, const json_t *masked, json_t *fp, int fresh)
{
    ub_jtask *t = slot(j, task);
    if (!t)
        return;
    if (fresh)
        free_outputs(t);                        /* a try that starts over: earlier outputs are void */
    set_str(&t->state, state);
    if (strcmp(state, "success") == 0) {
        char *txt = json_is_object(fp) ? json_dumps(fp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ub_free(t->fp);
        t->fp = txt;                            /* NULL: a success of an older ubpipe */
    }
    if (try_no > t->tries)
        t->tries = try_no;
    if (strcmp(state, "running") == 0) {
        t->started = ts;
        t->ended = 0;
    } else if (strcmp(state, "queued") != 0) {
        t->ended = ts;
    }
    set_str(&t->error, error);
    if (outputs && json_object_size(outputs)) {
        const char *k;
        json_t *v;
        json_object_foreach(outputs, k, v) {
            if (!json_is_string(v))
                continue;
            size_t i;
            for (i = 0; i < t->nout; i++)
                if (strcmp(t->outputs[i].key, k) == 0)
                    break;
            if (i == t->nout) {
                ub_kv *p = ub_realloc(t->outputs, (t->nout + 1) * sizeof *p);
                if (!p)
                    return;
                t->outputs = p;
                unsigned char *m = ub_realloc(t->out_masked, t->nout + 1);
                if (!m)
                    return;
                t->out_masked = m;
                t->outputs[i].key = ub_strdup(k);
                t->outputs[i].val = NULL;
                t->nout++;
            }
            ub_free((char *)t->outputs[i].val);
            t->outputs[i].val = ub_strdup(json_string_value(v));
            t->out_masked[i] = (unsigned char)listed(masked, k);
        }
    }
}

static void free_params(ub_journal *j)
{
    for (size_t i = 0; i < j->nparams; i++) {
        ub_free((char *)j->params[i].key);
        ub_free((char *)j->params[i].val);
    }
    ub_free(j->params);
    j->params = NULL;
    j->nparams = 0;
}

static void apply_run(ub_journal *j, json_t *params)
{
    const char *k;
    json_t *v;
    free_params(j);
    size_t n = json_object_size(params);
    if (!n || !(j->params = ub_calloc(n, sizeof *j->params)))
        return;
    json_object_foreach(params, k, v) {
        if (!json_is_string(v))
            continue;
        j->params[j->nparams].key = ub_strdup(k);
        j->params[j->nparams].val = ub_strdup(json_string_value(v));
        if (j->params[j->nparams].key && j->params[j->nparams].val)
            j->nparams++;
    }
}

static void apply_decision(ub_journal *j, const char *task, const char *decision, const char *reason)
{
    ub_jtask *t = slot(j, task);
    if (!t)
        return;
    set_str(&t->decision, decision);
    set_str(&t->reason, reason);
}

/* The folded view emptied (the path and fd stay). */
static void reset_view(ub_journal *j)
{
    for (size_t i = 0; i < j->n; i++) {
        ub_free(j->tasks[i].task);
        ub_free(j->tasks[i].state);
        ub_free(j->tasks[i].error);
        ub_free(j->tasks[i].fp);
        ub_free(j->tasks[i].decision);
        ub_free(j->tasks[i].reason);
        free_outputs(&j->tasks[i]);
    }
    ub_free(j->tasks);
    j->tasks = NULL;
    j->n = 0;
    free_params(j);
    j->since_checkpoint = 0;
}

/* ---- checkpoints ----------------------------------------------------------
 * A line {"checkpoint":{"tasks":[...],"params":{...}},"ts":...} holds the
 * whole folded view of the lines before it, so a reader folds from the last
 * one on instead of from the first line: a ds rerun a thousand times reads
 * as fast as one run once.  Written before the first record a process
 * appends once more than UB_JOURNAL_CHECKPOINT bytes were folded or
 * appended since the last one (an up-to-date ds still writes nothing).  Readers that do not
 * know the line skip it (it has no "task" and no "run"). */
#define CHECKPOINT_KEY "{\"checkpoint\":"

/* Offset of the last line that starts with CHECKPOINT_KEY, read backwards
 * in blocks; -1 when there is none (or on an error: then every line is read). */
static off_t last_checkpoint(int fd)
{
    enum { BLOCK = 64 * 1024, KEY = sizeof CHECKPOINT_KEY - 1 };
    struct stat st;
    char *buf = NULL;
    off_t found = -1;
    if (fstat(fd, &st) || st.st_size == 0 || !(buf = ub_malloc(BLOCK + KEY)))
        goto out;
    off_t end = st.st_size;
    size_t carry = 0;                   /* the first bytes of the block after this one, kept after it */
    while (end > 0 && found < 0) {
        off_t start = end > BLOCK ? end - BLOCK : 0;
        size_t len = (size_t)(end - start);
        memmove(buf + len, buf, carry);
        if (pread(fd, buf, len, start) != (ssize_t)len)
            goto out;
        for (size_t i = len; i-- > 0;) {
            if (buf[i] != '{' || len + carry - i < KEY || memcmp(buf + i, CHECKPOINT_KEY, KEY) != 0)
                continue;
            char before = '\n';              /* the file's first byte starts a line */
            if (i > 0)
                before = buf[i - 1];
            else if (start > 0 && pread(fd, &before, 1, start - 1) != 1)
                before = 0;
            if (before == '\n') {
                found = start + (off_t)i;
                break;
            }
        }
        carry = len + carry < KEY ? len + carry : KEY;
        end = start;
    }
out:
    ub_free(buf);
    return found;
}

/* Loads the view of a checkpoint line: 0, or -1 (the view is then partial;
 * the caller resets it). */
static int load_checkpoint(ub_journal *j, const char *line)
{
    json_t *r = json_loads(line, 0, NULL), *cp = json_object_get(r, "checkpoint");
    json_t *tasks = json_object_get(cp, "tasks"), *t;
    size_t i;
    int rc = -1;
    if (!json_is_array(tasks))
        goto out;
    json_array_foreach(tasks, i, t) {
        const char *id = json_string_value(json_object_get(t, "task"));
        ub_jtask *jt = id ? slot(j, id) : NULL;
        if (!jt)
            goto out;
        set_str(&jt->state, json_string_value(json_object_get(t, "state")));
        jt->tries = (int)json_integer_value(json_object_get(t, "tries"));
        jt->started = json_number_value(json_object_get(t, "started"));
        jt->ended = json_number_value(json_object_get(t, "ended"));
        set_str(&jt->error, json_string_value(json_object_get(t, "error")));
        set_str(&jt->decision, json_string_value(json_object_get(t, "decision")));
        set_str(&jt->reason, json_string_value(json_object_get(t, "reason")));
        json_t *fp = json_object_get(t, "fp");
        ub_free(jt->fp);
        jt->fp = json_is_object(fp) ? json_dumps(fp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        const char *k;
        json_t *v;
        free_outputs(jt);
        size_t no = json_object_size(json_object_get(t, "outputs"));
        if (no && (!(jt->outputs = ub_calloc(no, sizeof *jt->outputs)) || !(jt->out_masked = ub_calloc(no, 1))))
            goto out;
        const json_t *masked = json_object_get(t, "masked");
        json_object_foreach(json_object_get(t, "outputs"), k, v) {
            if (!json_is_string(v) || jt->nout == no)
                continue;
            jt->out_masked[jt->nout] = (unsigned char)listed(masked, k);
            jt->outputs[jt->nout].key = ub_strdup(k);
            jt->outputs[jt->nout].val = ub_strdup(json_string_value(v));
            if (!jt->outputs[jt->nout].key || !jt->outputs[jt->nout].val) {
                jt->nout++;                          /* freed with the rest */
                goto out;
            }
            jt->nout++;
        }
    }
    apply_run(j, json_object_get(cp, "params"));
    rc = 0;
out:
    json_decref(r);
    return rc;
}

/* The checkpoint line of the view (a new reference, or NULL). */
static json_t *checkpoint_record(const ub_journal *j)
{
    json_t *tasks = json_array(), *params = json_object();
    for (size_t i = 0; tasks && params && i < j->n; i++) {
        const ub_jtask *t = &j->tasks[i];
        json_t *o = json_object(), *fp = t->fp ? json_loads(t->fp, 0, NULL) : NULL, *masked = json_array();
        for (size_t k = 0; o && k < t->nout; k++) {
            json_object_set_new(o, t->outputs[k].key, ub_jtext(t->outputs[k].val));
            if ((t->out_masked && t->out_masked[k]) || ub_secret_found(t->outputs[k].val))
                json_array_append_new(masked, ub_jtext(t->outputs[k].key));   /* as record() lists them */
        }
        if (masked && !json_array_size(masked)) {
            json_decref(masked);
            masked = NULL;
        }
        json_t *x = json_pack("{s:s, s:s?, s:i, s:f, s:f, s:s?, s:o, s:o?, s:o?, s:s?, s:s?}", "task", t->task,
                              "state", t->state, "tries", t->tries, "started", t->started, "ended", t->ended,
                              "error", t->error, "outputs", o, "masked", masked, "fp", fp, "decision", t->decision,
                              "reason", t->reason);
        if (!x || json_array_append_new(tasks, x)) {
            json_decref(tasks);
            json_decref(params);
            return NULL;
        }
    }
    for (size_t i = 0; params && i < j->nparams; i++)
        json_object_set_new(params, j->params[i].key, json_string(j->params[i].val));
    return json_pack("{s:{s:o, s:o}, s:f}", "checkpoint", "tasks", tasks, "params", params, "ts", ub_now());
}

int ub_journal_open(ub_journal *j, const char *state_dir, const char *pipeline, const char *ds, int for_append,
                    ub_err *err)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "%s/runs/%s/%s", state_dir, pipeline, ds);
    if (b.err)
        return ub_err_oom(err);
    if (for_append && ub_mkdirs(b.p)) {
        ub_err_set(err, "cannot create '%s': %s", b.p, strerror(errno));
        ub_buf_free(&b);
        return -1;
    }
    ub_buf_adds(&b, "/journal.jsonl");
    j->path = ub_buf_detach(&b, NULL);
    if (!j->path)
        return ub_err_oom(err);
    off_t good = 0;                                  /* bytes of complete lines */
    int torn = 0;
    FILE *f = fopen(j->path, "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        off_t cp = last_checkpoint(fileno(f));
        if (cp >= 0 && fseeko(f, cp, SEEK_SET) == 0 && (n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n' &&
            load_checkpoint(j, line) == 0) {
            good = cp + (off_t)n;                    /* fold on from the view it holds */
        } else {
            reset_view(j);                           /* none, or unreadable: every line, from the start */
            rewind(f);
        }
        while ((n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] != '\n') {
                torn = 1;                            /* torn last line: ignore */
                break;
            }
            good += (off_t)n;
            j->since_checkpoint += (size_t)n;
            json_t *r = json_loads(line, 0, NULL);
            if (!r)
                continue;
            const char *task = json_string_value(json_object_get(r, "task"));
            const char *state = json_string_value(json_object_get(r, "state"));
            const char *dec = json_string_value(json_object_get(r, "decision"));
            if (task && state)
                apply(j, task, state, (int)json_integer_value(json_object_get(r, "try")),
                      json_number_value(json_object_get(r, "ts")),
                      json_string_value(json_object_get(r, "error")), json_object_get(r, "outputs"),
                      json_object_get(r, "masked"), json_object_get(r, "fp"),
                      json_is_true(json_object_get(r, "fresh")));
            else if (task && dec)
                apply_decision(j, task, dec, json_string_value(json_object_get(r, "reason")));
            else if (json_is_string(json_object_get(r, "run")))
                apply_run(j, json_object_get(r, "params"));
            json_decref(r);
        }
        free(line);
        fclose(f);
    } else if (errno != ENOENT) {
        return ub_err_set(err, "cannot read '%s': %s", j->path, strerror(errno));
    }
    if (for_append) {
        j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (j->fd < 0)
            return ub_err_set(err, "cannot open '%s': %s", j->path, strerror(errno));
        /* a torn tail (a crash or a full disk mid-write, before this code
         * truncated its own failures) is cut off, so the next record starts
         * on a line of its own instead of being glued to the fragment */
        struct stat st;
        if (torn && fstat(j->fd, &st) == 0 && st.st_size > good) {
            if (ftruncate(j->fd, good) || fsync(j->fd))
                return ub_err_set(err, "cannot repair the torn last line of '%s': %s", j->path, strerror(errno));
            j->repaired = (size_t)(st.st_size - good);
        }
    }
    return 0;
}

void ub_journal_close(ub_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    reset_view(j);
    ub_free(j->path);
    memset(j, 0, sizeof *j);
    j->fd = -1;
}

const ub_jtask *ub_journal_task(const ub_journal *j, const char *task)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->tasks[i].task, task) == 0)
            return &j->tasks[i];
    return NULL;
}

/* One line: write(2) with O_APPEND (continued after a short write), then
 * fsync.  On failure the file is cut back to where the line began, so a
 * full disk leaves no torn line behind, and err has the errno's text. */
static int write_line(ub_journal *j, json_t *r, ub_err *err);

static int append_line(ub_journal *j, json_t *r, ub_err *err)
{
    if (j->since_checkpoint > UB_JOURNAL_CHECKPOINT) {
        /* the view so far, before this record; a failure to write it only
         * costs the next reader time, and this record's write says why */
        json_t *cp = checkpoint_record(j);
        ub_err ignored;
        if (cp && write_line(j, cp, &ignored) == 0)
            j->since_checkpoint = 0;          /* the record goes on counting from here */
        json_decref(cp);
    }
    return write_line(j, r, err);
}

static int write_line(ub_journal *j, json_t *r, ub_err *err)
{
    /* every string of the line masked (error texts, -p values, outputs, reasons, a
     * checkpoint's view): a copy, the caller's record keeps the clear values for this process */
    json_t *m = json_deep_copy(r);
    char *line = NULL;
    if (m) {
        ub_secret_mask_json(m);
        line = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(m);
    }
    if (!line)
        return ub_err_oom(err);
    size_t len = strlen(line);
    char *full = ub_malloc(len + 2);
    if (!full) {
        ub_free(line);
        return ub_err_oom(err);
    }
    memcpy(full, line, len);
    full[len] = '\n';
    ub_free(line);
    off_t before = lseek(j->fd, 0, SEEK_END);
    size_t done = 0;
    int e = 0;
    while (done < len + 1) {
        ssize_t w = write(j->fd, full + done, len + 1 - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)w;
    }
    ub_free(full);
    if (!e && fsync(j->fd))
        e = errno;
    if (!e)
        j->since_checkpoint += len + 1;
    if (e) {
        if (done && before >= 0 && ftruncate(j->fd, before) == 0)
            (void)fsync(j->fd);
        return ub_err_set(err, "cannot write journal '%s': %s", j->path, strerror(e));
    }
    return 0;
}


int ub_journal_decision(ub_journal *j, const char *task, const char *decision, const char *reason, ub_err *err)
{
    json_t *r = json_pack("{s:f, s:s, s:s, s:o}", "ts", ub_now(), "task", task, "decision", decision, "reason",
                          ub_jtext(reason));
    int rc = r ? append_line(j, r, err) : ub_err_oom(err);
    if (rc == 0)
        apply_decision(j, task, decision, reason);
    json_decref(r);
    return rc;
}

int ub_journal_run_start(ub_journal *j, const ub_kv *params, size_t n, ub_err *err)
{
    json_t *ps = json_object();
    for (size_t i = 0; i < n; i++) {
        ub_buf m = UB_BUF_INIT;
        ub_secret_mask(params[i].val, &m);
        json_object_set_new(ps, params[i].key, ub_jtext(ub_buf_str(&m)));   /* -p bytes as they came */
        ub_buf_free(&m);
    }
    json_t *r = json_pack("{s:f, s:s, s:O}", "ts", ub_now(), "run", "start", "params", ps);
    int rc = r ? append_line(j, r, err) : ub_err_oom(err);
    if (rc == 0)
        apply_run(j, ps);
    json_decref(r);
    json_decref(ps);
    return rc;
}

int ub_journal_record(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                      const ub_kv *outputs, size_t nout, ub_err *err)
{
    return ub_journal_record_fp(j, task, state, try_no, error, outputs, nout, NULL, err);
}

static int record(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                  const ub_kv *outputs, size_t nout, const char *fpt, int fresh, ub_err *err);

int ub_journal_record_fp(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                         const ub_kv *outputs, size_t nout, const char *fpt, ub_err *err)
{
    return record(j, task, state, try_no, error, outputs, nout, fpt, 0, err);
}

int ub_journal_record_fresh(ub_journal *j, const char *task, const char *state, int try_no, ub_err *err)
{
    return record(j, task, state, try_no, NULL, NULL, 0, NULL, 1, err);
}

static int record(ub_journal *j, const char *task, const char *state, int try_no, const char *error,
                  const ub_kv *outputs, size_t nout, const char *fpt, int fresh, ub_err *err)
{
    double ts = ub_now();
    json_t *r = json_object(), *o = json_object(), *fp = NULL;
    json_object_set_new(r, "ts", json_real(ts));
    json_object_set_new(r, "task", json_string(task));
    json_object_set_new(r, "state", json_string(state));
    json_object_set_new(r, "try", json_integer(try_no));
    if (error) {
        ub_buf m = UB_BUF_INIT;
        ub_secret_mask(error, &m);
        json_object_set_new(r, "error", ub_jtext(ub_buf_str(&m)));   /* never dropped (base/jtext.h) */
        ub_buf_free(&m);
    }
    json_t *masked = json_array();
    for (size_t i = 0; i < nout; i++) {
        json_object_set_new(o, outputs[i].key, ub_jtext(outputs[i].val));
        if (ub_secret_found(outputs[i].val))
            json_array_append_new(masked, ub_jtext(outputs[i].key));
    }
    json_object_set(r, "outputs", o);
    if (json_array_size(masked))
        json_object_set(r, "masked", masked);   /* a later run restores these (ub_engine_publish_journaled) */
    if (fpt && strcmp(state, "success") == 0 && (fp = json_loads(fpt, 0, NULL)) != NULL)
        json_object_set(r, "fp", fp);
    if (fresh)
        json_object_set_new(r, "fresh", json_true());
    int rc = -1;
    if (append_line(j, r, err))
        goto out;
    apply(j, task, state, try_no, ts, error, o, masked, fp, fresh);
    rc = 0;
out:
    json_decref(masked);
    json_decref(fp);
    json_decref(o);
    json_decref(r);
    return rc;
}

int ub_journal_log_path(const char *state_dir, const char *pipeline, const char *ds, const char *task, int try_no,
                        ub_buf *out)
{
    ub_buf_addf(out, "%s/runs/%s/%s/logs", state_dir, pipeline, ds);
    if (out->err || ub_mkdirs(out->p))
        return -1;
    ub_buf_addf(out, "/%s.%d.log", task, try_no);
    return out->err ? -1 : 0;
}
