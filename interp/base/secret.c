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

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void add_buf(ub_buf *b)
{
    if (!b->err && b->len && !memchr(b->p, '\0', b->len))
        ub_secret_add(ub_buf_str(b));
    ub_buf_free(b);
}

/* Registers a password in each form that text derived from a connection string may show:
 * as written, percent-decoded, percent-encoded (as in a URI) and quoted ('pw', with ' and \
 * escaped, as in a keyword/value string). */
static void add_password(const char *pw, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    ub_buf raw = UB_BUF_INIT, dec = UB_BUF_INIT, enc = UB_BUF_INIT, quo = UB_BUF_INIT;
    ub_buf_add(&raw, pw, n);
    for (size_t i = 0; i < n; i++) {
        int hi = -1, lo = -1;
        if (pw[i] == '%' && i + 2 < n) {
            hi = hexval(pw[i + 1]);
            lo = hexval(pw[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            ub_buf_addc(&dec, (char)(hi * 16 + lo));
            i += 2;
        } else {
            ub_buf_addc(&dec, pw[i]);
        }
    }
    ub_buf_addc(&quo, '\'');
    for (size_t i = 0; i < dec.len; i++) {
        unsigned char ch = (unsigned char)dec.p[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            ub_buf_addc(&enc, (char)ch);
        } else {
            ub_buf_addc(&enc, '%');
            ub_buf_addc(&enc, hex[ch >> 4]);
            ub_buf_addc(&enc, hex[ch & 15]);
        }
        if (ch == '\'' || ch == '\\')
            ub_buf_addc(&quo, '\\');
        ub_buf_addc(&quo, (char)ch);
    }
    ub_buf_addc(&quo, '\'');
    add_buf(&raw);
    add_buf(&dec);
    add_buf(&enc);
    add_buf(&quo);
}

/* Finds passwords without libpq's parser, which gives up on a malformed string (and its
 * error message then repeats the string): the userinfo password of a URI
 * (scheme://user:PASSWORD@host, up to the last '@' before any '?'), and every password= value, bare
 * (up to a space or '&') or quoted (up to the closing unescaped quote). */
static void scan_passwords(const char *dsn)
{
    const char *sch = strstr(dsn, "://");
    if (sch) {
        const char *u = sch + 3, *end = u + strcspn(u, "?"), *at = NULL;
        for (const char *q = u; q < end; q++)
            if (*q == '@')
                at = q;
        const char *colon = at ? memchr(u, ':', (size_t)(at - u)) : NULL;
        if (colon)
            add_password(colon + 1, (size_t)(at - colon - 1));
    }
    for (const char *p = dsn; (p = strstr(p, "password")) != NULL;) {
        p += 8;
        const char *v = p;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '\'') {
            ub_buf un = UB_BUF_INIT;
            const char *q = v + 1;
            for (; *q && *q != '\''; q++) {
                if (*q == '\\' && q[1])
                    q++;
                ub_buf_addc(&un, *q);
            }
            add_password(v, (size_t)(q - v) + (*q == '\''));
            add_password(v + 1, (size_t)(q - v - 1));
            if (!un.err)
                add_password(ub_buf_str(&un), un.len);
            ub_buf_free(&un);
        } else {
            size_t l = strcspn(v, " \t\n&");
            add_password(v, l);
        }
    }
}

void ub_secret_add_conninfo(const char *dsn)
{
    if (!dsn)
        return;
    scan_passwords(dsn);
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0))
            add_password(o->val, strlen(o->val));
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
        if (strncmp(name, "UBPIPE_CONN_", 12) == 0 || strcmp(name, "PGPASSWORD") == 0) {
            /* the whole value of one that can hold a password (key=value, or a URI with
             * userinfo): libpq's parse errors repeat it.  Not a bare word such as an EMR
             * cluster "local" or a bucket URL, which would mask every use of the word. */
            const char *v = eq + 1, *sch = strstr(v, "://");
            if (strchr(v, '=') || (sch && strchr(sch, '@')))
                ub_secret_add(v);
            ub_secret_add_conninfo(v);
        }
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
