/* test_fsutil.c — io/fsutil: rm -r, small reads, atomic replace, lock files, pids, the temp sweeper. */
#include "t.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/fsutil.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/ub_test_fsutil.XXXXXX";

static const char *at(const char *rel)
{
    static char buf[4][512];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, rel);
    return b;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void touch(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    T_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
}

/* a pid that existed and is gone now */
static long long gone_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (long long)p;
}

int main(void)
{
    ub_err err;
    ub_buf b = UB_BUF_INIT;
    T_CHECK(mkdtemp(dir) != NULL);

    /* atomic replace: parents made, content replaced, no temp left */
    T_INTEQ(ub_write_file_atomic(at("a/b/f.txt"), "one", 3, &err), 0);
    T_INTEQ(ub_write_file_atomic(at("a/b/f.txt"), "two!", 4, &err), 0);
    T_INTEQ(ub_read_small(at("a/b/f.txt"), &b, 100, &err), 1);
    T_STREQ(b.p, "two!");
    T_INTEQ(ub_sweep_tmp(dir), 0);
    /* small reads: missing is 0, too large is an error naming the file */
    T_INTEQ(ub_read_small(at("nope"), &b, 100, &err), 0);
    T_INTEQ(ub_read_small(at("a/b/f.txt"), &b, 3, &err), -1);
    char want[600];
    snprintf(want, sizeof want, "'%s' is larger than 3 bytes", at("a/b/f.txt"));
    T_STREQ(err.msg, want);
    T_INTEQ(ub_write_file_atomic(at("empty"), "", 0, &err), 0);
    T_INTEQ(ub_read_small(at("empty"), &b, 3, &err), 1);
    T_STREQ(b.p, "");

    /* ub_open_regular: a regular file opens (blocking again); a FIFO is refused
     * at once (no writer: a plain open would wait for ever), a directory and a
     * device by name; a missing file is errno */
    {
        const char *bad = "unset";
        int fd = ub_open_regular(at("a/b/f.txt"), &bad);
        T_CHECK(fd >= 0);
        T_CHECK(bad == NULL);
        if (fd >= 0) {
            T_INTEQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
            char c4[4];
            T_INTEQ(read(fd, c4, 4), 4);
            close(fd);
        }
        T_INTEQ(mkfifo(at("fifo"), 0600), 0);
        T_INTEQ(ub_open_regular(at("fifo"), &bad), -1);
        T_STREQ(bad, "is a FIFO, not a file");
        T_INTEQ(ub_open_regular(at("a"), &bad), -1);
        T_STREQ(bad, "is a directory, not a file");
        T_INTEQ(ub_open_regular("/dev/null", &bad), -1);
        T_STREQ(bad, "is a device, not a file");
        errno = 0;
        T_INTEQ(ub_open_regular(at("nope"), &bad), -1);
        T_CHECK(bad == NULL);
        T_INTEQ(errno, ENOENT);
        unlink(at("fifo"));
    }

    /* temp names carry the mark and the pid; they are unique */
    ub_buf t1 = UB_BUF_INIT, t2 = UB_BUF_INIT;
    T_INTEQ(ub_tmp_name(&t1, "x/y"), 0);
    T_INTEQ(ub_tmp_name(&t2, "x/y"), 0);
    snprintf(want, sizeof want, "x/y" UB_TMP_MARK "%ld.", (long)getpid());
    T_CHECK(strncmp(t1.p, want, strlen(want)) == 0);
    T_CHECK(strcmp(t1.p, t2.p) != 0);
    ub_buf_free(&t1);
    ub_buf_free(&t2);

    /* pids: ours is alive, a reaped child is not, nonsense is not */
    T_INTEQ(ub_pid_alive((long long)getpid()), 1);
    long long dead = gone_pid();
    T_INTEQ(ub_pid_alive(dead), 0);
    T_INTEQ(ub_pid_alive(0), 0);
    T_INTEQ(ub_pid_alive(-5), 0);
    T_INTEQ(ub_pid_alive(1LL << 40), 0);

    /* staleness: a dead writer's temp, a garbled one; not ours, not a live one, not unmarked */
    char nm[200];
    snprintf(nm, sizeof nm, "f" UB_TMP_MARK "%lld.0", dead);
    T_INTEQ(ub_tmp_is_stale(nm), 1);
    T_INTEQ(ub_tmp_is_stale("f" UB_TMP_MARK "xyz"), 1);
    snprintf(nm, sizeof nm, "f" UB_TMP_MARK "%ld.3", (long)getpid());
    T_INTEQ(ub_tmp_is_stale(nm), 0);
    snprintf(nm, sizeof nm, "f" UB_TMP_MARK "%ld.3", (long)getppid());
    T_INTEQ(ub_tmp_is_stale(nm), 0);
    T_INTEQ(ub_tmp_is_stale("plain.csv"), 0);

    /* the sweeper: a dead writer's files and directories go, at any depth;
     * live writers' temps and ordinary files stay */
    T_INTEQ(ub_mkdirs(at("s/deep/er")), 0);
    char p1[600], p2[600], p3[600], p4[600];
    snprintf(p1, sizeof p1, "%s/s/deep/er/obj" UB_TMP_MARK "%lld.1", dir, dead);
    snprintf(p2, sizeof p2, "%s/s/out" UB_TMP_MARK "%lld.0", dir, dead);
    snprintf(p3, sizeof p3, "%s/s/mine" UB_TMP_MARK "%ld.0", dir, (long)getpid());
    snprintf(p4, sizeof p4, "%s/s/out" UB_TMP_MARK "%lld.0/part-00000.csv", dir, dead);
    touch(p1);
    T_INTEQ(mkdir(p2, 0755), 0);
    touch(p4);
    touch(p3);
    touch(at("s/deep/keep.csv"));
    T_INTEQ(ub_sweep_tmp(at("s")), 2);
    T_CHECK(!exists(p1));
    T_CHECK(!exists(p2));
    T_CHECK(exists(p3));
    T_CHECK(exists(at("s/deep/keep.csv")));
    T_INTEQ(ub_sweep_tmp(at("missing")), 0);
    /* the temps of one path: a dead writer's and our own go, others' stay */
    snprintf(p1, sizeof p1, "%s/s/out" UB_TMP_MARK "%ld.7", dir, (long)getppid());
    snprintf(p2, sizeof p2, "%s/s/other" UB_TMP_MARK "%lld.0", dir, dead);
    touch(p1);
    touch(p2);
    ub_sweep_tmp_of(at("s/mine"));
    T_CHECK(!exists(p3));
    T_CHECK(exists(p1));
    T_CHECK(exists(p2));             /* another path's temp: not this sweep's business */

    /* lock files: a second taker is told it is busy; closing frees it */
    int fd = ub_lock_file(at("l.lock"), 1, &err);
    T_CHECK(fd >= 0);
    pid_t child = fork();
    if (child == 0)
        _exit(ub_lock_file(at("l.lock"), 1, &err) == -2 ? 0 : 1);
    int status = -1;
    waitpid(child, &status, 0);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    child = fork();
    if (child == 0)
        _exit(ub_lock_file(at("l.lock"), 1, &err) >= 0 ? 0 : 1);
    waitpid(child, &status, 0);
    T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    T_INTEQ(ub_lock_file(at("no/such/dir/l.lock"), 1, &err), -1);
    T_CHECK(strstr(err.msg, "could not open lock") != NULL);

    /* dir_of */
    char *d = ub_dir_of("/x");
    T_STREQ(d, "/");
    ub_free(d);
    d = ub_dir_of("name");
    T_STREQ(d, ".");
    ub_free(d);
    d = ub_dir_of("a/b/c");
    T_STREQ(d, "a/b");
    ub_free(d);

    /* rm -r: everything, never through a symlink */
    T_INTEQ(ub_mkdirs(at("keep")), 0);
    touch(at("keep/precious"));
    T_INTEQ(symlink(at("keep"), at("s/link")), 0);
    T_INTEQ(ub_rm_tree(at("s")), 0);
    T_CHECK(!exists(at("s")));
    T_CHECK(exists(at("keep/precious")));
    T_INTEQ(ub_rm_tree(at("s")), 0);       /* missing is fine */
    ub_buf_free(&b);
    T_INTEQ(ub_rm_tree(dir), 0);
    return t_done("test_fsutil");
}
