/* reports_page.h — the reports a served pipeline declares, live:
 *   /pipelines/NAME/reports/ID[?ds=D]           the page (default ds: the newest successful run)
 *   /pipelines/NAME/reports/ID/download?ds=D    the self-contained file, as `ubpipe report` writes it
 *   /reports/ID[/download][?ds=D]               the same, when one served pipeline declares ID
 * Both pages come from one render, cached per (pipeline, report, ds, version
 * of the report file: its queries) until the pipeline's journal or spec
 * changes (serve.h). */
#ifndef UB_REPORTS_PAGE_H
#define UB_REPORTS_PAGE_H
#include "base/buf.h"
#include "web/pages.h"
#include "web/serve.h"

/* The page (download: the file, with r->attachment set) into body; the HTTP status. */
int  ub_reports_page(ub_serve *s, const ub_page_req *r, const char *pipeline, const char *id, int download,
                     ub_buf *body, const char **content_type);
/* How many served pipelines declare report id; the first one's name into pipeline. */
int  ub_reports_resolve(ub_serve *s, const char *id, char *pipeline, size_t cap);

#endif
