/* sqlnames.c — qualified table names of a SQL text (sqlnames.h). */
#include "io/sqlnames.h"
#include <ctype.h>
#include <string.h>
#include <strings.h>

static int is_word(char ch) { return isalnum((unsigned char)ch) || ch == '_' || ch == '"' || ch == '$'; }

int ub_sqlnames_scan(const char *sql, ub_sqlnames_cb cb, void *ud)
{
    char prev[2][256] = { "", "" };          /* [0]: the word before this one, [1]: the one before that */
    const char *p = sql;
    while (p && *p) {
        if (p[0] == '-' && p[1] == '-') {
            p = strchr(p, '\n');
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *z = strstr(p + 2, "*/");
            p = z ? z + 2 : NULL;
            continue;
        }
        if (*p == '\'') {
            p++;
            while (*p && !(*p == '\'' && p[1] != '\''))
                p += *p == '\'' && p[1] == '\'' ? 2 : 1;
            p += *p ? 1 : 0;
            continue;
        }
        if (!is_word(*p)) {
            if (*p == '(' || *p == ',' || *p == ';')
                prev[0][0] = prev[1][0] = '\0';
            p++;
            continue;
        }
        char tok[256];
        size_t l = 0;
        while ((is_word(p[l]) || p[l] == '.') && l < sizeof tok - 1) {
            tok[l] = p[l];
            l++;
        }
        tok[l] = '\0';
        p += l;
        while (is_word(*p) || *p == '.')    /* a longer word is cut at sizeof tok */
            p++;
        const char *a = prev[1], *b = prev[0];
        if (strchr(tok, '.') && tok[0] != '.' && !isdigit((unsigned char)tok[0])) {
            int w = strcasecmp(b, "into") == 0 || strcasecmp(b, "update") == 0 || strcasecmp(b, "table") == 0 ||
                    strcasecmp(b, "exists") == 0 || strcasecmp(b, "copy") == 0 ||
                    (strcasecmp(b, "from") == 0 && strcasecmp(a, "delete") == 0);
            int r = !w && (strcasecmp(b, "from") == 0 || strcasecmp(b, "join") == 0);
            int rc = w || r ? cb(ud, tok, w) : 0;
            if (rc)
                return rc;
        }
        memcpy(prev[1], prev[0], sizeof prev[1]);
        memcpy(prev[0], tok, l + 1);
    }
    return 0;
}

/* One identifier starting at s, folded into out; the end (after it) or NULL. */
static const char *ident(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    if (*s == '"') {
        for (s++; *s; s++) {
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                s++;
            }
            if (n + 1 >= cap)
                return NULL;
            out[n++] = *s;
        }
        if (*s != '"')
            return NULL;
        s++;
    } else {
        for (; *s && *s != '.'; s++) {
            if (n + 1 >= cap)
                return NULL;
            out[n++] = (char)tolower((unsigned char)*s);
        }
    }
    out[n] = '\0';
    return n ? s : NULL;
}

int ub_sqlnames_split(const char *name, char *schema, size_t scap, char *table, size_t tcap)
{
    char part[2][256];
    int n = 0;
    const char *s = name;
    while (s && *s) {
        char *dst = part[n % 2];
        if (!(s = ident(s, dst, sizeof part[0])))
            return -1;
        n++;
        if (*s == '.')
            s++;
        else if (*s)
            return -1;
    }
    if (n < 2 || strlen(part[n % 2]) >= scap || strlen(part[(n + 1) % 2]) >= tcap)
        return -1;
    memcpy(schema, part[n % 2], strlen(part[n % 2]) + 1);      /* the one before the last */
    memcpy(table, part[(n + 1) % 2], strlen(part[(n + 1) % 2]) + 1);
    return 0;
}
