/* local_records.c — the local EMR backend's state on disk: step records, the queue, locks. */
#include "emr/local.h"
#include "base/mem.h"
#include "base/secret.h"
#include "base/jtext.h"
#include "io/fsutil.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char el_id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* ---- small helpers ---------------------------------------------------------- */

const char *el_pathf(ub_buf *b, const char *fmt, ...)
{
    va_list ap;
    ub_buf_reset(b);
    va_start(ap, fmt);
    int rc = ub_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : b->p;
}


void el_iso_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Opens DIR/name and takes its flock: the descriptor (the lock lasts until it
 * is closed), -2 when nonblock and someone else holds it, -1 on error. */
int el_lock_take(const char *dir, const char *name, int nonblock, ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    int fd = el_pathf(&p, "%s/%s", dir, name) ? ub_lock_file(p.p, nonblock, err) : ub_err_oom(err);
    ub_buf_free(&p);
    return fd;
}

void el_lock_drop(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* 1 when a runner holds DIR/runner.lock, 0 when none, -1 on error */
int el_runner_active(const char *dir, ub_err *err)
{
    int fd = el_lock_take(dir, "runner.lock", 1, err);
    if (fd == -2)
        return 1;
    if (fd < 0)
        return -1;
    el_lock_drop(fd);
    return 0;
}

/* one line, valid UTF-8 (invalid bytes become '?'), for a record */
void el_one_line(const char *s, ub_buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    ub_buf_reset(out);
    while (*p) {
        unsigned char c = *p;
        if (c < 0x20 || c == 0x7f) {
            ub_buf_addc(out, ' ');
            p++;
            continue;
        }
        if (c < 0x80) {
            ub_buf_addc(out, (char)c);
            p++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        size_t i = 1;
        while (len && i < len && (p[i] & 0xc0) == 0x80)
            i++;
        if (len && i == len) {
            ub_buf_add(out, p, len);
            p += len;
        } else {
            ub_buf_addc(out, '?');
            p++;
        }
    }
    ub_buf_add(out, "", 0);
}

/* ---- string lists ------------------------------------------------------------- */

int el_strlist_push(strlist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = ub_realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = ub_strndup(s, n)))
        return -1;
    l->n++;
    return 0;
}

void el_strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        ub_free(l->v[i]);
    ub_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* ---- step records ------------------------------------------------------------- */

int el_valid_id(const char *id)
{
    if (!id || strlen(id) != ID_LEN || id[0] != 's' || id[1] != '-')
        return 0;
    for (size_t i = 2; i < ID_LEN; i++)
        if (!id[i] || !strchr(el_id_chars, id[i]))
            return 0;
    return 1;
}

const char *el_rec_str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

long long el_rec_int(const json_t *rec, const char *key)
{
    return (long long)json_integer_value(json_object_get(rec, key));
}

/* the record's state, or -1 when it has none we know */
int el_rec_state(const json_t *rec)
{
    const char *s = el_rec_str(rec, "State");
    for (int i = UB_STEP_PENDING; s && i <= UB_STEP_INTERRUPTED; i++)
        if (strcmp(s, ub_step_state_name((ub_step_state)i)) == 0)
            return i;
    return -1;
}

int el_rec_set_str(json_t *rec, const char *key, const char *val)
{
    ub_buf b = UB_BUF_INIT;
    el_one_line(val, &b);
    json_t *s = b.err ? NULL : ub_jtextn(ub_buf_str(&b), b.len);   /* invalid UTF-8 as \xNN (base/jtext.h) */
    ub_buf_free(&b);
    return json_object_set_new(rec, key, s);   /* takes s; fails when s is NULL */
}

int el_rec_set_int(json_t *rec, const char *key, long long v)
{
    return json_object_set_new(rec, key, json_integer((json_int_t)v));
}

int el_rec_set_now(json_t *rec, const char *key)
{
    char now[32];
    el_iso_now(now);
    return el_rec_set_str(rec, key, now);
}

int el_rec_set_state(json_t *rec, ub_step_state s)
{
    return el_rec_set_str(rec, "State", ub_step_state_name(s));
}

int el_rec_load(const char *dir, const char *id, json_t **out, ub_err *err)
{
    ub_buf p = UB_BUF_INIT;
    json_error_t je;
    int rc = -1;
    *out = NULL;
    if (!el_valid_id(id))
        return ub_err_set(err, "'%s' is not a step id (s- and 13 letters or digits)", id);
    if (!el_pathf(&p, "%s/steps/%s.json", dir, id)) {
        ub_err_oom(err);
        goto out;
    }
    struct stat st;
    if (stat(p.p, &st) < 0) {
        if (errno == ENOENT)
            ub_err_set(err, "step '%s' does not exist in cluster 'local'", id);
        else
            ub_err_set(err, "step record '%s': %s", p.p, strerror(errno));
        goto out;
    }
    json_t *rec = json_load_file(p.p, JSON_REJECT_DUPLICATES, &je);
    if (!rec) {
        ub_err_set(err, "step record '%s':%d: %s", p.p, je.line, je.text);
        goto out;
    }
    if (!json_is_object(rec) || el_rec_state(rec) < 0) {
        ub_err_set(err, "step record '%s': not a step record (no known State)", p.p);
        json_decref(rec);
        goto out;
    }
    *out = rec;                       /* the caller owns the record */
    rc = 0;
out:
    ub_buf_free(&p);
    return rc;
}

static int dump_cb(const char *buf, size_t n, void *ud)
{
    return ub_buf_add(ud, buf, n);
}

/* Records are read by people (and `cat`): every string in them is masked.  A step
 * whose arguments hold a secret keeps them clear only in its private file (below),
 * which goes once the step is final. */
int el_rec_save(const char *dir, json_t *rec, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    const char *id = el_rec_str(rec, "Id");
    json_t *m = NULL;
    if (!el_valid_id(id)) {
        ub_err_set(err, "step record without a valid Id");
        goto out;
    }
    if (!(m = json_deep_copy(rec))) {
        ub_err_oom(err);
        goto out;
    }
    ub_secret_mask_json(m);
    if (json_dump_callback(m, dump_cb, &text, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
        ub_buf_addc(&text, '\n') < 0 || !el_pathf(&p, "%s/steps/%s.json", dir, id)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_write_file_atomic(p.p, text.p, text.len, err);
    if (rc == 0 && el_rec_state(rec) >= 0 && ub_step_state_final((ub_step_state)el_rec_state(rec)))
        el_private_drop(dir, id);
out:
    json_decref(m);
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

/* ---- private arguments (DIR/private/<id>.json) ---------------------------------- */

int el_private_save(const char *dir, const char *id, const json_t *args, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, tmp = UB_BUF_INIT, text = UB_BUF_INIT;
    json_t *o = json_object(), *secs = json_array();
    int rc = -1, fd = -1;
    size_t i;
    json_t *a;
    if (!o || !secs || json_object_set(o, "Args", (json_t *)args)) {
        ub_err_oom(err);
        goto out;
    }
    /* the secrets it holds, so that the runner masks them in what it writes */
    for (size_t r = 0; r < ub_secret_nroots(); r++)
        json_array_foreach(args, i, a)
            if (ub_secret_root_in(r, json_string_value(a))) {
                json_array_append_new(secs, json_string(ub_secret_root(r)));
                break;
            }
    if (json_object_set(o, "Secrets", secs) || json_dump_callback(o, dump_cb, &text, JSON_COMPACT) < 0 ||
        !el_pathf(&p, "%s/private", dir)) {
        ub_err_oom(err);
        goto out;
    }
    if ((mkdir(p.p, 0700) < 0 && errno != EEXIST) || chmod(p.p, 0700) < 0) {
        ub_err_set(err, "could not create '%s': %s", p.p, strerror(errno));
        goto out;
    }
    if (!el_pathf(&p, "%s/private/%s.json", dir, id) || ub_tmp_name(&tmp, p.p)) {
        ub_err_oom(err);
        goto out;
    }
    do
        fd = open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 || ub_write_all(fd, text.p, text.len) || ub_fsync_fd(fd)) {
        ub_err_set(err, "could not write '%s': %s", tmp.p, strerror(errno));
        if (fd >= 0)
            unlink(tmp.p);
        goto out;
    }
    close(fd);
    fd = -1;
    rc = ub_rename_durable(tmp.p, p.p, err);
out:
    if (fd >= 0)
        close(fd);
    json_decref(o);
    json_decref(secs);
    ub_buf_free(&p);
    ub_buf_free(&tmp);
    ub_buf_free(&text);
    return rc;
}

int el_private_take(const char *dir, const char *id, json_t **args, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    json_t *o = NULL;
    int rc = -1;
    *args = NULL;
    if (!el_pathf(&p, "%s/private/%s.json", dir, id)) {
        ub_err_oom(err);
        goto out;
    }
    int r = ub_read_small(p.p, &text, QUEUE_MAX, err);
    if (r <= 0) {
        if (r == 0)
            ub_err_set(err, "its private arguments '%s' are gone", p.p);
        goto out;
    }
    o = json_loads(ub_buf_str(&text), 0, NULL);
    json_t *a = json_object_get(o, "Args"), *s;
    size_t i;
    if (!json_is_array(a)) {
        ub_err_set(err, "its private arguments '%s' do not read", p.p);
        goto out;
    }
    json_array_foreach(json_object_get(o, "Secrets"), i, s)
        ub_secret_add(json_string_value(s));
    *args = json_incref(a);          /* the caller owns it */
    unlink(p.p);                     /* used: a step that must run again is submitted again */
    rc = 0;
out:
    json_decref(o);
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

void el_private_sweep(const char *dir, const strlist *q)
{
    ub_buf p = UB_BUF_INIT;
    if (!el_pathf(&p, "%s/private", dir))
        return;
    ub_sweep_tmp(p.p);                       /* temporaries of a submitter that died mid-write */
    DIR *d = opendir(p.p);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n != ID_LEN + 5 || strcmp(de->d_name + ID_LEN, ".json") != 0)
            continue;
        size_t i = 0;
        while (i < q->n && strncmp(q->v[i], de->d_name, ID_LEN) != 0)
            i++;
        if (i == q->n && el_pathf(&p, "%s/private/%s", dir, de->d_name))
            unlink(p.p);                     /* its step never reached the queue, or left it */
    }
    if (d)
        closedir(d);
    ub_buf_free(&p);
}

void el_private_drop(const char *dir, const char *id)
{
    ub_buf p = UB_BUF_INIT;
    if (el_pathf(&p, "%s/private/%s.json", dir, id))
        unlink(p.p);
    ub_buf_free(&p);
}

/* Ends a record in state s with reason (NULL: none). */
int el_rec_finish(json_t *rec, ub_step_state s, const char *reason)
{
    if (el_rec_set_state(rec, s) || el_rec_set_now(rec, "EndedAt"))
        return -1;
    if (reason && el_rec_set_str(rec, "Reason", reason))
        return -1;
    return 0;
}

/* ---- the queue ---------------------------------------------------------------- */

int el_queue_load(const char *dir, strlist *q, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    if (!el_pathf(&p, "%s/queue", dir)) {
        ub_err_oom(err);
        goto out;
    }
    int r = ub_read_small(p.p, &text, QUEUE_MAX, err);
    if (r < 0)
        goto out;
    for (const char *s = ub_buf_str(&text); r && *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == ID_LEN) {
            char id[ID_LEN + 1];
            memcpy(id, s, n);
            id[n] = '\0';
            if (el_valid_id(id) && el_strlist_push(q, id, n) < 0) {
                ub_err_oom(err);
                goto out;
            }
        }
        s += n + (e ? 1 : 0);
    }
    rc = 0;
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

int el_queue_save(const char *dir, const strlist *q, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    for (size_t i = 0; i < q->n; i++) {
        ub_buf_adds(&text, q->v[i]);
        ub_buf_addc(&text, '\n');
    }
    if (text.err || !el_pathf(&p, "%s/queue", dir)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_write_file_atomic(p.p, ub_buf_str(&text), text.len, err);
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

/* The text of DIR/terminated (first line) into why: 1 terminated, 0 not, -1 error. */
int el_terminated(const char *dir, char *why, size_t cap, ub_err *err)
{
    ub_buf p = UB_BUF_INIT, text = UB_BUF_INIT;
    int rc = -1;
    if (!el_pathf(&p, "%s/terminated", dir)) {
        ub_err_oom(err);
        goto out;
    }
    rc = ub_read_small(p.p, &text, 64 * 1024, err);
    if (rc == 1) {
        const char *t = ub_buf_str(&text);
        size_t n = strcspn(t, "\n");
        snprintf(why, cap, "%.*s", (int)n, t);
    }
out:
    ub_buf_free(&p);
    ub_buf_free(&text);
    return rc;
}

int el_cancel_behind(const char *dir, const strlist *q, size_t at, const char *why, ub_err *err)
{
    for (size_t j = at + 1; j < q->n; j++) {
        json_t *rec;
        if (el_rec_load(dir, q->v[j], &rec, err))
            continue;                 /* a lost record is dropped from the queue later */
        int bad = el_rec_state(rec) == UB_STEP_PENDING &&
                  (el_rec_finish(rec, UB_STEP_CANCELLED, why) ? ub_err_oom(err) : el_rec_save(dir, rec, err));
        json_decref(rec);
        if (bad)
            return -1;
    }
    return 0;
}

/* On a FAILED step: CANCEL_AND_WAIT and TERMINATE_* cancel every PENDING step
 * after index at of the queue; TERMINATE_* also marks the cluster terminated. */
int el_apply_failure(const char *dir, const strlist *q, size_t at, const json_t *failed, ub_err *err)
{
    const char *aof = el_rec_str(failed, "ActionOnFailure");
    const char *id = el_rec_str(failed, "Id"), *name = el_rec_str(failed, "Name");
    ub_buf why = UB_BUF_INIT, p = UB_BUF_INIT;
    int rc = -1;
    if (!aof || strcmp(aof, "CONTINUE") == 0)
        return 0;
    int term = strcmp(aof, "TERMINATE_CLUSTER") == 0 || strcmp(aof, "TERMINATE_JOB_FLOW") == 0;
    if (ub_buf_addf(&why, "cancelled because step %s ('%s') failed (ActionOnFailure %s)", id,
                    name ? name : "", aof) < 0) {
        ub_err_oom(err);
        goto out;
    }
    if (el_cancel_behind(dir, q, at, why.p, err))
        goto out;
    if (term) {
        ub_buf_reset(&why);
        ub_buf_addf(&why, "step %s ('%s') failed with ActionOnFailure %s\n", id, name ? name : "", aof);
        if (why.err || !el_pathf(&p, "%s/terminated", dir)) {
            ub_err_oom(err);
            goto out;
        }
        ub_buf m = UB_BUF_INIT;
        ub_secret_mask(why.p, &m);
        int bad = m.err ? ub_err_oom(err) : ub_write_file_atomic(p.p, m.p, m.len, err);
        ub_buf_free(&m);
        if (bad)
            goto out;
    }
    rc = 0;
out:
    ub_buf_free(&why);
    ub_buf_free(&p);
    return rc;
}

/* 1 when the queue holds a PENDING step (read without locks: files are
 * replaced atomically) */
int el_queue_has_pending(const char *dir)
{
    strlist q = { NULL, 0, 0 };
    ub_err err;
    int any = 0;
    char why[8];
    if (el_terminated(dir, why, sizeof why, &err) != 0 || el_queue_load(dir, &q, &err))
        goto out;
    for (size_t i = 0; i < q.n && !any; i++) {
        json_t *rec;
        if (el_rec_load(dir, q.v[i], &rec, &err) == 0) {
            any = el_rec_state(rec) == UB_STEP_PENDING;
            json_decref(rec);
        }
    }
out:
    el_strlist_free(&q);
    return any;
}
