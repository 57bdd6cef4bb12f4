/* serve.c — `ubpipe serve FILE... [--listen HOST:PORT] [--read-only]
 * [--no-scheduler]`: the scheduler daemon and the web UI in one process
 * (web/serve.c, web/server.c; documented in ubpipe-serve(1)). */
#include "cli/serve.h"
#include "base/parse.h"
#include "base/show.h"
#include "base/date.h"
#include "base/mem.h"
#include "base/secret.h"
#include "io/stream.h"
#include "web/serve.h"
#include "web/server.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char serve_usage[] =
    "usage: ubpipe serve FILE... [--listen HOST:PORT] [--read-only] [--no-scheduler]\n"
    "  --listen HOST:PORT  address to serve on (default 127.0.0.1:8080; [::1]:8080 for IPv6;\n"
    "                      port 0 = a free one)\n"
    "  --read-only         refuse every POST (trigger, clear, pause)\n"
    "  --no-scheduler      start no run by schedule; POSTed runs still start\n"
    "Environment: UBPIPE_HOME (state directory), UBPIPE_SERVE_TOKEN (the token POSTs need; default the\n"
    "content of $UBPIPE_HOME/serve.token, created at first start), UBPIPE_SERVE_GRACE (seconds runs may\n"
    "take to finish after SIGTERM before they are cancelled, default 30).\n"
    "See ubpipe-serve(1).\n";

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "ubpipe serve: %s", msg);
    ub_show_fputs(arg, stderr);                       /* from the command line (base/show.h) */
    fprintf(stderr, "\n%s", serve_usage);
    return 2;
}

/* The token: UBPIPE_SERVE_TOKEN, else STATE/serve.token (created 0600
 * with 32 random bytes in hex when missing).  0 or -1 (message printed). */
static int load_token(const char *state_dir, char *out, size_t cap)
{
    const char *env = getenv("UBPIPE_SERVE_TOKEN");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/serve.token", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char r[32];
        size_t got = 0;
        while (got < sizeof r) {
            ssize_t n = getrandom(r + got, sizeof r - got, 0);
            if (n > 0)
                got += (size_t)n;
        }
        char hex[65];
        for (size_t i = 0; i < sizeof r; i++)
            snprintf(hex + 2 * i, 3, "%02x", r[i]);
        int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w >= 0) {
            int ok = write(w, hex, 64) == 64 && write(w, "\n", 1) == 1;
            close(w);
            if (!ok) {
                unlink(path);
                fprintf(stderr, "ubpipe serve: cannot write '%s'\n", path);
                return -1;
            }
            fprintf(stderr, "ubpipe serve: created the token file '%s' (mode 0600)\n", path);
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        fprintf(stderr, "ubpipe serve: cannot read the token file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "ubpipe serve: warning: '%s' is readable by others (chmod 600 it)\n", path);
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n < 0)
        n = 0;
    out[n] = 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = 0;
    if (n < 16) {
        fprintf(stderr, "ubpipe serve: the token in '%s' is shorter than 16 characters\n", path);
        return -1;
    }
    return 0;
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

int ub_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' }, { "read-only", no_argument, NULL, 'r' },
        { "no-scheduler", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *listen = "127.0.0.1:8080";
    int read_only = 0, scheduler = 1, opt, rc = 2, lockfd = -1;
    ub_serve *s = NULL;
    ub_server *srv = NULL;
    ub_diag d;
    ub_diag_init(&d);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case 'r': read_only = 1; break;
        case 'n': scheduler = 0; break;
        case 'h': fputs(serve_usage, stdout); ub_diag_free(&d); return 0;
        default: ub_diag_free(&d); return usage("bad option", "");
        }
    }
    if (optind >= argc) {
        ub_diag_free(&d);
        return usage("needs at least one pipeline file", "");
    }
    char host[256];
    const char *colon = strrchr(listen, ':');
    long long port = -1;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host ||
        ub_parse_dec(colon + 1, 0, 65535, &port, NULL)) {     /* no " 80", "+80", "0x50", overflow */
        ub_diag_free(&d);
        return usage("--listen takes HOST:PORT, not ", listen);
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    if (host[0] == '[') {            /* [IPv6]:PORT, as in a URL */
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']') {
            ub_diag_free(&d);
            return usage("--listen takes HOST:PORT or [IPv6]:PORT, not ", listen);
        }
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    } else if (strchr(host, ':')) {
        ub_diag_free(&d);
        return usage("--listen: an IPv6 address goes in brackets, [ADDR]:PORT, not ", listen);
    }

    /* the state directory, as `ubpipe run` finds it */
    char state[PATH_MAX];
    const char *home = getenv("UBPIPE_HOME");
    if (home && *home) {
        snprintf(state, sizeof state, "%s", home);
    } else {
        char cwd[PATH_MAX - 16];
        if (!getcwd(cwd, sizeof cwd))
            goto done;
        snprintf(state, sizeof state, "%s/.ubpipe", cwd);
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/serve", state);
    if (ub_mkdirs(path)) {
        fprintf(stderr, "ubpipe serve: cannot create '%s': %s\n", path, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/serve.lock", state);
    lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr,
                "ubpipe serve: another ubpipe serve is already running on state directory '%s' (lock '%s'); "
                "one daemon per state directory\n",
                state, path);
        goto done;
    }
    ub_secret_scan_env();
    char token[512];
    if (load_token(state, token, sizeof token))
        goto done;
    ub_secret_add(token);

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        goto done;
    exe[n] = 0;
    ub_err err;
    s = ub_serve_new(state, exe, read_only, scheduler, &err);
    if (!s) {
        fputs("ubpipe serve: ", stderr);
        ub_show_fputs(err.msg, stderr);
        fputc('\n', stderr);
        goto done;
    }
    int bad = 0;
    for (int i = optind; i < argc; i++)
        bad |= ub_serve_add(s, argv[i], &d) != 0;
    ub_diag_flush(&d, stderr);
    if (bad)
        goto done;
    /* connection secrets registered before any thread starts (secret.h) */
    ub_serve_tick(s, ub_now());

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int bound = 0;
    srv = ub_server_start(s, host, (int)port, token, &bound, &err);
    if (!srv) {
        fputs("ubpipe serve: ", stderr);
        ub_show_fputs(err.msg, stderr);
        fputc('\n', stderr);
        goto done;
    }
    printf(strchr(host, ':') ? "serving on http://[%s]:%d\n" : "serving on http://%s:%d\n", host, bound);
    fflush(stdout);
    if (!is_loopback(host))
        fprintf(stderr, "ubpipe serve: warning: listening on %s, which is not loopback: anyone who can reach it "
                        "sees the pages (POSTs still need the token); plain HTTP, no TLS\n", host);
    while (!stop_requested) {
        struct timespec ts = { 1, 0 };
        nanosleep(&ts, NULL);
        if (!stop_requested)
            ub_serve_tick(s, ub_now());
    }
    fprintf(stderr, "ubpipe serve: stopping\n");
    ub_server_quiesce(srv);
    double grace = 30;
    const char *g = getenv("UBPIPE_SERVE_GRACE");
    if (g && *g) {
        ub_err ge;
        if (ub_duration_parse(g, &grace, &ge))
            grace = 30;
    }
    ub_serve_shutdown(s, grace);
    ub_server_stop(srv);
    srv = NULL;
    rc = 0;
done:
    ub_server_stop(srv);
    ub_serve_free(s);
    ub_diag_free(&d);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}
