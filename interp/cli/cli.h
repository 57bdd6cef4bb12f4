/* cli.h — private to interp/cli/: the verb table's entry type, the options every
 * spec verb shares, and the helpers the verb files use. Nothing outside cli/
 * includes this header; the verbs' own headers (s3cli.h, serve.h, …) expose
 * only `int ub_cmd_<verb>(int argc, char **argv)`.
 *
 * cli/ is the top floor: it may include every layer below (base … web). */
#ifndef UB_CLI_H
#define UB_CLI_H

#include "base/diag.h"
#include "core/engine.h"
#include "core/run.h"
#include <stddef.h>

/* Exit codes, as documented in ubpipe(1). */
enum { UB_EXIT_OK = 0, UB_EXIT_TASK = 1, UB_EXIT_USAGE = 2 };

/* Flags of a verb (ub_verb.flags). */
enum {
    UB_VERB_SPEC = 1 << 0,    /* its first argument is a pipeline file: format and
                                 --from/--to checks, secrets scanned, spec loaded */
    UB_VERB_MANY = 1 << 1,    /* takes one or more spec files and loads them itself */
    UB_VERB_RANGE = 1 << 2,   /* accepts --from/--to */
    UB_VERB_SIGNALS = 1 << 3, /* SIGINT/SIGTERM request a cancel; SIGPIPE ignored */
    UB_VERB_HIDDEN = 1 << 4,  /* internal: not in the help, never suggested */
};

/* The common options a verb reads (ub_verb.opts): one it does not read is refused,
 * never silently ignored ("'graph' takes no --ds").  --from/--to go by UB_VERB_RANGE. */
enum {
    UB_OPT_DS = 1 << 0, UB_OPT_PROFILE = 1 << 1, UB_OPT_PARAM = 1 << 2, UB_OPT_FORMAT = 1 << 3,
    UB_OPT_RERUN = 1 << 4, UB_OPT_ONLY = 1 << 5, UB_OPT_DOWNSTREAM = 1 << 6, UB_OPT_TRY = 1 << 7,
    UB_OPT_QUIET = 1 << 8, UB_OPT_JOBS = 1 << 9, UB_OPT_MAX_ACTIVE = 1 << 10, UB_OPT_LOG_FORMAT = 1 << 11,
    UB_OPT_RANGE = 1 << 12,   /* --from/--to: given (accepted by UB_VERB_RANGE) */
};

typedef struct ub_cli ub_cli;

typedef struct ub_verb {
    const char *name;
    /* exactly one of: */
    int (*run)(ub_cli *c);                /* after the common options and setup */
    int (*run_argv)(int argc, char **argv); /* parses its own argv; argv[0] is the verb */
    unsigned flags;
    unsigned opts;          /* UB_OPT_* it reads (.run verbs) */
    int nargs;              /* UB_VERB_SPEC: arguments wanted (file + more); 0: any */
    const char *formats[4]; /* --format values (up to 3); none: text and json */
    const char *args;       /* for the help: "FILE", "FILE TASK", … */
    const char *help;       /* one line; NULL: not listed (still a verb) */
} ub_verb;

/* The common options, then what the shared setup made for UB_VERB_SPEC verbs. */
struct ub_cli {
    const ub_verb *verb;
    const char *self_exe; /* this binary, for the background runners */
    const char *ds, *profile, *format, *only, *from, *to, *log_format;
    int rerun, downstream, quiet, try_no, jobs, max_active_runs;
    const char *rerun_tasks; /* --rerun=T1,T2 (or the word after a bare --rerun, see take_rerun_word) */
    const char *rerun_word;  /* the word right after a bare --rerun, if any: a task list or the spec file */
    unsigned given;   /* UB_OPT_* seen on the command line */
    ub_kv params[64];
    size_t nparams;
    char **args; /* after the verb and the options; args[0] is the spec file */
    int nargs;
    /* set up by the dispatcher for UB_VERB_SPEC verbs (owned by it) */
    ub_diag *diag;
    ub_spec *spec;
    ub_ds *dates; /* --ds, or --from..--to */
    size_t ndates;
};

/* "ubpipe: MESSAGE\nTry 'ubpipe --help'." on stderr; returns UB_EXIT_USAGE. */
int ub_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The help text generated from the verb table, on out. */
void ub_cli_usage(FILE *out);

/* Engine and run options from the common options (eo: planning; run turns it off). */
void ub_cli_engine_opts(const ub_cli *c, ub_engine_opts *eo);
void ub_cli_run_opts(const ub_cli *c, ub_run_opts *ro);
/* --format json was given */
int ub_cli_json(const ub_cli *c);

/* The verbs, one file per family. */
int ub_cli_run(ub_cli *c);      /* run.c */
int ub_cli_plan(ub_cli *c);     /* inspect.c */
int ub_cli_validate(ub_cli *c);
int ub_cli_render(ub_cli *c);
int ub_cli_graph(ub_cli *c);
int ub_cli_schema(ub_cli *c);
int ub_cli_help(ub_cli *c);
int ub_cli_version(ub_cli *c);
int ub_cli_status(ub_cli *c);   /* state.c */
int ub_cli_logs(ub_cli *c);

#endif
