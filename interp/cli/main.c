/* main.c — the ubpipe command line: verbs, options, exit codes. */
#include "emr/emr.h"
#include "cli/s3cli.h"
#include "cli/serve.h"
#include "core/engine.h"
#include "base/mem.h"
#include "core/plan.h"
#include "core/run.h"
#include "core/schema.h"
#include "web/dagsvg.h"
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit codes, as documented in ubpipe(1). */
enum { EXIT_OK = 0, EXIT_TASK = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: ubpipe <command> [options]\n"
    "\n"
    "Commands:\n"
    "  run FILE        run the pipeline for a ds (resumes a failed run)\n"
    "  plan FILE       show every effect of a run, rendered; touches nothing\n"
    "  validate FILE…  check specs; exit 0 when valid, 2 on errors\n"
    "  render FILE X   render a template text, a task (all its parameters) or TASK.KEY\n"
    "  graph FILE      print the task graph (--format dot|mermaid|svg)\n"
    "  status FILE     task states of a run, from the journal\n"
    "  logs FILE TASK  the log of each try of a task (--try N for one)\n"
    "  help [OP]       this text, or an operator's parameters\n"
    "  schema          print the JSON Schema of the spec format\n"
    "  s3 ls|cp|presign  list, copy (either side local or s3://) and presign S3 objects\n"
    "  serve FILE…     the scheduler daemon, web UI and JSON API (see ubpipe-serve(1))\n"
    "\n"
    "Options:\n"
    "  --ds DATE         logical date YYYY-MM-DD (default: yesterday, UTC)\n"
    "  --from D1 --to D2 run/plan/status: every date from D1 to D2, in order (backfill)\n"
    "  --profile NAME    profile of the spec to use (default: local)\n"
    "  -p, --param K=V   override a param of the spec (repeatable)\n"
    "  --format FMT      plan/status: text|json; graph: dot|mermaid|svg\n"
    "  --rerun           run: run every task, even those already successful\n"
    "  --only T1,T2      run: only these tasks (their upstream is taken as done)\n"
    "  --downstream      run: with --only, also every task downstream of them\n"
    "  -j, --jobs N      run: tasks running at once (default: the number of cores)\n"
    "  --max-active-runs N  run: dates of a backfill in progress at once (default: no limit)\n"
    "  --log-format FMT  run: text (default) or json (one JSON object per event on stderr)\n"
    "  --try N           logs: only this try\n"
    "  -q, --quiet       run: no progress lines\n"
    "  -h, --help        this text\n"
    "  --version         the version\n"
    "\n"
    "Environment: UBPIPE_HOME (state directory, default ./.ubpipe), UBPIPE_CONN_<NAME>\n"
    "(overrides connection NAME of the profile), NO_COLOR, UBPIPE_KILL_GRACE (seconds\n"
    "between SIGTERM and SIGKILL of a stopped task, default 10).\n"
    "Exit status: 0 success, 1 a task failed, 2 usage or spec error.\n"
    "See ubpipe(1), ubpipe-pipeline(5), ubpipe-lua(7).\n";

typedef struct cli {
    const char *verb;
    const char *ds, *profile, *format, *only, *from, *to, *log_format;
    int rerun, downstream, quiet, try_no, jobs, max_active_runs;
    ub_kv params[64];
    size_t nparams;
    char **args;
    int nargs;
} cli;

static void on_signal(int sig)
{
    (void)sig;
    ub_cancel_requested = 1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ubpipe: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'ubpipe --help'.\n", stderr);
    return EXIT_USAGE;
}

static int parse(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "ds", required_argument, NULL, 'd' },      { "profile", required_argument, NULL, 'P' },
        { "param", required_argument, NULL, 'p' },   { "format", required_argument, NULL, 'f' },
        { "rerun", no_argument, NULL, 'r' },         { "only", required_argument, NULL, 'o' },
        { "downstream", no_argument, NULL, 'D' },    { "try", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },         { "help", no_argument, NULL, 'h' },
        { "jobs", required_argument, NULL, 'j' },    { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },      { "max-active-runs", required_argument, NULL, 'M' },
        { "log-format", required_argument, NULL, 'L' },
        { "version", no_argument, NULL, 'V' },       { NULL, 0, NULL, 0 }
    };
    int ch;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":p:j:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': c->ds = optarg; break;
        case 'P': c->profile = optarg; break;
        case 'f': c->format = optarg; break;
        case 'r': c->rerun = 1; break;
        case 'o': c->only = optarg; break;
        case 'D': c->downstream = 1; break;
        case 'q': c->quiet = 1; break;
        case 't': c->try_no = atoi(optarg); break;
        case 'F': c->from = optarg; break;
        case 'T': c->to = optarg; break;
        case 'L': c->log_format = optarg; break;
        case 'j':
        case 'M': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < (ch == 'j' ? 1 : 0) || v > 256)
                return usage_error("%s wants a number from %d to 256, not '%s'", ch == 'j' ? "--jobs" : "--max-active-runs",
                                   ch == 'j' ? 1 : 0, optarg);
            *(ch == 'j' ? &c->jobs : &c->max_active_runs) = (int)v;
            break;
        }
        case 'h': fputs(usage_text, stdout); exit(EXIT_OK);
        case 'V': printf("ubpipe %s\n", UB_VERSION); exit(EXIT_OK);
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return usage_error("-p wants KEY=VALUE, not '%s'", optarg);
            if (c->nparams == sizeof c->params / sizeof *c->params)
                return usage_error("too many -p options");
            *eq = '\0';
            c->params[c->nparams].key = optarg;
            c->params[c->nparams++].val = eq + 1;
            break;
        }
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:  return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    c->args = argv + optind;
    c->nargs = argc - optind;
    return 0;
}

static void print_param_table(const ub_opdesc *op, FILE *out)
{
    fprintf(out, "%s — %s\n\n", op->name, op->summary);
    /* wrap the doc at ~76 columns */
    const char *d = op->doc;
    while (*d) {
        size_t l = strlen(d);
        size_t cut = l;
        if (l > 76) {
            cut = 76;
            while (cut > 0 && d[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = 76;
        }
        fprintf(out, "  %.*s\n", (int)cut, d);
        d += cut;
        while (*d == ' ')
            d++;
    }
    fprintf(out, "\nParameters:\n");
    for (const ub_param *p = op->params; p->name; p++) {
        fprintf(out, "  %-14s %-10s %s", p->name, ub_ptype_name(p->type), p->required ? "required" : "optional");
        if (p->def)
            fprintf(out, ", default %s", p->def);
        if (p->choices && p->type == UB_T_ENUM)
            fprintf(out, ", one of %s", p->choices);
        fprintf(out, "\n      %s\n", p->desc);
    }
    if (!op->params[0].name)
        fprintf(out, "  (none)\n");
    fprintf(out, "\nEvery task also takes: op, after, description, retries, retry_delay,\n"
                 "retry_backoff, max_retry_delay, timeout, on_success, on_failure, on_retry\n"
                 "(see ubpipe-pipeline(5)).\n");
}

static int cmd_help(const cli *c)
{
    if (c->nargs == 0) {
        fputs(usage_text, stdout);
        printf("\nOperators:\n");
        for (const ub_opdesc *const *o = ub_op_all(); *o; o++)
            printf("  %-16s %s\n", (*o)->name, (*o)->summary);
        return EXIT_OK;
    }
    const ub_opdesc *op = ub_op_find(c->args[0]);
    if (!op)
        return usage_error("no operator '%s' (see 'ubpipe help')", c->args[0]);
    print_param_table(op, stdout);
    return EXIT_OK;
}

static int finish(ub_diag *d, int rc)
{
    if (ub_diag_flush(d, stderr) && rc == EXIT_OK)
        rc = EXIT_USAGE;
    ub_diag_free(d);
    return rc;
}

static const char *self_exe(char *buf, size_t cap, const char *argv0)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n > 0) {
        buf[n] = '\0';
        return buf;
    }
    return argv0;
}

int main(int argc, char **argv)
{
    cli c = { 0 };
    ub_diag d;
    char exe[PATH_MAX];
    /* jansson allocates through ub_malloc too, so tests can make it fail */
    json_set_alloc_funcs(ub_malloc, ub_free);
    if (argc >= 2 && strcmp(argv[1], "__emr-local-runner") == 0)
        return ub_emr_local_runner_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "s3") == 0)
        return ub_s3cli_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return ub_cmd_serve(argc - 1, argv + 1);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (argv[1][0] != '-') {
        c.verb = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    if (parse(&c, argc, argv))
        return EXIT_USAGE;
    if (!c.verb)
        return usage_error("missing command");
    if (strcmp(c.verb, "help") == 0)
        return cmd_help(&c);
    if (strcmp(c.verb, "schema") == 0) {
        char *js = ub_schema_json();
        if (!js)
            return usage_error("out of memory");
        printf("%s\n", js);
        ub_free(js);
        return EXIT_OK;
    }
    if (strcmp(c.verb, "version") == 0) {
        printf("ubpipe %s\n", UB_VERSION);
        return EXIT_OK;
    }
    static const char *const verbs[] = { "run", "plan", "validate", "render", "graph", "status", "logs", "help",
                                         "version", "schema", NULL };
    int known = 0;
    for (size_t i = 0; verbs[i]; i++)
        known |= strcmp(verbs[i], c.verb) == 0;
    if (!known) {
        const char *sug = ub_suggest(c.verb, verbs);
        fprintf(stderr, "ubpipe: unknown command '%s'%s%s%s\nTry 'ubpipe --help'.\n", c.verb,
                sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        return EXIT_USAGE;
    }
    if (c.nargs < 1)
        return usage_error("'%s' needs a pipeline file", c.verb);
    if (c.format) {
        int graph = strcmp(c.verb, "graph") == 0;
        if (graph ? strcmp(c.format, "dot") && strcmp(c.format, "mermaid") && strcmp(c.format, "svg")
                  : strcmp(c.format, "text") && strcmp(c.format, "json"))
            return graph ? usage_error("--format must be dot, mermaid or svg, not '%s'", c.format)
                         : usage_error("--format must be text or json, not '%s'", c.format);
    }
    if (c.log_format && strcmp(c.log_format, "text") && strcmp(c.log_format, "json"))
        return usage_error("--log-format must be text or json, not '%s'", c.log_format);
    if ((c.from || c.to) && strcmp(c.verb, "run") && strcmp(c.verb, "plan") && strcmp(c.verb, "status"))
        return usage_error("--from/--to go with run, plan and status, not '%s'", c.verb);
    ub_diag_init(&d);
    ub_secret_scan_env();

    if (strcmp(c.verb, "validate") == 0) {
        int bad = 0;
        for (int i = 0; i < c.nargs; i++) {
            ub_spec *s = ub_spec_load(c.args[i], &d);
            bad |= s == NULL;
            ub_spec_free(s);
            ub_diag_flush(&d, stderr);
        }
        if (!bad && !c.quiet)
            fprintf(stderr, "ubpipe: %d spec%s valid\n", c.nargs, c.nargs == 1 ? "" : "s");
        return finish(&d, bad ? EXIT_USAGE : EXIT_OK);
    }
    if ((strcmp(c.verb, "render") == 0 || strcmp(c.verb, "logs") == 0) && c.nargs != 2)
        return finish(&d, usage_error("'%s' needs a pipeline file and one more argument", c.verb));
    if (strcmp(c.verb, "render") != 0 && strcmp(c.verb, "logs") != 0 && c.nargs != 1)
        return finish(&d, usage_error("'%s' takes one pipeline file", c.verb));

    ub_spec *s = ub_spec_load(c.args[0], &d);
    if (!s)
        return finish(&d, EXIT_USAGE);
    int rc = EXIT_OK;
    ub_ds *dates = NULL;
    size_t ndates = 0;
    ub_err derr;
    if (ub_run_dates(c.ds, c.from, c.to, &dates, &ndates, &derr)) {
        ub_diag_error(&d, (ub_loc){ NULL, 0, 0 }, "%s", derr.msg);
        ub_spec_free(s);
        return finish(&d, EXIT_USAGE);
    }
    if (strcmp(c.verb, "graph") == 0) {
        ub_err gerr;
        if (c.format && strcmp(c.format, "svg") == 0 && ub_dagsvg_spec(s, stdout, &gerr)) {
            ub_diag_error(&d, (ub_loc){ NULL, 0, 0 }, "%s", gerr.msg);
            rc = EXIT_USAGE;
        } else if (!c.format || strcmp(c.format, "svg"))
            rc = ub_plan_graph(s, c.format, stdout);
        ub_free(dates);
        ub_spec_free(s);
        return finish(&d, rc);
    }
    ub_engine_opts eo = { .ds = c.ds, .profile = c.profile, .params = c.params, .nparams = c.nparams,
                          .planning = strcmp(c.verb, "run") != 0, .self_exe = self_exe(exe, sizeof exe, argv[0]) };
    int json = c.format && strcmp(c.format, "json") == 0;
    ub_run_opts ro = { .rerun = c.rerun, .only = c.only, .downstream = c.downstream, .quiet = c.quiet,
                       .jobs = c.jobs, .max_active_runs = c.max_active_runs ? c.max_active_runs : s->max_active_runs,
                       .log_json = c.log_format && strcmp(c.log_format, "json") == 0 };
    int range = c.from != NULL;
    ub_engine *e = NULL;
    if (strcmp(c.verb, "run") == 0) {
        /* a new engine per date, inside ub_run; check the first one here so
         * that spec errors exit 2 before anything runs */
        eo.ds = dates[0].s;
        eo.planning = 1;
        e = ub_engine_new(s, &eo, &d);
        if (e) {
            ub_engine_free(e);
            e = NULL;
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigaction(SIGINT, &sa, NULL);
            sigaction(SIGTERM, &sa, NULL);
            signal(SIGPIPE, SIG_IGN);
            eo.planning = 0;
            rc = ub_run(s, &eo, dates, ndates, &ro, &d);
        } else {
            rc = EXIT_USAGE;
        }
    } else if (strcmp(c.verb, "status") == 0) {
        rc = ub_run_status(s, &eo, dates, ndates, json, stdout, &d);
    } else if (strcmp(c.verb, "plan") == 0 && range) {
        rc = ub_run_plan_range(s, &eo, dates, ndates, &ro, json, stdout, &d);
    } else if ((e = ub_engine_new(s, &eo, &d)) == NULL) {
        rc = EXIT_USAGE;
    } else if (strcmp(c.verb, "plan") == 0) {
        rc = ub_plan_print(e, json, stdout, &d);
    } else if (strcmp(c.verb, "render") == 0) {
        rc = ub_plan_render(e, c.args[1], stdout, &d);
    } else {
        rc = ub_run_logs(e, c.args[1], c.try_no, stdout, &d);
    }
    ub_engine_free(e);
    ub_free(dates);
    ub_spec_free(s);
    ub_secret_reset();
    return finish(&d, rc);
}
