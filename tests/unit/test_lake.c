/* test_lake.c — the lake interface and its file backend, on a real temporary directory. */
#include "lake/lake.h"
#include "base/buf.h"
#include "base/mem.h"
#include "t.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* whole object as a string ("(error: ...)" on failure); caller frees */
static char *slurp(ub_lake *l, const char *key)
{
    ub_err err;
    ub_buf b = UB_BUF_INIT;
    char chunk[7];                    /* odd size: several reads */
    ub_buf_add(&b, "", 0);            /* "" rather than NULL for an empty object */
    ub_reader *r = ub_lake_open_read(l, key, &err);
    if (!r) {
        ub_buf_addf(&b, "(error: %s)", err.msg);
        return ub_buf_detach(&b, NULL);
    }
    ssize_t n;
    while ((n = ub_read(r, chunk, sizeof chunk, &err)) > 0)
        ub_buf_add(&b, chunk, (size_t)n);
    if (n < 0)
        ub_buf_addf(&b, "(error: %s)", err.msg);
    ub_reader_close(r);
    return ub_buf_detach(&b, NULL);
}

static int put(ub_lake *l, const char *key, const char *text)
{
    ub_err err;
    ub_writer *w = ub_lake_open_write(l, key, &err);
    if (!w) {
        fprintf(stderr, "put %s: %s\n", key, err.msg);
        return -1;
    }
    if (ub_write(w, text, strlen(text), &err) < 0) {
        ub_writer_abort(w);
        return -1;
    }
    return ub_writer_commit(w, &err);
}

static void check_content(ub_lake *l, const char *key, const char *want)
{
    char *got = slurp(l, key);
    T_STREQ(got, want);
    ub_free(got);
}

/* ---- key checks ------------------------------------------------------------ */

static void test_keys(void)
{
    static const char *good[] = {
        "a", "raw/movie_review/2021-05-01/movie.csv", "a.b/c..d", "..a/b..", "a b/c d", ".hidden",
        "caf\xc3\xa9/x", "_SUCCESS", "a/.b", NULL,
    };
    static const struct { const char *key, *msg; } bad[] = {
        { "", "invalid lake key '': the key is empty" },
        { "/a", "invalid lake key '/a': must be relative (no leading '/')" },
        { "a/", "invalid lake key 'a/': ends in '/' (a key names an object, not a prefix)" },
        { "a//b", "invalid lake key 'a//b': empty path segment" },
        { ".", "invalid lake key '.': '.' segment not allowed" },
        { "..", "invalid lake key '..': '..' segment not allowed" },
        { "./a", "invalid lake key './a': '.' segment not allowed" },
        { "a/./b", "invalid lake key 'a/./b': '.' segment not allowed" },
        { "a/../../etc/passwd", "invalid lake key 'a/../../etc/passwd': '..' segment not allowed" },
        { "a/..", "invalid lake key 'a/..': '..' segment not allowed" },
        { "a\\b", "invalid lake key 'a\\b': backslash not allowed" },
        { "a\nb", "invalid lake key 'a\\x0Ab': control character 0x0A" },
        { "a\x7f", "invalid lake key 'a\\x7F': control character 0x7F" },
        { "a\tb", "invalid lake key 'a\\x09b': control character 0x09" },
        { "x/y.csv.ubtmp.12.0", "invalid lake key 'x/y.csv.ubtmp.12.0': '.ubtmp.' is reserved for temporary files" },
    };
    ub_err err;
    for (size_t i = 0; good[i]; i++) {
        int rc = ub_lake_key_check(good[i], &err);
        if (rc)
            fprintf(stderr, "good key '%s' refused: %s\n", good[i], err.msg);
        T_INTEQ(rc, 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        T_INTEQ(ub_lake_key_check(bad[i].key, &err), -1);
        T_STREQ(err.msg, bad[i].msg);
    }
    T_INTEQ(ub_lake_key_check(NULL, &err), -1);
    /* a reference AREA:KEY whose KEY is absolute says so, not "empty path segment" */
    const char *ref = "raw:/etc/passwd";
    T_INTEQ(ub_lake_ref_relative(ref, ref + 3, &err), -1);
    T_STREQ(err.msg, "invalid lake key 'raw:/etc/passwd': the key after 'raw:' must be relative (no leading '/')");
    ref = "stage:a/b";
    T_INTEQ(ub_lake_ref_relative(ref, ref + 5, &err), 0);

    /* lengths: 1024 bytes is the limit for a key, 255 for a segment */
    char k[1100];
    for (size_t i = 0; i < 1024; i++)
        k[i] = (i % 100 == 99) ? '/' : 'x';
    k[1024] = '\0';
    T_INTEQ(ub_lake_key_check(k, &err), 0);
    k[1024] = 'x';
    k[1025] = '\0';
    T_INTEQ(ub_lake_key_check(k, &err), -1);
    T_CHECK(strstr(err.msg, "longer than 1024 bytes") != NULL);
    memset(k, 's', 255);
    k[255] = '\0';
    T_INTEQ(ub_lake_key_check(k, &err), 0);
    k[255] = 's';
    k[256] = '\0';
    T_INTEQ(ub_lake_key_check(k, &err), -1);
    T_CHECK(strstr(err.msg, "a segment is longer than 255 bytes") != NULL);
}

/* ---- opening --------------------------------------------------------------- */

static void test_open(void)
{
    ub_err err;
    ub_lake *l = ub_lake_open("file:lake", "/srv/pipes", &err);
    T_CHECK(l != NULL);
    if (l)
        T_STREQ(l->url, "file:/srv/pipes/lake");
    ub_lake_free(l);

    l = ub_lake_open("file:../data//lake/./", "/srv/pipes/", &err);
    T_CHECK(l != NULL);
    if (l)
        T_STREQ(l->url, "file:/srv/data/lake");
    ub_lake_free(l);

    l = ub_lake_open("file:///abs/dir/", "/ignored", &err);
    T_CHECK(l != NULL);
    if (l) {
        T_STREQ(l->url, "file:/abs/dir");
        T_STREQ(l->ops->scheme, "file");
    }
    ub_lake_free(l);

    /* relative to the working directory without base_dir */
    char cwd[1024], want[1100];
    T_CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "file:%s/x/y", cwd);
    l = ub_lake_open("file:x/y", NULL, &err);
    T_CHECK(l != NULL);
    if (l)
        T_STREQ(l->url, want);
    ub_lake_free(l);

    /* an s3:// URL opens the S3 backend (credentials are needed only by requests) */
    l = ub_lake_open("s3://user-analytics/some/prefix", NULL, &err);
    T_CHECK(l != NULL);
    if (l)
        T_STREQ(l->ops->scheme, "s3");
    ub_lake_free(l);
    T_CHECK(ub_lake_open("ftp://x/y", NULL, &err) == NULL);
    T_STREQ(err.msg, "lake 'ftp://x/y': unknown URL scheme (expected file:DIR or s3://BUCKET[/PREFIX])");
    T_CHECK(ub_lake_open("file:", NULL, &err) == NULL);
    T_STREQ(err.msg, "lake 'file:': no directory given");
    T_CHECK(ub_lake_file_open("rel/dir", &err) == NULL);
    T_STREQ(err.msg, "lake directory 'rel/dir' must be an absolute path");
}

/* ---- objects --------------------------------------------------------------- */

typedef struct seen {
    ub_buf keys;       /* "k1|k2|..." */
    int stop_after;    /* > 0: return 1 after that many; < 0: return -1 after that many */
    int n;
} seen;

static int collect(void *ud, const char *key, const ub_lake_info *st)
{
    seen *s = ud;
    (void)st;
    if (s->keys.len)
        ub_buf_addc(&s->keys, '|');
    ub_buf_adds(&s->keys, key);
    s->n++;
    if (s->stop_after > 0 && s->n >= s->stop_after)
        return 1;
    if (s->stop_after < 0 && s->n >= -s->stop_after)
        return -1;
    return 0;
}

/* the listing of prefix as "k1|k2|..." ("(error: ...)" on failure) */
static char *listing(ub_lake *l, const char *prefix, int stop_after)
{
    seen s = { UB_BUF_INIT, stop_after, 0 };
    ub_err err;
    if (ub_lake_list(l, prefix, collect, &s, &err)) {
        ub_buf_reset(&s.keys);
        ub_buf_addf(&s.keys, "(error: %s)", err.msg);
    }
    ub_buf_add(&s.keys, "", 0);       /* so that an empty listing is "" and not NULL */
    return ub_buf_detach(&s.keys, NULL);
}

static void check_listing(ub_lake *l, const char *prefix, const char *want)
{
    char *got = listing(l, prefix, 0);
    T_STREQ(got, want);
    ub_free(got);
}

static void test_objects(void)
{
    ub_err err;
    char root[400], path[600];
    snprintf(root, sizeof root, "%s/lake", tmpdir);
    ub_lake *l = ub_lake_file_open(root, &err);
    T_CHECK(l != NULL);
    if (!l)
        return;

    /* a missing object, before the root even exists */
    char want[800];
    snprintf(want, sizeof want, "(error: lake object 'raw/none.csv' does not exist in 'file:%s')", root);
    char *got = slurp(l, "raw/none.csv");
    T_STREQ(got, want);
    ub_free(got);
    check_listing(l, "", "");
    ub_lake_info info = { 99, 99 };
    T_INTEQ(ub_lake_stat(l, "raw/none.csv", &info, &err), 0);

    /* round trip; the parents are created */
    T_INTEQ(put(l, "raw/movie_review/2021-05-01/movie.csv", "cid,review_str\n1,good\n"), 0);
    check_content(l, "raw/movie_review/2021-05-01/movie.csv", "cid,review_str\n1,good\n");
    T_INTEQ(ub_lake_stat(l, "raw/movie_review/2021-05-01/movie.csv", &info, &err), 1);
    T_INTEQ(info.size, 22);
    T_CHECK(info.mtime > 1600000000);
    snprintf(path, sizeof path, "%s/raw/movie_review/2021-05-01/movie.csv", root);
    struct stat st;
    T_INTEQ(stat(path, &st), 0);
    /* an empty object is an object */
    T_INTEQ(put(l, "empty", ""), 0);
    T_INTEQ(ub_lake_stat(l, "empty", &info, &err), 1);
    T_INTEQ(info.size, 0);
    check_content(l, "empty", "");

    /* a prefix is not an object */
    T_INTEQ(ub_lake_stat(l, "raw/movie_review", &info, &err), 0);
    snprintf(want, sizeof want,
             "(error: lake object 'raw/movie_review' does not exist in 'file:%s' (it is a prefix, not an object))",
             root);
    got = slurp(l, "raw/movie_review");
    T_STREQ(got, want);
    ub_free(got);
    T_INTEQ(ub_lake_remove(l, "raw/movie_review", &err), -1);
    T_STREQ(err.msg, "lake key 'raw/movie_review' names a prefix, not an object");

    /* bad keys are refused by every entry point */
    T_CHECK(ub_lake_open_write(l, "../escape", &err) == NULL);
    T_STREQ(err.msg, "invalid lake key '../escape': '..' segment not allowed");
    T_CHECK(ub_lake_open_read(l, "/etc/passwd", &err) == NULL);
    T_INTEQ(ub_lake_stat(l, "a//b", &info, &err), -1);
    T_INTEQ(ub_lake_copy(l, "empty", "x/../y", &err), -1);
    T_INTEQ(ub_lake_remove(l, "a/", &err), -1);

    /* atomic replace: readers see the old object until commit; abort keeps it */
    ub_writer *w = ub_lake_open_write(l, "raw/movie_review/2021-05-01/movie.csv", &err);
    T_CHECK(w != NULL);
    if (w) {
        T_INTEQ(ub_write(w, "cid,review_str\n2,bad\n", 21, &err), 0);
        check_content(l, "raw/movie_review/2021-05-01/movie.csv", "cid,review_str\n1,good\n");
        /* the unfinished write is not listed */
        check_listing(l, "raw/", "raw/movie_review/2021-05-01/movie.csv");
        T_INTEQ(ub_writer_commit(w, &err), 0);
    }
    check_content(l, "raw/movie_review/2021-05-01/movie.csv", "cid,review_str\n2,bad\n");
    w = ub_lake_open_write(l, "raw/movie_review/2021-05-01/movie.csv", &err);
    T_CHECK(w != NULL);
    if (w) {
        T_INTEQ(ub_write(w, "garbage", 7, &err), 0);
        ub_writer_abort(w);
    }
    check_content(l, "raw/movie_review/2021-05-01/movie.csv", "cid,review_str\n2,bad\n");
    snprintf(path, sizeof path, "%s/raw/movie_review/2021-05-01", root);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", path);
    T_INTEQ(system(cmd), 0);          /* no temporary file left behind */

    /* listing order (byte order of whole keys) and prefix semantics */
    ub_lake_remove(l, "empty", &err);
    ub_lake_remove_prefix(l, "raw/", &err);
    check_listing(l, "", "");
    static const char *keys[] = { "b", "ab", "a/b/c", "a/b.csv", "a.csv", "a-b", "a/b/a", "A", NULL };
    for (size_t i = 0; keys[i]; i++)
        T_INTEQ(put(l, keys[i], keys[i]), 0);
    /* '-' 0x2d < '.' 0x2e < '/' 0x2f < 'b'; 'A' 0x41 < 'a' */
    check_listing(l, "", "A|a-b|a.csv|a/b.csv|a/b/a|a/b/c|ab|b");
    check_listing(l, "a/", "a/b.csv|a/b/a|a/b/c");
    check_listing(l, "a", "a-b|a.csv|a/b.csv|a/b/a|a/b/c|ab");
    check_listing(l, "a/b", "a/b.csv|a/b/a|a/b/c");
    check_listing(l, "a/b/", "a/b/a|a/b/c");
    check_listing(l, "a/b/c", "a/b/c");
    check_listing(l, "zz/", "");
    check_listing(l, "b/", "");       /* "b" is an object, not a prefix */
    got = listing(l, "", 2);          /* the callback stops it: success */
    T_STREQ(got, "A|a-b");
    ub_free(got);
    got = listing(l, "a/", -1);       /* the callback fails */
    snprintf(want, sizeof want,
             "(error: listing of lake prefix 'a/' in 'file:%s' stopped by its consumer)", root);
    T_STREQ(got, want);
    ub_free(got);
    got = listing(l, "a//", 0);
    T_STREQ(got, "(error: invalid lake key 'a/': ends in '/' (a key names an object, not a prefix))");
    ub_free(got);
    /* leftovers of a killed writer and symlinks are never listed */
    snprintf(path, sizeof path, "%s/a/b/c.ubtmp.999999.0", root);
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/a/link", root);
    T_INTEQ(symlink("b.csv", path), 0);
    check_listing(l, "a/", "a/b.csv|a/b/a|a/b/c");
    /* a symlink inside the root can be read */
    check_content(l, "a/link", "a/b.csv");
    unlink(path);
    snprintf(path, sizeof path, "%s/a/b/c.ubtmp.999999.0", root);
    unlink(path);

    /* a FIFO is not an object, and opening it does not hang */
    snprintf(path, sizeof path, "%s/fifo", root);
    T_INTEQ(mkfifo(path, 0600), 0);
    snprintf(want, sizeof want, "(error: lake object 'fifo' ('%s') is not a regular file)", path);
    got = slurp(l, "fifo");
    T_STREQ(got, want);
    ub_free(got);
    T_INTEQ(ub_lake_stat(l, "fifo", &info, &err), 0);
    check_listing(l, "fifo", "");
    unlink(path);

    /* copy */
    T_INTEQ(ub_lake_copy(l, "a/b.csv", "stage/copy/b.csv", &err), 0);
    check_content(l, "stage/copy/b.csv", "a/b.csv");
    check_content(l, "a/b.csv", "a/b.csv");
    T_INTEQ(ub_lake_copy(l, "a/b.csv", "a/b.csv", &err), 0);   /* onto itself */
    check_content(l, "a/b.csv", "a/b.csv");
    T_INTEQ(ub_lake_copy(l, "nope", "x", &err), -1);
    snprintf(want, sizeof want, "lake object 'nope' does not exist in 'file:%s'", root);
    T_STREQ(err.msg, want);
    T_INTEQ(ub_lake_stat(l, "x", &info, &err), 0);          /* nothing written */

    /* remove: missing is fine; emptied directories go away */
    T_INTEQ(ub_lake_remove(l, "stage/copy/b.csv", &err), 0);
    T_INTEQ(ub_lake_remove(l, "stage/copy/b.csv", &err), 0);
    T_INTEQ(ub_lake_remove(l, "no/such/key", &err), 0);
    snprintf(path, sizeof path, "%s/stage", root);
    T_CHECK(stat(path, &st) < 0 && errno == ENOENT);

    /* remove_prefix: only under the prefix, which must end in '/' */
    T_INTEQ(ub_lake_remove_prefix(l, "a", &err), -1);
    T_STREQ(err.msg, "invalid lake prefix 'a': a prefix to remove must end in '/'");
    T_INTEQ(ub_lake_remove_prefix(l, "", &err), -1);
    T_INTEQ(ub_lake_remove_prefix(l, "../", &err), -1);
    T_INTEQ(ub_lake_remove_prefix(l, "a/b/", &err), 0);
    check_listing(l, "", "A|a-b|a.csv|a/b.csv|ab|b");
    T_INTEQ(ub_lake_remove_prefix(l, "a/", &err), 0);
    check_listing(l, "", "A|a-b|a.csv|ab|b");
    snprintf(path, sizeof path, "%s/a", root);
    T_CHECK(stat(path, &st) < 0 && errno == ENOENT);
    T_INTEQ(ub_lake_remove_prefix(l, "a/", &err), 0);        /* nothing left: fine */

    /* a symlink that leads out of the root is refused */
    char outside[400];
    snprintf(outside, sizeof outside, "%s/outside", tmpdir);
    T_INTEQ(mkdir(outside, 0755), 0);
    snprintf(path, sizeof path, "%s/outside/secret", tmpdir);
    f = fopen(path, "w");
    if (f) {
        fputs("secret", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/evil", root);
    T_INTEQ(symlink(outside, path), 0);
    got = slurp(l, "evil/secret");
    T_STREQ(got, "(error: lake key 'evil/secret': path leaves the lake root through a symlink)");
    ub_free(got);
    T_CHECK(ub_lake_open_write(l, "evil/new/x", &err) == NULL);
    T_STREQ(err.msg, "lake key 'evil/new/x': path leaves the lake root through a symlink");
    T_INTEQ(ub_lake_stat(l, "evil/secret", &info, &err), -1);
    T_INTEQ(ub_lake_remove(l, "evil/secret", &err), -1);
    check_listing(l, "evil/", "(error: lake key 'evil/': path leaves the lake root through a symlink)");
    snprintf(path, sizeof path, "%s/outside/secret", tmpdir);
    T_INTEQ(stat(path, &st), 0);      /* still there */
    snprintf(path, sizeof path, "%s/outside/new", tmpdir);
    T_CHECK(stat(path, &st) < 0);     /* nothing created outside */

    ub_lake_free(l);
}

/* one splitter of s3://BUCKET/KEY; the areas; put_link on the file lake */
static void test_helpers(void)
{
    const char *b = NULL, *k = NULL;
    size_t bl = 0;
    ub_err err;
    T_INTEQ(ub_s3_url_split("s3://bkt/a/b.csv", &b, &bl, &k), 1);
    T_INTEQ(bl, 3);
    T_CHECK(strncmp(b, "bkt", 3) == 0);
    T_STREQ(k, "a/b.csv");
    T_INTEQ(ub_s3_url_split("s3://bkt", &b, &bl, &k), 1);
    T_STREQ(k, "");
    T_INTEQ(ub_s3_url_split("s3:///key", &b, &bl, &k), -1);
    T_INTEQ(ub_s3_url_split("s3://", &b, &bl, &k), -1);
    T_INTEQ(ub_s3_url_split("file:/x", &b, &bl, &k), 0);
    T_INTEQ(ub_lake_is_area("raw", 3), 1);
    T_INTEQ(ub_lake_is_area("stage", 5), 1);
    T_INTEQ(ub_lake_is_area("scripts", 7), 1);
    T_INTEQ(ub_lake_is_area("stag", 4), 0);
    T_INTEQ(ub_lake_is_area("raw", 2), 0);

    char root[600], src[600], obj[700];
    snprintf(root, sizeof root, "%s/linklake", tmpdir);
    snprintf(src, sizeof src, "%s/linksrc.csv", tmpdir);
    FILE *f = fopen(src, "w");
    T_CHECK(f != NULL);
    if (f) {
        fputs("a,b\n1,2\n", f);
        fclose(f);
    }
    ub_lake *l = ub_lake_file_open(root, &err);
    T_CHECK(l != NULL);
    if (!l)
        return;
    T_INTEQ(ub_lake_put_link(l, "stage/x/y.csv", src, &err), 1);
    check_content(l, "stage/x/y.csv", "a,b\n1,2\n");
    struct stat s1, s2;
    snprintf(obj, sizeof obj, "%s/stage/x/y.csv", root);
    T_INTEQ(stat(src, &s1), 0);
    T_INTEQ(stat(obj, &s2), 0);
    T_CHECK(s1.st_ino == s2.st_ino);          /* no copy */
    T_INTEQ(ub_lake_put_link(l, "stage/x/y.csv", src, &err), 1);   /* replacing works too */
    /* a symlink is not linked (the caller copies), a missing file is an error, keys are checked */
    char sl[600];
    snprintf(sl, sizeof sl, "%s/linksym", tmpdir);
    T_INTEQ(symlink(src, sl), 0);
    T_INTEQ(ub_lake_put_link(l, "stage/x/z.csv", sl, &err), 0);
    T_INTEQ(ub_lake_stat(l, "stage/x/z.csv", NULL, &err), 0);
    T_INTEQ(ub_lake_put_link(l, "stage/x/z.csv", "/nonexistent/file", &err), -1);
    T_INTEQ(ub_lake_put_link(l, "../z.csv", src, &err), -1);
    check_listing(l, "stage/", "stage/x/y.csv");
    ub_lake_free(l);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ub_test_lake_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_keys();
    test_open();
    test_objects();
    test_helpers();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done("test_lake");
}
