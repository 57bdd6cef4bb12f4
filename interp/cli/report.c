/* report.c — the `report` verb: one declared report, rendered for a ds. */
#include "cli/report.h"
#include "base/show.h"
#include "base/mem.h"
#include "base/secret.h"
#include "core/engine.h"
#include "io/stream.h"
#include "report/report.h"
#include "report/spec.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

enum { REP_OK = 0, REP_FAIL = 1, REP_USAGE = 2 };

static const char usage[] =
    "usage: ubpipe report FILE REPORT [--ds D] [--profile P] [-p K=V]... [-o OUT.html] [--check]\n"
    "  renders the report REPORT declared under `reports:` in the pipeline FILE into one self-contained\n"
    "  HTML file (default REPORT.html); --check prints the rendered queries and the block specs\n"
    "  without a database\n";

static int engine_render(void *ud, const char *text, size_t len, const char *where, ub_buf *out, ub_err *err)
{
    return ub_tmpl_render(ub_engine_lua(ud), text, len, where, out, err);
}

static int write_atomic(const char *path, const ub_buf *b, ub_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ub_err_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ub_err_set(err, "%s: %s", path, strerror(errno));   /* the target, not the temporary name */
    int rc = ub_write_all(fd, b->p, b->len);
    if (rc == 0 && fsync(fd))
        rc = -1;
    if (close(fd))
        rc = -1;
    if (rc == 0 && rename(tmp, path))
        rc = -1;
    if (rc) {
        ub_err_set(err, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int ub_cmd_report(int argc, char **argv)
{
    static const struct option longs[] = {
        { "ds", required_argument, NULL, 'd' },      { "profile", required_argument, NULL, 'P' },
        { "param", required_argument, NULL, 'p' },   { "output", required_argument, NULL, 'o' },
        { "check", no_argument, NULL, 'c' },         { "dry-run", no_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 }
    };
    const char *ds = NULL, *profile = NULL, *outpath = NULL;
    ub_kv params[64];
    size_t np = 0;
    int check = 0, opt, rc = REP_USAGE;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "p:o:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'd': ds = optarg; break;
        case 'P': profile = optarg; break;
        case 'o': outpath = optarg; break;
        case 'c': check = 1; break;
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || np == sizeof params / sizeof params[0]) {
                fputs("ubpipe report: -p wants KEY=VALUE, not '", stderr);
                ub_show_fputs(optarg, stderr);
                fputs("'\n", stderr);
                return REP_USAGE;
            }
            *eq = '\0';
            params[np].key = optarg;
            params[np++].val = eq + 1;
            break;
        }
        case 'h': fputs(usage, stdout); return REP_OK;
        default: fputs(usage, stderr); return REP_USAGE;
        }
    }
    if (argc - optind != 2) {
        fputs(usage, stderr);
        return REP_USAGE;
    }
    const char *file = argv[optind], *id = argv[optind + 1];
    ub_diag d;
    ub_diag_init(&d);
    ub_secret_scan_env();
    ub_spec *s = ub_spec_load(file, &d);
    ub_engine *e = NULL;
    ub_buf html = UB_BUF_INIT;
    ub_report_decl decl;
    if (!s || ub_report_find(s, id, &decl, &d))
        goto done;
    ub_engine_opts eo = { .ds = ds, .profile = profile, .params = params, .nparams = np, .planning = 1 };
    e = ub_engine_new(s, &eo, &d);
    if (!e)
        goto done;
    ub_report_opts ro = { .path = decl.path, .display = decl.display, .id = id, .title = decl.title,
                          .pipeline = s->pipeline, .ds = ub_engine_ds(e), .render = engine_render, .ud = e };
    if (check) {
        rc = ub_report_check(&ro, stdout, &d) ? REP_USAGE : REP_OK;
        goto done;
    }
    if (ub_report_check(&ro, NULL, &d))
        goto done;
    ro.dsn = ub_report_dsn(e, decl.conn, &d);
    if (!ro.dsn)
        goto done;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    if (ub_report_render(&ro, &html, &d)) {
        rc = REP_FAIL;
        goto done;
    }
    char def[512];
    if (!outpath) {
        snprintf(def, sizeof def, "%s.html", id);
        outpath = def;
    }
    ub_err err;
    if (write_atomic(outpath, &html, &err)) {
        fputs("ubpipe report: ", stderr);
        ub_show_fputs(err.msg, stderr);
        fputc('\n', stderr);
        rc = REP_FAIL;
        goto done;
    }
    gettimeofday(&t1, NULL);
    fprintf(stderr, "ubpipe: report %s for %s written to %s (%zu bytes, %.0f ms)\n", id, ub_engine_ds(e), outpath,
            html.len, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_usec - t0.tv_usec) / 1e3);
    rc = REP_OK;
done:
    ub_diag_flush(&d, stderr);
    ub_diag_free(&d);
    ub_buf_free(&html);
    ub_engine_free(e);
    ub_spec_free(s);
    ub_secret_reset();
    return rc;
}
