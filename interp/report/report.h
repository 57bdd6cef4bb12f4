/* report.h — reports as code: a CommonMark file with SQL, rendered into one
 * self-contained HTML file (see man/ubpipe-report.5).
 *
 * Layer report/: includes base, io, lua, core.  Operators and the CLI drive it
 * through the options below; it never sees an operator context.
 *
 * Fenced blocks with info `sql NAME` are queries, `chart`, `table` and
 * `value` blocks have YAML bodies; everything else is narrative Markdown
 * (parsed and rendered by libcmark, raw HTML omitted).  Every problem is
 * reported to the diag with FILE:LINE:COL of the block (or of the key).
 */
#ifndef UB_REPORT_H
#define UB_REPORT_H
#include <stdio.h>
#include "base/buf.h"
#include "base/diag.h"
#include "base/err.h"

/* Renders one template text (a query, a `{{ }}` in the narrative) into out;
 * -1 with err set (the message only; the report adds the location). */
typedef int (*ub_report_render_fn)(void *ud, const char *text, size_t len, const char *where,
                                   ub_buf *out, ub_err *err);

typedef struct ub_report_opts {
    const char *path;            /* the report file */
    const char *display;         /* its name in messages (NULL = path) */
    const char *id, *title;      /* report id and title (title NULL = id or the first heading) */
    const char *pipeline, *ds;   /* shown in the header */
    ub_report_render_fn render;  /* NULL: texts are used as they are */
    void       *ud;
    const char *dsn;             /* libpq conninfo; NULL in check mode */
    double      timeout;         /* statement_timeout per query, seconds (<= 0: 30) */
    long        max_rows;        /* row cap per query (<= 0: 10000) */
} ub_report_opts;

/* Parses and checks the report, renders its queries (no database) and
 * writes to out (when not NULL) each query text and each block's spec as
 * JSON.  0 ok, -1 errors reported to d. */
int ub_report_check(const ub_report_opts *o, FILE *out, ub_diag *d);

/* Runs the queries (read-only transaction, statement timeout, row cap) and
 * appends the HTML page to html.  0 ok, -1 errors reported to d. */
int ub_report_render(const ub_report_opts *o, ub_buf *html, ub_diag *d);

/* As ub_report_render, and (live not NULL) from the same query results the
 * page `ubpipe serve` shows: the same data and blocks, the styles and
 * scripts by URL (/assets/report.css, report-live.css, chart.min.js,
 * report.js: no inline script or style, for a strict CSP) and live_bar
 * (trusted HTML, already escaped) at the top of <body>. */
int ub_report_render_live(const ub_report_opts *o, const char *live_bar, ub_buf *html, ub_buf *live, ub_diag *d);
/* An embedded asset by name ("report.css", "report.js", "chart.min.js"); NULL when unknown. */
const void *ub_report_asset(const char *name, size_t *len);

/* The queries as rendered, for `plan`: calls fn for each query in order. */
int ub_report_queries(const ub_report_opts *o, void (*fn)(void *ud, const char *name, const char *sql),
                      void *ud, ub_diag *d);

#endif
