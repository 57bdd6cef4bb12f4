/* pages_stub.c — placeholder until the pages engineer's web/pages.c lands
 * (branch serve-ui replaces this file; delete it on merge).  A weak
 * definition so that a real ub_pages_get wins at link time. */
#include "web/pages.h"
#include <string.h>

__attribute__((weak)) int ub_pages_get(ub_serve *s, const ub_page_req *r, ub_buf *body,
                                       const char **content_type)
{
    (void)s;
    *content_type = "text/html; charset=utf-8";
    if (strcmp(r->path, "/") != 0) {
        ub_buf_adds(body, "<!doctype html><title>not found</title><p>not found</p>\n");
        return 404;
    }
    ub_buf_adds(body, "<!doctype html><title>ubpipe</title><p>ubpipe serve: see /api/v1/pipelines</p>\n");
    return 200;
}
