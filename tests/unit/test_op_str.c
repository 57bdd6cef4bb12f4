/* test_op_str.c — the operator API's parameter readers: ub_op_str with a key the operator's table
 * declares gives the value, the default, or NULL when absent; with a key it does not declare it is a
 * programming error that stops the program, naming operator and key (not a NULL that reads as
 * "absent" or "failed"). */
#include "core/engine.h"
#include "t.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs ub_op_str(c, key) in a child; returns its wait status, its stderr in msg. */
static int in_child(ub_opctx *c, const char *key, char *msg, size_t n)
{
    int fd[2];
    msg[0] = '\0';
    if (pipe(fd))
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        const char *v = ub_op_str(c, key);
        _exit(v ? 0 : 3);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd[0], msg + got, n - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

/* No operator parameter shares its name with a task or scheduling key: the one value would
 * set both (the report operator's statement timeout was once called `timeout`). */
static void params_not_reserved(void)
{
    for (const ub_opdesc *const *op = ub_op_all(); *op; op++)
        for (const ub_param *q = (*op)->params; q && q->name; q++) {
            if (ub_spec_key_reserved(q->name))
                fprintf(stderr, "operator %s: parameter '%s' is a task key\n", (*op)->name, q->name);
            T_CHECK(!ub_spec_key_reserved(q->name));
        }
    T_CHECK(ub_spec_key_reserved("timeout") && ub_spec_key_reserved("after") && !ub_spec_key_reserved("sql"));
}

int main(void)
{
    char dir[] = "/tmp/ubpipe-test-opstr.XXXXXX", path[600], state[600], msg[1024];
    params_not_reserved();
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    write_file(path, "pipeline: opstr\n"
                     "profiles:\n  local: { lake: \"file:lake\" }\n"
                     "tasks:\n"
                     "  put: { op: lake.put, src: in.csv, dst: \"raw:x/{{ ds }}/in.csv\" }\n"
                     "  tx: { op: lua.transform, after: put, from: \"raw:x/{{ ds }}/in.csv\", to: \"stage:y.csv\","
                     " script: t.lua }\n");
    ub_diag d;
    ub_diag_init(&d);
    ub_spec *s = ub_spec_load(path, &d);
    ub_engine_opts o = { .ds = "2021-04-30", .planning = 1, .state_dir = state };
    ub_engine *e = s ? ub_engine_new(s, &o, &d) : NULL;
    ub_diag_flush(&d, stderr);
    T_CHECK(e != NULL);
    if (!e)
        return t_done("test_op_str");
    ub_task *put = NULL, *tx = NULL;
    for (size_t i = 0; i < s->ntasks; i++)
        *(strcmp(s->tasks[i].id, "put") == 0 ? &put : &tx) = &s->tasks[i];
    ub_opctx *c = ub_ctx_new(e, put, 1);
    ub_opctx *c2 = ub_ctx_new(e, tx, 1);
    T_CHECK(c != NULL && c2 != NULL);

    /* declared: the value (rendered), the default, or NULL when absent without default */
    T_STREQ(ub_op_str(c, "dst"), "raw/x/2021-04-30/in.csv");
    T_STREQ(ub_op_str(c, "check"), "none");
    T_CHECK(ub_op_str(c2, "lua_path") == NULL);   /* declared (a list), absent */
    T_INTEQ(ub_op_int(c2, "batch_size"), 1000);
    T_INTEQ(*ub_ctx_error(c), '\0');

    /* undeclared: abort, naming operator and key */
    int st = in_child(c, "dest", msg, sizeof msg);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    T_CHECK(strstr(msg, "operator lake.put declares no parameter 'dest'") != NULL);
    st = in_child(c2, "max_rows", msg, sizeof msg);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    T_CHECK(strstr(msg, "ub_op_str(\"max_rows\"): operator lua.transform") != NULL);
    /* a declared key read in a child exits normally: the check above is not the fork */
    st = in_child(c, "src", msg, sizeof msg);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    ub_ctx_free(c);
    ub_ctx_free(c2);
    ub_engine_free(e);
    ub_spec_free(s);
    ub_diag_free(&d);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
    return t_done("test_op_str");
}
