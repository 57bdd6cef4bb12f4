/* main.c — the ubpipe command line: the verb table, the common options, the
 * shared setup and the dispatch (in the manner of git's commands[] and
 * run_builtin()). The verbs themselves live one family per file: run.c,
 * inspect.c (plan, validate, render, graph, schema, help, version), state.c
 * (status, logs), s3cli.c (s3). */
#include "cli/cli.h"
#include "base/show.h"
#include "cli/report.h"
#include "cli/serve.h"
#include "cli/s3cli.h"
#include "base/mem.h"
#include "base/parse.h"
#include "base/secret.h"
#include "emr/emr.h"
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The verbs, in the order of the help text (ties in "did you mean" go to the
 * earlier one).
 *
 * Adding a verb is one line here plus its own file: write cli/<verb>.c with a
 * header cli/<verb>.h declaring `int ub_cmd_<verb>(int argc, char **argv)`
 * (argv[0] is the verb; it parses its own options and returns the exit
 * status), include the header above and add
 *     { .name = "<verb>", .run_argv = ub_cmd_<verb>, .args = "…", .help = "…" },
 * The help text, the "did you mean" and the dispatch all read this table. A verb
 * that wants the common options (--ds, --profile, -p …) and a loaded spec uses
 * .run = a function of ub_cli (cli.h) and the UB_VERB_* flags instead. */
#define ENGINE_OPTS (UB_OPT_DS | UB_OPT_PROFILE | UB_OPT_PARAM)   /* what makes an engine */
static const ub_verb verbs[] = {
    { .name = "run", .run = ub_cli_run, .flags = UB_VERB_SPEC | UB_VERB_RANGE | UB_VERB_SIGNALS, .nargs = 1,
      .opts = ENGINE_OPTS | UB_OPT_RERUN | UB_OPT_ONLY | UB_OPT_DOWNSTREAM | UB_OPT_QUIET | UB_OPT_JOBS
              | UB_OPT_MAX_ACTIVE | UB_OPT_LOG_FORMAT,
      .args = "FILE", .help = "run the pipeline for a ds (resumes a failed run)" },
    { .name = "plan", .run = ub_cli_plan, .flags = UB_VERB_SPEC | UB_VERB_RANGE, .nargs = 1,
      .opts = ENGINE_OPTS | UB_OPT_FORMAT | UB_OPT_RERUN | UB_OPT_ONLY | UB_OPT_DOWNSTREAM,
      .args = "FILE", .help = "show every effect of a run, rendered; touches nothing" },
    { .name = "validate", .run = ub_cli_validate, .flags = UB_VERB_SPEC | UB_VERB_MANY, .opts = UB_OPT_QUIET,
      .args = "FILE…", .help = "check specs; exit 0 when valid, 2 on errors" },
    { .name = "render", .run = ub_cli_render, .flags = UB_VERB_SPEC, .nargs = 2, .opts = ENGINE_OPTS,
      .args = "FILE X", .help = "render a template text, a task (all its parameters) or TASK.KEY" },
    { .name = "graph", .run = ub_cli_graph, .flags = UB_VERB_SPEC, .nargs = 1, .formats = { "dot", "mermaid", "svg" },
      .opts = UB_OPT_FORMAT,
      .args = "FILE", .help = "print the task graph (--format dot|mermaid|svg)" },
    { .name = "status", .run = ub_cli_status, .flags = UB_VERB_SPEC | UB_VERB_RANGE, .nargs = 1,
      .opts = ENGINE_OPTS | UB_OPT_FORMAT,
      .args = "FILE", .help = "task states of a run, from the journal" },
    { .name = "logs", .run = ub_cli_logs, .flags = UB_VERB_SPEC, .nargs = 2, .opts = ENGINE_OPTS | UB_OPT_TRY,
      .args = "FILE TASK", .help = "the log of each try of a task (--try N for one)" },
    { .name = "help", .run = ub_cli_help, .args = "[OP]", .help = "this text, or an operator's parameters" },
    { .name = "version", .run = ub_cli_version },
    { .name = "schema", .run = ub_cli_schema, .help = "print the JSON Schema of the spec format" },
    { .name = "report", .run_argv = ub_cmd_report, .args = "FILE ID",
      .help = "render a declared report into one HTML file (--check: queries only)" },
    { .name = "serve", .run_argv = ub_cmd_serve, .args = "FILE…",
      .help = "the scheduler daemon, web UI and JSON API (see ubpipe-serve(1))" },
    { .name = "s3", .run_argv = ub_cmd_s3, .args = "ls|cp|presign",
      .help = "list, copy (either side local or s3://) and presign S3 objects" },
    { .name = "__emr-local-runner", .run_argv = ub_emr_local_runner_main, .flags = UB_VERB_HIDDEN },
};
enum { NVERBS = sizeof verbs / sizeof *verbs };

static const char options_text[] =
    "Options:\n"
    "  --ds DATE         logical date YYYY-MM-DD (default: yesterday, UTC)\n"
    "  --from D1 --to D2 run/plan/status: every date from D1 to D2, in order (backfill)\n"
    "  --profile NAME    profile of the spec to use (default: local)\n"
    "  -p, --param K=V   override a param of the spec (repeatable)\n"
    "  --format FMT      plan/status: text|json; graph: dot|mermaid|svg\n"
    "  --rerun           run/plan: run every task, even those already successful\n"
    "  --rerun=T1,T2     run/plan: run these tasks and their downstream, even if up to date\n"
    "                    (also --rerun T1 FILE: the word after --rerun, when run has two)\n"
    "  --only T1,T2      run/plan: only these tasks (their upstream is taken as done)\n"
    "  --downstream      run/plan: with --only, also every task downstream of them\n"
    "  -j, --jobs N      run: tasks running at once (default: the number of cores)\n"
    "  --max-active-runs N  run: dates of a backfill in progress at once (default: spec's max_active_runs)\n"
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

void ub_cli_usage(FILE *out)
{
    fputs("usage: ubpipe <command> [options]\n\nCommands:\n", out);
    for (size_t i = 0; i < NVERBS; i++) {
        const ub_verb *v = &verbs[i];
        if (!v->help || (v->flags & UB_VERB_HIDDEN))
            continue;
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", v->name, v->args ? " " : "", v->args ? v->args : "");
        /* pad by characters, not bytes ("FILE…" holds a 3-byte one) */
        int width = 0;
        for (const unsigned char *p = (const unsigned char *)head; *p; p++)
            width += (*p & 0xC0) != 0x80;
        fprintf(out, "  %s%*s  %s\n", head, width < 14 ? 14 - width : 0, "", v->help);
    }
    fputs("\n", out);
    fputs(options_text, out);
}

int ub_cli_usage_error(const char *fmt, ...)
{
    /* made safe to print: the message quotes the command line (base/show.h) */
    ub_buf b = UB_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    ub_buf_adds(&b, "ubpipe: ");
    ub_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    ub_buf_adds(&b, "\nTry 'ubpipe --help'.\n");
    ub_show_fwrite(ub_buf_str(&b), b.len, stderr);
    ub_buf_free(&b);
    return UB_EXIT_USAGE;
}

void ub_cli_engine_opts(const ub_cli *c, ub_engine_opts *eo)
{
    *eo = (ub_engine_opts){ .ds = c->ds, .profile = c->profile, .params = c->params, .nparams = c->nparams,
                            .planning = 1, .self_exe = c->self_exe };
}

void ub_cli_run_opts(const ub_cli *c, ub_run_opts *ro)
{
    *ro = (ub_run_opts){ .rerun = c->rerun, .rerun_tasks = c->rerun_tasks, .only = c->only,
                         .downstream = c->downstream, .quiet = c->quiet, .jobs = c->jobs,
                         /* the flag, else the spec's max_active_runs */
                         .max_active_runs = c->max_active_runs ? c->max_active_runs
                                            : c->spec ? c->spec->max_active_runs : 0,
                         .log_json = c->log_format && strcmp(c->log_format, "json") == 0 };
}

int ub_cli_json(const ub_cli *c)
{
    return c->format && strcmp(c->format, "json") == 0;
}

/* The UB_OPT_* bit of a getopt code of parse() (0: --help, --version, errors). */
static unsigned opt_bit(int ch)
{
    switch (ch) {
    case 'd': return UB_OPT_DS;
    case 'P': return UB_OPT_PROFILE;
    case 'p': return UB_OPT_PARAM;
    case 'f': return UB_OPT_FORMAT;
    case 'r': return UB_OPT_RERUN;
    case 'o': return UB_OPT_ONLY;
    case 'D': return UB_OPT_DOWNSTREAM;
    case 't': return UB_OPT_TRY;
    case 'q': return UB_OPT_QUIET;
    case 'j': return UB_OPT_JOBS;
    case 'F': case 'T': return UB_OPT_RANGE;
    case 'M': return UB_OPT_MAX_ACTIVE;
    case 'L': return UB_OPT_LOG_FORMAT;
    default:  return 0;
    }
}

static const char *opt_name(int ch)
{
    switch (ch) {
    case 'd': return "--ds";
    case 'P': return "--profile";
    case 'p': return "-p";
    case 'f': return "--format";
    case 'r': return "--rerun";
    case 'o': return "--only";
    case 'D': return "--downstream";
    case 't': return "--try";
    case 'q': return "-q";
    case 'j': return "--jobs";
    case 'F': return "--from";
    case 'T': return "--to";
    case 'M': return "--max-active-runs";
    case 'L': return "--log-format";
    default:  return "?";
    }
}

/* The earlier value of a one-value option given again, else NULL (-p repeats; flags may). */
static const char *given_twice(const ub_cli *c, int ch)
{
    switch (ch) {
    case 'd': return c->ds;
    case 'P': return c->profile;
    case 'f': return c->format;
    case 'o': return c->only;
    case 'r': return optarg ? c->rerun_tasks : NULL;
    case 'F': return c->from;
    case 'T': return c->to;
    case 'L': return c->log_format;
    default:  return NULL;
    }
}

static int parse(ub_cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "ds", required_argument, NULL, 'd' },      { "profile", required_argument, NULL, 'P' },
        { "param", required_argument, NULL, 'p' },   { "format", required_argument, NULL, 'f' },
        { "rerun", optional_argument, NULL, 'r' },   { "only", required_argument, NULL, 'o' },
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
        const char *was = given_twice(c, ch);
        if (was)                                  /* the last would win, silently */
            return ub_cli_usage_error("%s given twice ('%s', then '%s'); give it once", opt_name(ch), was,
                                      optarg);
        if ((ch == 't' || ch == 'j' || ch == 'M') && (c->given & opt_bit(ch)))
            return ub_cli_usage_error("%s given twice; give it once", opt_name(ch));
        c->given |= opt_bit(ch);
        switch (ch) {
        case 'd': c->ds = optarg; break;
        case 'P': c->profile = optarg; break;
        case 'f': c->format = optarg; break;
        case 'r':
            if (optarg) {
                if (!*optarg)
                    return ub_cli_usage_error("--rerun= wants task ids (--rerun=T1,T2), or use --rerun alone");
                c->rerun_tasks = optarg;
            } else {
                c->rerun = 1;
                /* getopt has not moved the words yet: this is the one typed after --rerun */
                if (optind < argc && argv[optind][0] != '-')
                    c->rerun_word = argv[optind];
            }
            break;
        case 'o': c->only = optarg; break;
        case 'D': c->downstream = 1; break;
        case 'q': c->quiet = 1; break;
        case 'F': c->from = optarg; break;
        case 'T': c->to = optarg; break;
        case 'L': c->log_format = optarg; break;
        case 't':
        case 'j':
        case 'M': {
            const char *name = ch == 't' ? "--try" : ch == 'j' ? "--jobs" : "--max-active-runs";
            long long v, min = ch == 'M' ? 0 : 1, max = ch == 't' ? INT_MAX : 256;
            if (ub_parse_dec(optarg, min, max, &v, NULL))     /* no "+4", "04", " 4", overflow */
                return ub_cli_usage_error("%s wants a number from %lld to %lld, not '%s'", name, min, max, optarg);
            *(ch == 't' ? &c->try_no : ch == 'j' ? &c->jobs : &c->max_active_runs) = (int)v;
            break;
        }
        case 'h': ub_cli_usage(stdout); exit(UB_EXIT_OK);
        case 'V': printf("ubpipe %s\n", UB_VERSION); exit(UB_EXIT_OK);
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return ub_cli_usage_error("-p wants KEY=VALUE, not '%s'", optarg);
            if (c->nparams == sizeof c->params / sizeof *c->params)
                return ub_cli_usage_error("too many -p options");
            *eq = '\0';
            c->params[c->nparams].key = optarg;
            c->params[c->nparams++].val = eq + 1;
            break;
        }
        case ':': return ub_cli_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:  return ub_cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    c->args = argv + optind;
    c->nargs = argc - optind;
    return 0;
}

static const ub_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < NVERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int unknown_verb(const char *name)
{
    const char *names[NVERBS + 1];
    size_t n = 0;
    for (size_t i = 0; i < NVERBS; i++)
        if (!(verbs[i].flags & UB_VERB_HIDDEN))
            names[n++] = verbs[i].name;
    names[n] = NULL;
    const char *sug = ub_suggest(name, names);
    ub_buf b = UB_BUF_INIT;
    ub_buf_addf(&b, "ubpipe: unknown command '%s'%s%s%s\nTry 'ubpipe --help'.\n", name,
                sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
    ub_show_fwrite(ub_buf_str(&b), b.len, stderr);
    ub_buf_free(&b);
    return UB_EXIT_USAGE;
}

/* "a, b and c" (last = " and ") or "a, b or c" into buf. */
static void join(char *buf, size_t cap, const char *const *words, size_t n, const char *last)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && len < cap; k++) {
        int w = snprintf(buf + len, cap - len, "%s%s", k == 0 ? "" : k + 1 == n ? last : ", ", words[k]);
        len += w > 0 ? (size_t)w : 0;
    }
}

/* `--rerun T FILE` (or `FILE --rerun T`): with one positional word too
 * many for the verb, the word typed right after a bare --rerun is its task
 * list, not a file; with the right count it is the file (`--rerun FILE`).
 * The list is checked against the spec's task ids when the run starts. */
static void take_rerun_word(ub_cli *c)
{
    if (!c->rerun_word || c->rerun_tasks || (c->verb->flags & UB_VERB_MANY) || c->nargs != c->verb->nargs + 1)
        return;
    for (int i = 0; i < c->nargs; i++)
        if (c->args[i] == c->rerun_word) {
            for (int k = i; k + 1 < c->nargs; k++)
                c->args[k] = c->args[k + 1];
            c->nargs--;
            c->rerun_tasks = c->rerun_word;
            c->rerun = 0;
            return;
        }
}

/* An option the verb does not read is refused rather than ignored ("graph --ds"). */
static int check_given(const ub_cli *c)
{
    const ub_verb *v = c->verb;
    unsigned ok = v->opts | ((v->flags & UB_VERB_SPEC) ? UB_OPT_RANGE : 0);  /* check_options says it */
    for (const char *ch = "dPpfroDtqjMLF"; *ch; ch++)
        if (c->given & opt_bit(*ch) & ~ok)
            return ub_cli_usage_error("'%s' takes no %s", v->name, opt_name(*ch));
    return 0;
}

/* The checks every spec verb shares, before anything is loaded. */
static int check_options(ub_cli *c)
{
    const ub_verb *v = c->verb;
    take_rerun_word(c);
    if (c->rerun_tasks && c->rerun)
        return ub_cli_usage_error("--rerun and --rerun=%s: give one (--rerun alone forces every task)",
                                  c->rerun_tasks);
    if (c->rerun_tasks && c->only)
        return ub_cli_usage_error("--rerun=%s and --only: give one (--only T --rerun runs T and its downstream, "
                                  "nothing else)", c->rerun_tasks);
    if ((c->given & UB_OPT_DOWNSTREAM) && !c->only && !c->rerun_tasks)
        return ub_cli_usage_error("--downstream goes with --only or --rerun=T (it adds the tasks downstream of those)");
    if (c->nargs < 1)
        return ub_cli_usage_error("'%s' needs a pipeline file", v->name);
    if (c->format) {
        static const char *const text_json[] = { "text", "json", NULL };
        const char *const *f = v->formats[0] ? v->formats : text_json;
        size_t n = 0;
        while (f[n] && strcmp(f[n], c->format))
            n++;
        if (!f[n]) {
            char list[128];
            join(list, sizeof list, f, n, " or ");
            return ub_cli_usage_error("--format must be %s, not '%s'", list, c->format);
        }
    }
    if (c->log_format && strcmp(c->log_format, "text") && strcmp(c->log_format, "json"))
        return ub_cli_usage_error("--log-format must be text or json, not '%s'", c->log_format);
    if ((c->from || c->to) && !(v->flags & UB_VERB_RANGE)) {
        const char *names[NVERBS];
        size_t n = 0;
        char list[256];
        for (size_t i = 0; i < NVERBS; i++)
            if (verbs[i].flags & UB_VERB_RANGE)
                names[n++] = verbs[i].name;
        join(list, sizeof list, names, n, " and ");
        return ub_cli_usage_error("--from/--to go with %s, not '%s'", list, v->name);
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    ub_cancel_requested = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Diagnostics out; exit 2 when there were errors and rc said success. */
static int finish(ub_diag *d, int rc)
{
    if (ub_diag_flush(d, stderr) && rc == UB_EXIT_OK)
        rc = UB_EXIT_USAGE;
    ub_diag_free(d);
    return rc;
}

/* The shared setup of a spec verb (in the manner of git's run_builtin()):
 * options checked, secrets of the environment registered, the spec and its
 * dates loaded (UB_VERB_MANY verbs load their files themselves), signals
 * caught; then the verb, then everything released. */
static int run_spec_verb(ub_cli *c)
{
    const ub_verb *v = c->verb;
    ub_diag d;
    ub_err derr;
    int rc = check_options(c);
    if (rc)
        return rc;
    ub_diag_init(&d);
    c->diag = &d;
    ub_secret_scan_env();
    if (v->flags & UB_VERB_MANY)
        return finish(&d, v->run(c));
    if (c->nargs != v->nargs)
        return finish(&d, v->nargs == 2
                              ? ub_cli_usage_error("'%s' needs a pipeline file and one more argument", v->name)
                              : ub_cli_usage_error("'%s' takes one pipeline file", v->name));
    c->spec = ub_spec_load(c->args[0], &d);
    if (!c->spec)
        return finish(&d, UB_EXIT_USAGE);
    if (ub_run_dates(c->ds, c->from, c->to, &c->dates, &c->ndates, &derr)) {
        ub_diag_error(&d, (ub_loc){ NULL, 0, 0 }, "%s", derr.msg);
        rc = UB_EXIT_USAGE;
        goto done;
    }
    if (v->flags & UB_VERB_SIGNALS)
        catch_signals();
    rc = v->run(c);
done:
    ub_free(c->dates);
    ub_spec_free(c->spec);
    ub_secret_reset();
    return finish(&d, rc);
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
    ub_cli c = { 0 };
    char exe[PATH_MAX];
    /* jansson allocates through ub_malloc too, so tests can make it fail */
    json_set_alloc_funcs(ub_malloc, ub_free);
    if (argc < 2) {
        ub_cli_usage(stderr);
        return UB_EXIT_USAGE;
    }
    /* verbs with options of their own get argv as it is */
    const ub_verb *v = find_verb(argv[1]);
    if (v && v->run_argv)
        return v->run_argv(argc - 1, argv + 1);
    const char *name = NULL;
    if (argv[1][0] != '-') {
        name = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    if (parse(&c, argc, argv))
        return UB_EXIT_USAGE;
    if (!name)
        return ub_cli_usage_error("missing command");
    if (!v)
        return unknown_verb(name);
    c.verb = v;
    if (check_given(&c))
        return UB_EXIT_USAGE;
    c.self_exe = self_exe(exe, sizeof exe, argv[0]);
    if (v->flags & UB_VERB_SPEC)
        return run_spec_verb(&c);
    return v->run(&c);
}
