/* html.c — escaping untrusted text into HTML, URLs and script-embedded JSON. */
#include "io/html.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

int ub_html_textn(ub_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            ub_buf_adds(b, rep);
            i++;
            continue;
        }
        if (c < 0x20 && c != '\t' && c != '\n') {
            i++;                       /* NUL, ESC and the like never reach a page */
            continue;
        }
        if (c == 0x7F) {
            i++;
            continue;
        }
        size_t l = utf8_len(p + i, n - i);
        if (l == 0) {
            ub_buf_adds(b, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        ub_buf_add(b, p + i, l);
        i += l;
    }
    return b->err ? -1 : 0;
}

int ub_html_text(ub_buf *b, const char *s)
{
    return ub_html_textn(b, s ? s : "", s ? strlen(s) : 0);
}

int ub_html_textf(ub_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            ub_buf_addc(b, *f);
            continue;
        }
        f++;
        if (*f == '%') {
            ub_buf_addc(b, '%');
        } else if (*f == 's') {
            ub_html_text(b, va_arg(ap, const char *));
        } else if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
            int w = va_arg(ap, int);
            const char *s = va_arg(ap, const char *);
            size_t n = s ? strnlen(s, w < 0 ? 0 : (size_t)w) : 0;
            ub_html_textn(b, s ? s : "", n);
            f += 2;
        } else if (*f == 'd') {
            ub_buf_addf(b, "%d", va_arg(ap, int));
        } else if (*f == 'u') {
            ub_buf_addf(b, "%u", va_arg(ap, unsigned));
        } else if (f[0] == 'z' && f[1] == 'u') {
            ub_buf_addf(b, "%zu", va_arg(ap, size_t));
            f++;
        } else if (f[0] == 'l' && f[1] == 'l' && (f[2] == 'd' || f[2] == 'u')) {
            if (f[2] == 'd')
                ub_buf_addf(b, "%lld", va_arg(ap, long long));
            else
                ub_buf_addf(b, "%llu", va_arg(ap, unsigned long long));
            f += 2;
        } else if (f[0] == 'l' && (f[1] == 'd' || f[1] == 'u')) {
            if (f[1] == 'd')
                ub_buf_addf(b, "%ld", va_arg(ap, long));
            else
                ub_buf_addf(b, "%lu", va_arg(ap, unsigned long));
            f++;
        } else {
            break;                     /* unsupported conversion: programming error */
        }
        if (!*f)
            break;
    }
    va_end(ap);
    return b->err ? -1 : 0;
}

int ub_html_urlpart(ub_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            ub_buf_addc(b, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            ub_buf_add(b, e, 3);
        }
    }
    return b->err ? -1 : 0;
}

int ub_html_json_script(ub_buf *b, const char *json, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)json[i];
        if (c == '<')
            ub_buf_adds(b, "\\u003c");
        else if (c == '>')
            ub_buf_adds(b, "\\u003e");
        else if (c == '&')
            ub_buf_adds(b, "\\u0026");
        else if (c == 0xE2 && i + 2 < n && (unsigned char)json[i + 1] == 0x80 &&
                 ((unsigned char)json[i + 2] == 0xA8 || (unsigned char)json[i + 2] == 0xA9)) {
            ub_buf_adds(b, (unsigned char)json[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
            i += 2;
        } else
            ub_buf_addc(b, (char)c);
    }
    return b->err ? -1 : 0;
}
