/* pages.h — the HTML pages of `ubpipe serve` (owned by the pages engineer;
 * the server calls ub_pages_get for every GET not under /api/, /metrics,
 * /login, /logout). */
#ifndef UB_PAGES_H
#define UB_PAGES_H
#include "base/buf.h"
#include "web/serve.h"

typedef struct ub_page_req {
    const char *path, *query;
    const char *csrf;       /* the session's CSRF token; NULL = not logged in */
    int         read_only;
} ub_page_req;

/* Fills body and *content_type (static string); returns the HTTP status. */
int ub_pages_get(ub_serve *s, const ub_page_req *r, ub_buf *body, const char **content_type);

#endif
