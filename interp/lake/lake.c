/* lake.c — the lake interface: URL dispatch to a backend, key checks, checked wrappers. */
#include "lake/lake.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/fsutil.h"
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KEY_MAX     1024     /* S3's limit on a key, in bytes */
#define SEGMENT_MAX 255      /* NAME_MAX of the usual file systems */

const char *const ub_lake_areas[] = { "raw", "stage", "scripts", NULL };

int ub_lake_is_area(const char *s, size_t n)
{
    for (size_t i = 0; ub_lake_areas[i]; i++)
        if (strlen(ub_lake_areas[i]) == n && strncmp(ub_lake_areas[i], s, n) == 0)
            return 1;
    return 0;
}

int ub_s3_url_split(const char *url, const char **bucket, size_t *blen, const char **key)
{
    if (strncmp(url, "s3://", 5) != 0)
        return 0;
    const char *b = url + 5, *slash = strchr(b, '/');
    *bucket = b;
    *blen = slash ? (size_t)(slash - b) : strlen(b);
    *key = slash ? slash + 1 : "";
    return *blen ? 1 : -1;
}

/* ---- opening: one row per URL scheme -------------------------------------- */

typedef ub_lake *(*lake_opener)(const char *url, const char *rest, const char *base_dir, ub_err *err);

/* "file:DIR", "file:///DIR": DIR relative to base_dir (itself relative to
 * the working directory), or to the working directory without base_dir. */
static ub_lake *open_file(const char *url, const char *rest, const char *base_dir, ub_err *err)
{
    ub_buf dir = UB_BUF_INIT;
    ub_lake *l = NULL;
    char cwd[PATH_MAX];
    if (rest[0] == '/' && rest[1] == '/') {
        if (rest[2] != '/') {
            ub_err_set(err, "lake '%s': a file URL takes a local path (file:DIR or file:///DIR)", url);
            return NULL;
        }
        rest += 2;
    }
    if (!*rest) {
        ub_err_set(err, "lake '%s': no directory given", url);
        return NULL;
    }
    if (rest[0] != '/') {
        if (!base_dir || base_dir[0] != '/') {
            if (!getcwd(cwd, sizeof cwd)) {
                ub_err_set(err, "lake '%s': cannot get the working directory", url);
                return NULL;
            }
            ub_buf_adds(&dir, cwd);
            ub_buf_addc(&dir, '/');
        }
        if (base_dir && *base_dir) {
            ub_buf_adds(&dir, base_dir);
            ub_buf_addc(&dir, '/');
        }
    }
    if (ub_buf_adds(&dir, rest) < 0) {
        ub_err_oom(err);
        goto out;
    }
    l = ub_lake_file_open(dir.p, err);   /* normalizes ".", ".." and "//" */
out:
    ub_buf_free(&dir);
    return l;
}

/* "s3://BUCKET[/PREFIX]" (lake/s3.c reads the credentials chain once and
 * registers its secret key and session token as secrets). */
static ub_lake *open_s3(const char *url, const char *rest, const char *base_dir, ub_err *err)
{
    (void)rest;
    (void)base_dir;
    return ub_lake_s3_open(url, err);
}

static const struct {
    const char *prefix;
    lake_opener open;
} schemes[] = {
    { "file:", open_file },
    { "s3://", open_s3 },
};

int ub_lake_url_known(const char *url)
{
    for (size_t i = 0; url && i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
            return 1;
    return 0;
}

ub_lake *ub_lake_open(const char *url, const char *base_dir, ub_err *err)
{
    if (!url || !*url) {
        ub_err_set(err, "no lake URL given");
        return NULL;
    }
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, n) == 0)
            return schemes[i].open(url, url + n, base_dir, err);
    }
    ub_err_set(err, "lake '%s': unknown URL scheme (expected file:DIR or s3://BUCKET[/PREFIX])", url);
    return NULL;
}

void ub_lake_free(ub_lake *lake)
{
    if (lake)
        lake->ops->free(lake);
}

/* ---- keys ----------------------------------------------------------------- */

/* key, made printable for a message: control characters become \xNN */
static const char *shown(const char *key, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
    return out;
}

/*
 * An object key: relative, '/'-separated segments, each non-empty, not "."
 * or "..", at most 255 bytes; the whole at most 1024 bytes; no backslash, no
 * control character, and never the temporary-file mark ".ubtmp." (such names
 * are hidden from listings and swept as leftovers of killed writers).
 *
 * A trailing '/' makes an empty last segment, so it is refused here: a key
 * names an object.  Where a prefix is expected (ub_lake_list,
 * ub_lake_remove_prefix) the prefix is checked with check_prefix below,
 * which allows one trailing '/' (and, for listings, the empty prefix).
 */
int ub_lake_ref_relative(const char *ref, const char *colon, ub_err *err)
{
    if (colon[1] != '/')
        return 0;
    char show[KEY_MAX + 64];
    shown(ref, show, sizeof show);
    return ub_err_set(err, "invalid lake key '%s': the key after '%.*s:' must be relative (no leading '/')",
                      show, (int)(colon - ref), ref);
}

int ub_lake_key_check(const char *key, ub_err *err)
{
    char show[KEY_MAX + 64];
    if (!key || !*key)
        return ub_err_set(err, "invalid lake key '': the key is empty");
    shown(key, show, sizeof show);
    size_t n = strlen(key);
    if (n > KEY_MAX)
        return ub_err_set(err, "invalid lake key '%.60s...': longer than %d bytes", show, KEY_MAX);
    if (key[0] == '/')
        return ub_err_set(err, "invalid lake key '%s': must be relative (no leading '/')", show);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f)
            return ub_err_set(err, "invalid lake key '%s': control character 0x%02X", show, c);
        if (c == '\\')
            return ub_err_set(err, "invalid lake key '%s': backslash not allowed", show);
    }
    if (strstr(key, UB_TMP_MARK))
        return ub_err_set(err, "invalid lake key '%s': '" UB_TMP_MARK "' is reserved for temporary files", show);
    for (const char *s = key;;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0)
            return ub_err_set(err, e ? "invalid lake key '%s': empty path segment"
                                     : "invalid lake key '%s': ends in '/' (a key names an object, "
                                       "not a prefix)", show);
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return ub_err_set(err, "invalid lake key '%s': '%.*s' segment not allowed", show, (int)len, s);
        if (len > SEGMENT_MAX)
            return ub_err_set(err, "invalid lake key '%s': a segment is longer than %d bytes", show,
                              SEGMENT_MAX);
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

/* A prefix: "" (everything, only when allow_empty), or a key, or a key
 * followed by one '/'. */
static int check_prefix(const char *prefix, int allow_empty, ub_err *err)
{
    char tmp[KEY_MAX + 2];
    if (!prefix)
        return ub_err_set(err, "no lake prefix given");
    size_t n = strlen(prefix);
    if (n == 0)
        return allow_empty ? 0 : ub_err_set(err, "invalid lake prefix '': the prefix is empty");
    if (prefix[n - 1] != '/')
        return ub_lake_key_check(prefix, err);
    if (n - 1 > KEY_MAX)
        return ub_err_set(err, "invalid lake prefix '%.60s...': longer than %d bytes", prefix, KEY_MAX);
    memcpy(tmp, prefix, n - 1);
    tmp[n - 1] = '\0';
    return ub_lake_key_check(tmp, err);
}

/* ---- the checked wrappers ------------------------------------------------- */

ub_reader *ub_lake_open_read(ub_lake *l, const char *key, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return NULL;
    return l->ops->open_read(l, key, err);
}

ub_reader *ub_lake_open_read_decoded(ub_lake *l, const char *key, ub_err *err)
{
    ub_reader *r = ub_lake_open_read(l, key, err);
    if (r && ub_is_zstd_name(key)) {
        ub_reader *z = ub_zstd_reader(r, err);   /* z owns r from here */
        if (!z)
            ub_reader_close(r);                  /* a failed wrapper leaves r to us */
        r = z;
    }
    return r;
}

int ub_lake_put_link(ub_lake *l, const char *key, const char *path, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return -1;
    return l->ops->put_link ? l->ops->put_link(l, key, path, err) : 0;
}

int ub_lake_local_path(ub_lake *l, const char *key, ub_buf *out, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return -1;
    return l->ops->local_path ? l->ops->local_path(l, key, out, err) : 0;
}

ub_writer *ub_lake_open_write(ub_lake *l, const char *key, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return NULL;
    return l->ops->open_write(l, key, err);
}

int ub_lake_stat(ub_lake *l, const char *key, ub_lake_info *st, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return -1;
    return l->ops->stat(l, key, st, err);
}

/*
 * Lists every object whose key starts with prefix ("" = the whole lake), in
 * byte order of the keys.  The callback returns 0 to go on, > 0 to stop (the
 * listing then succeeds) or < 0 to stop with an error: ub_lake_list then
 * returns -1, and the message is the one the callback put into this same
 * err (reach it through ud) or else a generic one naming the prefix.
 * Backends must tolerate the removal of keys already handed out.
 */
int ub_lake_list(ub_lake *l, const char *prefix, ub_lake_list_cb cb, void *ud, ub_err *err)
{
    if (check_prefix(prefix, 1, err))
        return -1;
    err->msg[0] = '\0';
    int rc = l->ops->list(l, prefix, cb, ud, err);
    if (rc < 0 && !err->msg[0])
        ub_err_set(err, "listing of lake prefix '%s' in '%s' stopped by its consumer", prefix, l->url);
    return rc < 0 ? -1 : 0;
}

int ub_lake_copy(ub_lake *l, const char *src, const char *dst, ub_err *err)
{
    if (ub_lake_key_check(src, err) || ub_lake_key_check(dst, err))
        return -1;
    return l->ops->copy(l, src, dst, err);
}

int ub_lake_remove(ub_lake *l, const char *key, ub_err *err)
{
    if (ub_lake_key_check(key, err))
        return -1;
    return l->ops->remove(l, key, err);
}

typedef struct rm_ctx {
    ub_lake *lake;
    ub_err *err;
} rm_ctx;

static int remove_one(void *ud, const char *key, const ub_lake_info *st)
{
    (void)st;
    rm_ctx *c = ud;
    return c->lake->ops->remove(c->lake, key, c->err) < 0 ? -1 : 0;
}

int ub_lake_remove_prefix(ub_lake *l, const char *prefix, ub_err *err)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n == 0 || prefix[n - 1] != '/')
        return ub_err_set(err, "invalid lake prefix '%s': a prefix to remove must end in '/'",
                          prefix ? prefix : "");
    if (check_prefix(prefix, 0, err))
        return -1;
    rm_ctx c = { l, err };
    return ub_lake_list(l, prefix, remove_one, &c, err);
}
