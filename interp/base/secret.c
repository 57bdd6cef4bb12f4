/* secret.c — the strings that must never be printed, and their masking. */
#include "base/secret.h"
#include "base/mem.h"
#include <libpq-fe.h>
#include <string.h>

static char **secrets;
static size_t nsecrets, capsecrets;

void ub_secret_add(const char *s)
{
    if (!s || strlen(s) < 3)
        return;                 /* too short to mask without hiding everything */
    for (size_t i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], s) == 0)
            return;
    if (nsecrets == capsecrets) {
        size_t cap = capsecrets ? capsecrets * 2 : 8;
        char **p = ub_realloc(secrets, cap * sizeof *p);
        if (!p)
            return;
        secrets = p;
        capsecrets = cap;
    }
    char *c = ub_strdup(s);
    if (c)
        secrets[nsecrets++] = c;
}

void ub_secret_add_conninfo(const char *dsn)
{
    if (!dsn)
        return;
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0))
            ub_secret_add(o->val);
    PQconninfoFree(opts);
}

extern char **environ;

void ub_secret_scan_env(void)
{
    static const char *const marks[] = { "PASSWORD", "SECRET", "TOKEN", "PASSWD", "CREDENTIAL", NULL };
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t nl = (size_t)(eq - *e);
        char name[256];
        if (nl >= sizeof name)
            continue;
        memcpy(name, *e, nl);
        name[nl] = '\0';
        for (size_t i = 0; marks[i]; i++)
            if (strstr(name, marks[i]))
                ub_secret_add(eq + 1);
        if (strncmp(name, "UBPIPE_CONN_", 12) == 0 || strcmp(name, "PGPASSWORD") == 0)
            ub_secret_add_conninfo(eq + 1);
    }
}

void ub_secret_mask(const char *s, ub_buf *out)
{
    const char *p = s;
    while (*p) {
        size_t best = 0;
        for (size_t i = 0; i < nsecrets; i++) {
            size_t l = strlen(secrets[i]);
            if (l > best && strncmp(p, secrets[i], l) == 0)
                best = l;
        }
        if (best) {
            ub_buf_adds(out, "****");
            p += best;
        } else {
            const char *q = p + 1;
            /* copy up to the next byte that could start a secret */
            while (*q) {
                int may = 0;
                for (size_t i = 0; i < nsecrets && !may; i++)
                    may = secrets[i][0] == *q;
                if (may)
                    break;
                q++;
            }
            ub_buf_add(out, p, (size_t)(q - p));
            p = q;
        }
    }
}

void ub_secret_reset(void)
{
    for (size_t i = 0; i < nsecrets; i++)
        ub_free(secrets[i]);
    ub_free(secrets);
    secrets = NULL;
    nsecrets = capsecrets = 0;
}
