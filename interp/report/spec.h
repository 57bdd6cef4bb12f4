/* report/spec.h — the reports a pipeline spec declares (`reports:` id -> {file, conn, title}). */
#ifndef UB_REPORT_SPEC_H
#define UB_REPORT_SPEC_H
#include "core/engine.h"
#include "core/spec.h"

typedef struct ub_report_decl {
    const char *id;
    const char *path;      /* absolute (spec's arena) */
    const char *display;   /* as written in the spec, relative to its directory */
    const char *conn;      /* connection name (default "warehouse") */
    const char *title;     /* NULL when not set */
    ub_loc      loc;       /* of the id */
} ub_report_decl;

/* Fills d for report id; -1 with an error in diag when the spec declares no such report. */
int ub_report_find(ub_spec *s, const char *id, ub_report_decl *decl, ub_diag *diag);
/* The dsn of connection conn in the engine's profile; NULL with an error in diag. */
const char *ub_report_dsn(ub_engine *e, const char *conn, ub_diag *diag);
/* For `validate`: parses and checks every declared report (no database,
 * templates not rendered).  0 ok, -1 errors reported. */
int ub_report_check_spec(ub_spec *s, ub_diag *diag);

#endif
