/* secret.c — the strings that must never be printed, and their masking. */
#include "base/secret.h"
#include "base/mem.h"
#include <jansson.h>
#include <libpq-fe.h>
#include <string.h>

/*
 * The registry holds forms: each secret added (a root) as written and as each encoding in which
 * ubpipe's own code can carry it into a text — JSON-escaped (a step JSON, a journal line, plan
 * --format json; with and without an escaped '/'), a SQL string body (sql.literal: ' doubled, and the
 * E'' form with \ doubled too), those two inside JSON, and for reports HTML-escaped and JSON inside a
 * <script> (< > & as \u00XX).  Percent-encoding is not listed form by
 * form: the matcher reads %XX (either case) and '+' (for a space) in the text as the byte they stand
 * for, so a secret matches however much of it a URI or a form encoded.  No code path hands a secret
 * to a shell, so there is no shell-quoted form.
 */
typedef struct form {
    char *s;
    size_t len;
    size_t root;            /* index into roots */
} form;

static form *forms;
static size_t nforms, capforms;
static char **roots;
static size_t nroots, caproots;
static unsigned char starts[256];  /* bytes at which a form may begin in a text */

static void note_start(const char *f)
{
    starts[(unsigned char)f[0]] = 1;
    starts['%'] = 1;
    if (f[0] == ' ')
        starts['+'] = 1;
}

static void add_form(const char *f, size_t root)
{
    size_t l = strlen(f);
    if (l < 3)
        return;
    for (size_t i = 0; i < nforms; i++)
        if (strcmp(forms[i].s, f) == 0)
            return;
    if (nforms == capforms) {
        size_t cap = capforms ? capforms * 2 : 16;
        form *p = ub_realloc(forms, cap * sizeof *p);
        if (!p)
            return;
        forms = p;
        capforms = cap;
    }
    char *c = ub_strdup(f);
    if (!c)
        return;
    forms[nforms++] = (form){ c, l, root };
    note_start(c);
}

/* JSON string body of s (as jansson writes it; slash: '/' as \/ too) */
static void enc_json(const char *s, int slash, ub_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': ub_buf_adds(out, "\\\""); break;
        case '\\': ub_buf_adds(out, "\\\\"); break;
        case '\b': ub_buf_adds(out, "\\b"); break;
        case '\f': ub_buf_adds(out, "\\f"); break;
        case '\n': ub_buf_adds(out, "\\n"); break;
        case '\r': ub_buf_adds(out, "\\r"); break;
        case '\t': ub_buf_adds(out, "\\t"); break;
        case '/':
            ub_buf_adds(out, slash ? "\\/" : "/");
            break;
        default:
            if (*p < 0x20) {
                ub_buf_adds(out, "\\u00");
                ub_buf_addc(out, hex[*p >> 4]);
                ub_buf_addc(out, hex[*p & 15]);
            } else {
                ub_buf_addc(out, (char)*p);
            }
        }
    }
}

/* body of a SQL string literal: ' doubled; e: the E'' form, \ doubled too */
static void enc_sql(const char *s, int e, ub_buf *out)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || (e && *p == '\\'))
            ub_buf_addc(out, *p);
        ub_buf_addc(out, *p);
    }
}

/* HTML text or attribute (io/html.c ub_html_textn) */
static void enc_html(const char *s, ub_buf *out)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': ub_buf_adds(out, "&amp;"); break;
        case '<': ub_buf_adds(out, "&lt;"); break;
        case '>': ub_buf_adds(out, "&gt;"); break;
        case '"': ub_buf_adds(out, "&quot;"); break;
        case '\'': ub_buf_adds(out, "&#39;"); break;
        default: ub_buf_addc(out, *p);
        }
    }
}

/* JSON inside an HTML <script> (io/html.c ub_html_json_script): < > & as \u00XX */
static void enc_script(const char *json, ub_buf *out)
{
    for (const char *p = json; *p; p++) {
        if (*p == '<')
            ub_buf_adds(out, "\\u003c");
        else if (*p == '>')
            ub_buf_adds(out, "\\u003e");
        else if (*p == '&')
            ub_buf_adds(out, "\\u0026");
        else
            ub_buf_addc(out, *p);
    }
}

void ub_secret_add(const char *s)
{
    if (!s || strlen(s) < 3)
        return;                 /* too short to mask without hiding everything */
    for (size_t i = 0; i < nroots; i++)
        if (strcmp(roots[i], s) == 0)
            return;
    if (nroots == caproots) {
        size_t cap = caproots ? caproots * 2 : 8;
        char **p = ub_realloc(roots, cap * sizeof *p);
        if (!p)
            return;
        roots = p;
        caproots = cap;
    }
    char *c = ub_strdup(s);
    if (!c)
        return;
    size_t r = nroots;
    roots[nroots++] = c;
    add_form(s, r);
    ub_buf sq = UB_BUF_INIT, se = UB_BUF_INIT, f = UB_BUF_INIT, h = UB_BUF_INIT;
    enc_sql(s, 0, &sq);
    enc_sql(s, 1, &se);
    const char *bases[] = { s, ub_buf_str(&sq), ub_buf_str(&se) };
    for (size_t i = 0; i < 3; i++) {
        if (!sq.err && !se.err)
            add_form(bases[i], r);
        for (int slash = 0; slash < 2; slash++) {
            ub_buf_reset(&f);
            ub_buf_reset(&h);
            enc_json(bases[i], slash, &f);
            enc_script(ub_buf_str(&f), &h);
            if (!f.err)
                add_form(ub_buf_str(&f), r);
            if (!h.err)
                add_form(ub_buf_str(&h), r);
        }
        ub_buf_reset(&h);
        enc_html(bases[i], &h);            /* a report shows SQL text, HTML-escaped */
        if (!h.err)
            add_form(ub_buf_str(&h), r);
    }
    ub_buf_free(&sq);
    ub_buf_free(&se);
    ub_buf_free(&f);
    ub_buf_free(&h);
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

/* The length of text at p that reads as form f, or 0: each byte of f is either itself, or %XX
 * (hex of either case) standing for it, or '+' standing for a space. */
static size_t match_at(const char *p, const form *f)
{
    const char *q = p;
    for (size_t i = 0; i < f->len; i++) {
        unsigned char want = (unsigned char)f->s[i];
        if (q[0] == '%' && q[1] && q[2]) {
            int hi = hexval(q[1]), lo = hexval(q[2]);
            if (hi >= 0 && lo >= 0 && hi * 16 + lo == want) {
                q += 3;
                continue;
            }
        }
        if ((unsigned char)*q == want && *q) {
            q++;
        } else if (want == ' ' && *q == '+') {
            q++;
        } else {
            return 0;
        }
    }
    return (size_t)(q - p);
}

/* the longest form matching at p: its length in the text (0: none); *root its root */
static size_t best_at(const char *p, size_t *root)
{
    size_t best = 0;
    for (size_t i = 0; i < nforms; i++) {
        size_t l = match_at(p, &forms[i]);
        if (l > best) {
            best = l;
            if (root)
                *root = forms[i].root;
        }
    }
    return best;
}

void ub_secret_mask(const char *s, ub_buf *out)
{
    const char *p = s;
    while (*p) {
        size_t best = starts[(unsigned char)*p] ? best_at(p, NULL) : 0;
        if (best) {
            ub_buf_adds(out, "****");
            p += best;
        } else {
            const char *q = p + 1;
            while (*q && !starts[(unsigned char)*q])     /* up to the next byte that could start one */
                q++;
            ub_buf_add(out, p, (size_t)(q - p));
            p = q;
        }
    }
}

int ub_secret_found(const char *s)
{
    for (const char *p = s; p && *p; p++)
        if (starts[(unsigned char)*p] && best_at(p, NULL))
            return 1;
    return 0;
}

int ub_secret_mask_json(json_t *v)
{
    int n = 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!ub_secret_found(s))
            return 0;
        ub_buf m = UB_BUF_INIT;
        ub_secret_mask(s, &m);
        if (m.err || json_string_set(v, ub_buf_str(&m)))
            json_string_set(v, "****");          /* out of memory: nothing of it rather than all */
        ub_buf_free(&m);
        return 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) n += ub_secret_mask_json(x);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) n += ub_secret_mask_json(x);
    }
    return n;
}

size_t ub_secret_nroots(void) { return nroots; }

const char *ub_secret_root(size_t i) { return i < nroots ? roots[i] : NULL; }

int ub_secret_root_in(size_t r, const char *s)
{
    for (const char *p = s; p && *p; p++) {
        if (!starts[(unsigned char)*p])
            continue;
        for (size_t i = 0; i < nforms; i++)
            if (forms[i].root == r && match_at(p, &forms[i]))
                return 1;
    }
    return 0;
}

void ub_secret_reset(void)
{
    for (size_t i = 0; i < nforms; i++)
        ub_free(forms[i].s);
    for (size_t i = 0; i < nroots; i++)
        ub_free(roots[i]);
    ub_free(forms);
    ub_free(roots);
    forms = NULL;
    roots = NULL;
    nforms = capforms = nroots = caproots = 0;
    memset(starts, 0, sizeof starts);
}
