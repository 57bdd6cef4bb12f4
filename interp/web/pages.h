/* pages.h — the HTML pages of `ubpipe serve`, and their CSS/JS assets.
 *
 * Layer web/.  The pages are clients of the JSON API (web/api.h): each one is
 * built from ub_api_* replies only, every value written through io/html.h.
 * Routes: /  /pipelines/NAME  /pipelines/NAME/runs/DS
 *         /pipelines/NAME/runs/DS/tasks/TASK[?try=N]  /assets/NAME
 *         /pipelines/NAME/reports/ID[/download]  /reports/ID[/download] (web/reports_page.h)
 * The server calls ub_pages_get for every GET not under /api/, /metrics,
 * /login, /logout.
 */
#ifndef UB_PAGES_H
#define UB_PAGES_H
#include "base/buf.h"
#include "web/serve.h"

typedef struct ub_page_req {
    const char *path, *query;    /* path still percent-encoded; query without '?', or NULL */
    const char *csrf;            /* the session's CSRF token; NULL = not logged in */
    int         read_only;       /* --read-only: no action buttons */
    char       *attachment;      /* out (256 bytes, "" on entry): a Content-Disposition to send, if set */
} ub_page_req;

/* Renders the page or asset for a GET into body (appended) and sets
 * *content_type to a static string.  Returns the HTTP status (200, 404, ...);
 * error statuses come with an HTML page saying what is wrong. */
int ub_pages_get(ub_serve *s, const ub_page_req *r, ub_buf *body, const char **content_type);

#endif
