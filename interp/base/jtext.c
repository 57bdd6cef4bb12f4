/* jtext.c — any bytes as a JSON string: invalid UTF-8 bytes as \xNN. */
#include "base/jtext.h"
#include "base/mem.h"
#include <string.h>

size_t ub_jtext_seq(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;             /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;                         /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F;                         /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;                         /* nothing above U+10FFFF */
    } else
        return 0;                              /* 0x80..0xC1 and 0xF5..0xFF start nothing */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

size_t ub_jtext_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (u[i] >= 0x01 && u[i] < 0x80) {     /* the common case */
            i++;
            continue;
        }
        size_t l = u[i] ? ub_jtext_seq(u + i, n - i) : 0;
        if (!l)
            break;
        i += l;
    }
    return i;
}

int ub_jtext_fix(ub_buf *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        size_t ok = ub_jtext_valid(p + i, n - i);
        ub_buf_add(out, p + i, ok);
        i += ok;
        if (i < n) {                           /* one byte that starts no valid sequence, or NUL */
            char e[4] = { '\\', 'x', hex[u[i] >> 4], hex[u[i] & 15] };
            ub_buf_add(out, e, 4);
            i++;
        }
    }
    return out->err ? -1 : 0;
}

json_t *ub_jtextn(const char *p, size_t n)
{
    if (!p)
        return json_string("");
    if (ub_jtext_valid(p, n) == n)
        return json_stringn(p, n);
    ub_buf b = UB_BUF_INIT;
    json_t *j = ub_jtext_fix(&b, p, n) ? NULL : json_stringn(ub_buf_str(&b), b.len);
    ub_buf_free(&b);
    return j;
}

json_t *ub_jtext(const char *s)
{
    return ub_jtextn(s, s ? strlen(s) : 0);
}

char *ub_jtext_dumps(const json_t *j, size_t flags)
{
    char *txt = json_dumps(j, flags);
    if (!txt)
        return NULL;
    size_t n = strlen(txt), extra = 0;
    const unsigned char *u = (const unsigned char *)txt;
    for (size_t i = 0; i < n; i++)
        extra += u[i] == 0x7F ? 5 : (u[i] == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) ? 4 : 0;
    if (!extra)
        return txt;
    /* those bytes occur only inside strings (jansson writes nothing else
     * outside ASCII), where \u00NN means the same character */
    char *o = ub_malloc(n + extra + 1);
    if (o) {
        static const char hex[] = "0123456789ABCDEF";
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned cp = u[i] == 0x7F ? 0x7F : (u[i] == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) ? u[++i] : 0;
            if (!cp) {
                o[k++] = txt[i];
                continue;
            }
            memcpy(o + k, "\\u00", 4);
            o[k + 4] = hex[cp >> 4];
            o[k + 5] = hex[cp & 15];
            k += 6;
        }
        o[k] = '\0';
    }
    ub_free(txt);
    return o;
}
