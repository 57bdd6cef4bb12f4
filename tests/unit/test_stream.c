/* test_stream.c — file streams, the atomic writer, temp sweep and the zstd wrappers. */
#include "t.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/stream.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/ub_test_stream.XXXXXX";

static char *pathf(const char *rel)
{
    static char buf[4][512];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, rel);
    return b;
}

static void put_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    T_CHECK(f != NULL);
    if (f) {
        T_CHECK(fwrite(p, 1, n, f) == n);
        fclose(f);
    }
}

/* Whole file into a ub_buf (tests only); returns -1 if it cannot be read. */
static int slurp(const char *path, ub_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        ub_buf_add(out, tmp, n);
    fclose(f);
    return out->err ? -1 : 0;
}

/* Number of entries in dir whose name contains sub (NULL: all but . and ..). */
static int count_entries(const char *dir, const char *sub)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!sub || strstr(e->d_name, sub))
            n++;
    }
    closedir(d);
    return n;
}

/* Name of the one temp file of target (basename tb) in dir, or "" */
static void find_tmp(const char *dir, const char *tb, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    out[0] = '\0';
    if (!d)
        return;
    struct dirent *e;
    size_t n = strlen(tb);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, tb, n) == 0 && strstr(e->d_name, ".ubtmp."))
            snprintf(out, cap, "%s", e->d_name);
    closedir(d);
}

static void test_atomic_writer(void)
{
    ub_err err = { "" };
    ub_buf got = UB_BUF_INIT;

    /* new file in directories that do not exist yet */
    ub_writer *w = ub_file_writer_open(pathf("a/b/out.txt"), UB_FW_MKDIRS, &err);
    T_CHECK(w != NULL);
    if (!w)
        return;
    T_STREQ(w->name, pathf("a/b/out.txt"));
    T_CHECK(ub_write(w, "hello, ", 7, &err) == 0);
    T_CHECK(ub_write(w, "world\n", 6, &err) == 0);
    T_INTEQ(w->bytes, 13);
    T_CHECK(access(pathf("a/b/out.txt"), F_OK) != 0);       /* not visible yet */
    char tmp[256], want[256];
    find_tmp(pathf("a/b"), "out.txt", tmp, sizeof tmp);
    /* "<path>.ubtmp.<pid>.<counter>" */
    snprintf(want, sizeof want, "out.txt.ubtmp.%ld.", (long)getpid());
    T_CHECK(strncmp(tmp, want, strlen(want)) == 0);
    const char *ctr = tmp + strlen(want);
    T_CHECK(*ctr && strspn(ctr, "0123456789") == strlen(ctr));
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    T_CHECK(stat(pathf("a/b"), &st) == 0 && (st.st_mode & 0777) == (0755 & ~mask));
    T_CHECK(ub_writer_commit(w, &err) == 0);
    T_CHECK(slurp(pathf("a/b/out.txt"), &got) == 0);
    T_STREQ(ub_buf_str(&got), "hello, world\n");
    T_INTEQ(count_entries(pathf("a/b"), NULL), 1);          /* no temp left */

    /* commit replaces an existing file; readers see old or new, never a mix */
    struct stat before, after;
    T_CHECK(stat(pathf("a/b/out.txt"), &before) == 0);
    w = ub_file_writer_open(pathf("a/b/out.txt"), 0, &err);
    T_CHECK(w != NULL);
    T_CHECK(ub_write(w, "new", 3, &err) == 0);
    ub_buf_reset(&got);
    T_CHECK(slurp(pathf("a/b/out.txt"), &got) == 0);
    T_STREQ(ub_buf_str(&got), "hello, world\n");            /* old content until commit */
    T_CHECK(ub_writer_commit(w, &err) == 0);
    ub_buf_reset(&got);
    T_CHECK(slurp(pathf("a/b/out.txt"), &got) == 0);
    T_STREQ(ub_buf_str(&got), "new");
    T_CHECK(stat(pathf("a/b/out.txt"), &after) == 0 && after.st_ino != before.st_ino);
    T_INTEQ(count_entries(pathf("a/b"), NULL), 1);

    /* abort: nothing visible, no temp */
    w = ub_file_writer_open(pathf("a/b/gone.txt"), 0, &err);
    T_CHECK(w != NULL);
    T_CHECK(ub_write(w, "x", 1, &err) == 0);
    T_INTEQ(count_entries(pathf("a/b"), "gone.txt.ubtmp."), 1);
    ub_writer_abort(w);
    T_CHECK(access(pathf("a/b/gone.txt"), F_OK) != 0);
    T_INTEQ(count_entries(pathf("a/b"), "gone"), 0);
    /* abort over an existing file leaves it alone */
    w = ub_file_writer_open(pathf("a/b/out.txt"), 0, &err);
    T_CHECK(ub_write(w, "zzz", 3, &err) == 0);
    ub_writer_abort(w);
    ub_buf_reset(&got);
    T_CHECK(slurp(pathf("a/b/out.txt"), &got) == 0);
    T_STREQ(ub_buf_str(&got), "new");
    T_INTEQ(count_entries(pathf("a/b"), NULL), 1);

    /* two writers to one target get different temp names */
    ub_writer *w1 = ub_file_writer_open(pathf("a/b/two"), 0, &err);
    ub_writer *w2 = ub_file_writer_open(pathf("a/b/two"), 0, &err);
    T_CHECK(w1 && w2);
    T_INTEQ(count_entries(pathf("a/b"), "two.ubtmp."), 2);
    ub_writer_abort(w1);
    ub_writer_abort(w2);

    /* missing directory without mkdirs */
    T_CHECK(ub_file_writer_open(pathf("nodir/x.csv"), 0, &err) == NULL);
    char pre[600];
    snprintf(pre, sizeof pre, "could not create '%s': No such file or directory", pathf("nodir/x.csv"));
    T_STREQ(err.msg, pre);              /* the target, not its temporary name */
    /* a parent that is a file */
    T_CHECK(ub_file_writer_open(pathf("a/b/out.txt/x"), UB_FW_MKDIRS, &err) == NULL);
    snprintf(pre, sizeof pre, "could not create directory '%s': Not a directory",
             pathf("a/b/out.txt"));
    T_STREQ(err.msg, pre);
    ub_buf_free(&got);
}

static void test_readers_and_copy(void)
{
    ub_err err = { "" };
    char msg[600];
    T_CHECK(ub_file_reader_open(pathf("missing.csv"), &err) == NULL);
    snprintf(msg, sizeof msg, "could not open '%s': No such file or directory", pathf("missing.csv"));
    T_STREQ(err.msg, msg);

    /* copy 1 MB + 3 bytes (not a multiple of the chunk) file to file */
    size_t n = (1 << 20) + 3;
    char *data = ub_malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + (i >> 11));
    put_file(pathf("src.bin"), data, n);
    ub_reader *r = ub_file_reader_open(pathf("src.bin"), &err);
    ub_writer *w = ub_file_writer_open(pathf("copy/dst.bin"), UB_FW_MKDIRS, &err);
    T_CHECK(r && w);
    T_STREQ(r->name, pathf("src.bin"));
    T_INTEQ(ub_stream_copy(r, w, &err), n);
    T_CHECK(ub_writer_commit(w, &err) == 0);
    ub_reader_close(r);
    ub_buf got = UB_BUF_INIT;
    T_CHECK(slurp(pathf("copy/dst.bin"), &got) == 0);
    T_CHECK(got.len == n && memcmp(got.p, data, n) == 0);
    ub_buf_free(&got);

    /* fd reader over a pipe; the descriptor stays open when not owned */
    int fds[2];
    T_CHECK(pipe(fds) == 0);
    T_CHECK(write(fds[1], "abc", 3) == 3);
    close(fds[1]);
    r = ub_fd_reader(fds[0], "pipe", 0, &err);
    char b[8];
    T_INTEQ(ub_read(r, b, sizeof b, &err), 3);
    T_CHECK(memcmp(b, "abc", 3) == 0);
    T_INTEQ(ub_read(r, b, sizeof b, &err), 0);
    T_STREQ(r->name, "pipe");
    ub_reader_close(r);
    T_CHECK(fcntl(fds[0], F_GETFD) != -1);
    close(fds[0]);
    ub_free(data);

    T_INTEQ(ub_is_zstd_name("x.csv.zst"), 1);
    T_INTEQ(ub_is_zstd_name(".zst"), 1);
    T_INTEQ(ub_is_zstd_name("x.zst.csv"), 0);
    T_INTEQ(ub_is_zstd_name("zst"), 0);
    T_INTEQ(ub_is_zstd_name("x.ZST"), 0);
    T_INTEQ(ub_is_zstd_name(""), 0);
}

static void test_sweep(void)
{
    /* a pid that surely belongs to no live process: a child we reaped */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    T_CHECK(dead > 0);
    waitpid(dead, NULL, 0);
    char name[256];
    T_CHECK(mkdir(pathf("sw"), 0755) == 0 && mkdir(pathf("sw/deep"), 0755) == 0 &&
            mkdir(pathf("sw/deep/er"), 0755) == 0);
    snprintf(name, sizeof name, "sw/x.csv.ubtmp.%ld.0", (long)dead);
    put_file(pathf(name), "a", 1);
    snprintf(name, sizeof name, "sw/deep/er/y.csv.zst.ubtmp.%ld.17", (long)dead);
    put_file(pathf(name), "b", 1);
    put_file(pathf("sw/deep/z.ubtmp.junk"), "c", 1);           /* unparsable: stale */
    snprintf(name, sizeof name, "sw/mine.ubtmp.%ld.3", (long)getpid());
    put_file(pathf(name), "d", 1);                             /* live (ours): kept */
    put_file(pathf("sw/keep.csv"), "e", 1);
    put_file(pathf("sw/deep/ubtmp.csv"), "f", 1);              /* no ".ubtmp." in it */
    T_INTEQ(ub_stream_sweep_tmp(pathf("sw")), 3);
    T_INTEQ(count_entries(pathf("sw"), NULL), 3);              /* deep, mine, keep.csv */
    T_INTEQ(count_entries(pathf("sw"), "mine.ubtmp."), 1);
    T_INTEQ(count_entries(pathf("sw/deep"), NULL), 2);         /* er, ubtmp.csv */
    T_INTEQ(count_entries(pathf("sw/deep/er"), NULL), 0);
    T_INTEQ(ub_stream_sweep_tmp(pathf("sw")), 0);
    T_INTEQ(ub_stream_sweep_tmp(pathf("no/such/dir")), 0);
    /* a writer that is still open is not swept */
    ub_err err = { "" };
    ub_writer *w = ub_file_writer_open(pathf("sw/open.csv"), 0, &err);
    T_INTEQ(ub_stream_sweep_tmp(pathf("sw")), 0);
    T_CHECK(ub_writer_commit(w, &err) == 0);
}

/* ---- zstd --------------------------------------------------------------- */

/* Deterministic test data: words with some random bytes (compressible, not trivially). */
static char *make_data(size_t n, uint64_t seed)
{
    static const char *words[] = { "good ", "movie ", "the ", "plot, ", "\"acting\" ", "\n", "x" };
    char *p = ub_malloc(n);
    size_t i = 0;
    while (p && i < n) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(seed >> 40);
        if (r % 5 == 0) {
            p[i++] = (char)(r >> 8);
            continue;
        }
        const char *wd = words[r % 7];
        for (; *wd && i < n; wd++)
            p[i++] = *wd;
    }
    return p;
}

static int write_zst(const char *path, const char *data, size_t n, int level, ub_err *err)
{
    ub_writer *f = ub_file_writer_open(path, UB_FW_MKDIRS, err);
    if (!f)
        return -1;
    ub_writer *z = ub_zstd_writer(f, level, err);      /* z owns f */
    if (!z)
        return -1;
    /* odd-sized writes */
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        if (ub_write(z, data + off, k, err) < 0) {
            ub_writer_abort(z);
            return -1;
        }
        off += k;
        step = step * 3 + 1;
        if (step > 300000)
            step = 7;
    }
    T_INTEQ(z->bytes, n);
    return ub_writer_commit(z, err);
}

/* Reads the whole of path through the zstd reader with varying read sizes. */
static int read_zst(const char *path, ub_buf *out, ub_err *err)
{
    ub_reader *f = ub_file_reader_open(path, err);
    if (!f)
        return -1;
    ub_reader *z = ub_zstd_reader(f, err);
    if (!z)
        return -1;
    char buf[70000];
    size_t step = 1;
    int rc = 0;
    for (;;) {
        ssize_t k = ub_read(z, buf, step, err);
        if (k < 0) {
            rc = -1;
            break;
        }
        if (k == 0)
            break;
        ub_buf_add(out, buf, (size_t)k);
        step = step * 2 + 1;
        if (step > sizeof buf)
            step = 3;
    }
    ub_reader_close(z);
    return rc;
}

static int have_zstd_cli(void)
{
    return system("command -v zstd >/dev/null 2>&1") == 0;
}

static void test_zstd(void)
{
    ub_err err = { "" };
    size_t n = 5u << 20;                          /* a few MB */
    char *data = make_data(n, 42);
    T_CHECK(data != NULL);
    const char *zp = pathf("z/data.csv.zst");
    T_CHECK(write_zst(zp, data, n, 0, &err) == 0);
    ub_buf raw = UB_BUF_INIT, got = UB_BUF_INIT;
    T_CHECK(slurp(zp, &raw) == 0);
    T_CHECK(raw.len > 4 && memcmp(raw.p, "\x28\xB5\x2F\xFD", 4) == 0);   /* zstd magic */
    T_CHECK(raw.len < n);
    T_CHECK(read_zst(zp, &got, &err) == 0);
    T_CHECK(got.len == n && memcmp(got.p, data, n) == 0);

    /* independent decoder/encoder: the zstd command line tool */
    if (have_zstd_cli()) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "zstd -q -d -c '%s' > '%s'", zp, pathf("z/cli.out"));
        T_INTEQ(system(cmd), 0);
        ub_buf cli = UB_BUF_INIT;
        T_CHECK(slurp(pathf("z/cli.out"), &cli) == 0);
        T_CHECK(cli.len == n && memcmp(cli.p, data, n) == 0);
        ub_buf_free(&cli);
        put_file(pathf("z/plain"), data, n);
        snprintf(cmd, sizeof cmd, "zstd -q -19 -c '%s' > '%s'", pathf("z/plain"), pathf("z/cli.zst"));
        T_INTEQ(system(cmd), 0);
        ub_buf_reset(&got);
        T_CHECK(read_zst(pathf("z/cli.zst"), &got, &err) == 0);
        T_CHECK(got.len == n && memcmp(got.p, data, n) == 0);
    }

    /* concatenated frames decode as one stream */
    const char *a = "first frame,", *b = "second frame\n";
    T_CHECK(write_zst(pathf("z/a.zst"), a, strlen(a), 1, &err) == 0);
    T_CHECK(write_zst(pathf("z/b.zst"), b, strlen(b), 19, &err) == 0);
    ub_buf cat = UB_BUF_INIT;
    T_CHECK(slurp(pathf("z/a.zst"), &cat) == 0 && slurp(pathf("z/b.zst"), &cat) == 0);
    T_CHECK(slurp(pathf("z/a.zst"), &cat) == 0);
    put_file(pathf("z/cat.zst"), cat.p, cat.len);
    ub_buf_reset(&got);
    T_CHECK(read_zst(pathf("z/cat.zst"), &got, &err) == 0);
    T_STREQ(ub_buf_str(&got), "first frame,second frame\nfirst frame,");

    /* an empty stream still makes a frame, which decodes to nothing */
    T_CHECK(write_zst(pathf("z/empty.zst"), "", 0, 0, &err) == 0);
    ub_buf_reset(&got);
    T_CHECK(read_zst(pathf("z/empty.zst"), &got, &err) == 0);
    T_INTEQ(got.len, 0);

    /* truncated: cut the big file short, cut inside the header, and empty */
    char want[700];
    static const size_t cuts[] = { 10, 5, 0 };
    for (size_t i = 0; i < 3; i++) {
        size_t keep = cuts[i] == 10 ? raw.len - 10 : cuts[i];
        put_file(pathf("z/trunc.csv.zst"), raw.p, keep);
        ub_buf_reset(&got);
        T_CHECK(read_zst(pathf("z/trunc.csv.zst"), &got, &err) == -1);
        snprintf(want, sizeof want, "'%s': truncated zstd frame", pathf("z/trunc.csv.zst"));
        T_STREQ(err.msg, want);
    }
    /* truncated after a whole frame of a concatenation: still an error */
    size_t alen = cat.len / 2 + 3;
    put_file(pathf("z/trunc2.zst"), cat.p, alen);
    ub_buf_reset(&got);
    T_CHECK(read_zst(pathf("z/trunc2.zst"), &got, &err) == -1);
    T_CHECK(strstr(err.msg, "zstd") != NULL);

    /* corrupt: flip bytes in the middle; the checksum or the decoder catches it */
    raw.p[raw.len / 2] ^= 0x55;
    raw.p[raw.len / 2 + 1] ^= 0x0F;
    put_file(pathf("z/bad.csv.zst"), raw.p, raw.len);
    ub_buf_reset(&got);
    T_CHECK(read_zst(pathf("z/bad.csv.zst"), &got, &err) == -1);
    snprintf(want, sizeof want, "'%s': corrupt zstd data (", pathf("z/bad.csv.zst"));
    T_CHECK(strncmp(err.msg, want, strlen(want)) == 0);
    /* not zstd at all */
    put_file(pathf("z/plain.zst"), "hello, world\n", 13);
    ub_buf_reset(&got);
    T_CHECK(read_zst(pathf("z/plain.zst"), &got, &err) == -1);
    snprintf(want, sizeof want, "'%s': corrupt zstd data (", pathf("z/plain.zst"));
    T_CHECK(strncmp(err.msg, want, strlen(want)) == 0);

    /* abort through the zstd writer leaves nothing */
    ub_writer *f = ub_file_writer_open(pathf("z/aborted.zst"), 0, &err);
    ub_writer *z = ub_zstd_writer(f, 3, &err);
    T_CHECK(z && ub_write(z, data, 100000, &err) == 0);
    ub_writer_abort(z);
    T_INTEQ(count_entries(pathf("z"), "aborted"), 0);

    /* when wrapping fails (out of memory) the wrapped stream stays the caller's */
    for (long k = 1; k <= 2; k++) {
        ub_reader *in = ub_file_reader_open(pathf("z/plain"), &err);
        T_CHECK(in != NULL);
        ub_mem_fail_after(k);
        ub_reader *zr = ub_zstd_reader(in, &err);
        ub_mem_fail_after(0);
        T_CHECK(zr == NULL);
        T_STREQ(err.msg, "out of memory");
        char four[4];
        T_INTEQ(ub_read(in, four, 4, &err), 4);               /* still usable */
        ub_reader_close(in);
        ub_writer *out = ub_file_writer_open(pathf("z/kept.txt"), 0, &err);
        T_CHECK(out != NULL);
        ub_mem_fail_after(k);
        ub_writer *zw = ub_zstd_writer(out, 0, &err);
        ub_mem_fail_after(0);
        T_CHECK(zw == NULL);
        T_CHECK(ub_write(out, "kept", 4, &err) == 0);
        T_CHECK(ub_writer_commit(out, &err) == 0);
        ub_buf_reset(&got);
        T_CHECK(slurp(pathf("z/kept.txt"), &got) == 0);
        T_STREQ(ub_buf_str(&got), "kept");
    }

    ub_buf_free(&raw);
    ub_buf_free(&got);
    ub_buf_free(&cat);
    ub_free(data);
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- drop-behind -------------------------------------------------------- */

/* pages of [0, len) of the file at path now in the page cache, or -1 */
static long resident_pages(const char *path, size_t len)
{
    long n = -1, pg = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    size_t np = (len + (size_t)pg - 1) / (size_t)pg;
    unsigned char *v = malloc(np);
    if (m != MAP_FAILED && v && mincore(m, len, v) == 0) {
        n = 0;
        for (size_t i = 0; i < np; i++)
            n += v[i] & 1;
    }
    free(v);
    if (m != MAP_FAILED)
        munmap(m, len);
    close(fd);
    return n;
}

static void test_drop_behind(void)
{
    const size_t total = (40u << 20) + 12345, head = 16u << 20;
    const long head_pages = (long)(head / (size_t)sysconf(_SC_PAGESIZE));
    ub_err err = { "" };
    struct statfs sf;
    /* tmpfs keeps a file's pages whatever it is told: nothing to see there */
    int cache_hint_works = statfs(tmpdir, &sf) == 0 && sf.f_type != 0x01021994 /* TMPFS_MAGIC */;
    char *data = make_data(total, 7), *chunk = ub_malloc(123457);
    ub_writer *w = data && chunk ? ub_file_writer_open(pathf("drop/obj.csv"), UB_FW_MKDIRS | UB_FW_DROP_BEHIND, &err)
                                 : NULL;
    T_CHECK(w != NULL);
    if (!w) {
        ub_free(data);
        ub_free(chunk);
        return;
    }
    /* odd sizes: small gathered writes and large direct ones, none window-aligned */
    size_t off = 0, k = 0;
    while (off < total) {
        size_t n = (k++ % 3 == 0) ? 777 : 199999;
        if (n > total - off)
            n = total - off;
        T_CHECK(ub_write(w, data + off, n, &err) == 0);
        off += n;
    }
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", ub_file_writer_tmp(w));
    long before = resident_pages(tmp, head);
    T_CHECK(before >= 0);
    if (cache_hint_works) {   /* the first 16 MiB were written back and let go before the end */
        if (before >= head_pages / 4)
            fprintf(stderr, "%ld of %ld pages of the written head still cached\n", before, head_pages);
        T_CHECK(before < head_pages / 4);
    }
    T_CHECK(ub_writer_commit(w, &err) == 0);

    /* reading it back with drop-behind: every byte as written, in odd-sized reads */
    int fd = open(pathf("drop/obj.csv"), O_RDONLY);
    T_CHECK(fd >= 0);
    ub_reader *r = fd >= 0 ? ub_fd_reader(fd, "obj.csv", UB_FD_OWN | UB_FD_DROP_BEHIND, &err) : NULL;
    T_CHECK(r != NULL);
    size_t got = 0, bad = 0;
    ssize_t n;
    while (r && (n = ub_read(r, chunk, 123457, &err)) > 0) {
        bad += got + (size_t)n > total || memcmp(chunk, data + got, (size_t)n) != 0;
        got += (size_t)n;
    }
    T_CHECK(got == total);
    T_INTEQ(bad, 0);   /* reads that differ from what was written */
    long after = resident_pages(pathf("drop/obj.csv"), head);
    if (cache_hint_works) {
        if (after < 0 || after >= head_pages / 4)
            fprintf(stderr, "%ld of %ld pages of the read head still cached\n", after, head_pages);
        T_CHECK(after >= 0 && after < head_pages / 4);
    }
    ub_reader_close(r);
    ub_free(chunk);
    ub_free(data);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_atomic_writer();
    test_readers_and_copy();
    test_sweep();
    test_zstd();
    test_drop_behind();
    rm_rf(tmpdir);
    return t_done("test_stream");
}
