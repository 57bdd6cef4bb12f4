/* sqlstmt.c — statement starts in a SQL text (for errors the server gives no position). */
#include "ops/sqlstmt.h"
#include <string.h>

/* Past the quoted text that starts at p (the opening quote q at p[0]); doubled quotes stay
 * inside, and so does a backslash-escaped character when esc. */
static const char *skip_quoted(const char *p, char q, int esc)
{
    for (p++; *p; p++) {
        if (esc && *p == '\\' && p[1])
            p++;
        else if (*p == q) {
            if (p[1] != q)
                return p + 1;
            p++;
        }
    }
    return p;
}

/* A dollar quote's opening tag at p ($$ or $name$): its length, 0 if none. */
static size_t dollar_tag(const char *p)
{
    size_t i = 1;
    if ((p[1] >= '0' && p[1] <= '9'))
        return 0;                                /* $1 is a parameter */
    while ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
           p[i] == '_' || ((unsigned char)p[i] & 0x80))
        i++;
    return p[i] == '$' ? i + 1 : 0;
}

size_t ub_sqlstmt_start(const char *sql, size_t n)
{
    size_t stmt = 1;
    const char *start = NULL;                    /* the current statement's first character */
    const char *p = sql;
    while (*p) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
            p++;
            continue;
        }
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            int depth = 0;
            do {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    depth--;
                    p += 2;
                } else {
                    p++;
                }
            } while (*p && depth > 0);
            continue;
        }
        if (!start)
            start = p;
        if (*p == ';') {
            if (stmt == n)
                break;                           /* the wanted one ends here */
            stmt++;
            start = NULL;
            p++;
        } else if (*p == '\'') {
            int esc = p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                      (p - 1 == sql || !((p[-2] >= 'a' && p[-2] <= 'z') || (p[-2] >= 'A' && p[-2] <= 'Z') ||
                                         (p[-2] >= '0' && p[-2] <= '9') || p[-2] == '_'));
            p = skip_quoted(p, '\'', esc);
        } else if (*p == '"') {
            p = skip_quoted(p, '"', 0);
        } else if (*p == '$' && dollar_tag(p) &&
                   !(p > sql && ((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                                 (p[-1] >= '0' && p[-1] <= '9') || p[-1] == '_'))) {
            size_t tl = dollar_tag(p);
            const char *end = NULL;
            for (const char *q = p + tl; (q = strchr(q, '$')) != NULL; q++)
                if (strncmp(q, p, tl) == 0) {
                    end = q + tl;
                    break;
                }
            p = end ? end : p + strlen(p);
        } else {
            p++;
        }
    }
    if (stmt != n || !start)
        return 0;
    size_t chars = 1;
    for (const char *q = sql; q < start; q++)
        if (((unsigned char)*q & 0xC0) != 0x80)
            chars++;
    return chars;
}
