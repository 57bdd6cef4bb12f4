/* html.h — the one writer of untrusted text into HTML (web pages and report files).
 *
 * Layer io/: includes only base/.
 * Every value that reaches a page goes through one of these, once, at the edge.
 * Each appends to b (see base/buf.h: on failure b is in error and later appends
 * are no-ops, so callers check b->err once at the end).
 */
#ifndef UB_HTML_H
#define UB_HTML_H
#include "base/buf.h"
#include <stddef.h>

/* Text content or a quoted attribute value: & < > " ' escaped; NUL and C0
 * control bytes other than tab/newline dropped; invalid UTF-8 becomes U+FFFD. */
int ub_html_text(ub_buf *b, const char *s);
int ub_html_textn(ub_buf *b, const char *s, size_t n);
/* printf-style, with every %s argument escaped: only %s, %d, %u, %ld, %lu, %lld, %llu, %zu, %%,
 * and %.Ns are understood (others are a programming error and write nothing). */
int ub_html_textf(ub_buf *b, const char *fmt, ...);
/* A URL path segment or query value: percent-encodes everything but A-Za-z0-9-._~ */
int ub_html_urlpart(ub_buf *b, const char *s);
/* JSON text (already valid JSON) made safe inside <script type="application/json">:
 * every '<', '>' and '&' becomes \u003c \u003e \u0026, and U+2028/U+2029 are escaped,
 * so "</script>" or "<!--" in data can never end or change the element. */
int ub_html_json_script(ub_buf *b, const char *json, size_t n);

#endif
