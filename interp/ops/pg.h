/* pg.h — libpq helpers shared by the PostgreSQL-speaking operators. */
#ifndef UB_PG_H
#define UB_PG_H
#include <libpq-fe.h>
#include "op.h"

/* Connects with the dsn of the connection named by parameter `param` and runs its
 * dialect's session settings (application_name, DateStyle ISO, synchronous_commit on,
 * standard_conforming_strings on, client_encoding UTF8 on postgres; see dialect.c).
 * NULL on failure (task failed). */
PGconn *ub_pg_connect(ub_opctx *c, const char *param);
/* Runs sql (one or more statements); -1 and a task error on failure. */
int     ub_pg_exec(ub_opctx *c, PGconn *db, const char *sql);
/* As ub_pg_exec for the text ub_op_file_rendered(c, key) returned: an error says where in
 * the file, "FILE:LINE:COL: " + what + the server's message; when the server gave no position,
 * the start of the failing statement (" (in the statement that starts there)"). */
int     ub_pg_exec_file(ub_opctx *c, PGconn *db, const char *sql, const char *key, const char *what);
/* "FILE:LINE:COL" into buf for the error of res, a statement whose text sent was `skip`
 * characters, then the text ub_op_file_rendered(c, key) returned (COPY ( + the file...);
 * -1 when the server gave no position in the file's part. */
int     ub_pg_where(ub_opctx *c, const PGresult *res, const char *sent, size_t skip, const char *key, char *buf,
                    size_t cap);
/* Formats a libpq error (primary message, detail, hint, context) into one line:
 * "primary; detail: ...; hint: ...; context: ...". */
const char *ub_pg_errmsg(PGconn *db, const PGresult *res, char *buf, size_t cap);
/* Asks the server to cancel the running statement. */
void    ub_pg_cancel(PGconn *db);
/* Waits until the statement sent on db has its next result ready (PQgetResult will
 * not block).  When the run is cancelled meanwhile, the statement is cancelled (the
 * request bounded too); a statement that has not ended 5 s after its cancel (or, sent
 * after the cancel as cleanup, 5 s after it was sent) is given up: -1 with why. */
int     ub_pg_wait(ub_opctx *c, PGconn *db, char *why, size_t cap);
/* Sends sql and waits (as ub_pg_wait) for its first result, which the caller owns
 * (PQclear); NULL with why when none came.  For COPY, which PQexec would wait for
 * without a bound. */
PGresult *ub_pg_start(ub_opctx *c, PGconn *db, const char *sql, char *why, size_t cap);
/* Starts "COPY ... FROM STDIN" (stmt), bounded and cancellable: 0 when the server waits for
 * the rows, else -1 with the task failed. */
int     ub_pg_copy_start(ub_opctx *c, PGconn *db, const char *stmt);
/* Feeds a reader into an open COPY FROM STDIN, ends it and waits for its result.  Adds the
 * bytes sent and the rows loaded to *bytes and *rows (may be NULL).  0 loaded; 1 the server
 * refused the rows: *refused is its error (the caller's, PQclear), nothing is reported; -1
 * the task failed (cancelled, the reader's error, the connection). */
int     ub_pg_copy_feed(ub_opctx *c, PGconn *db, ub_reader *r, const char *what, uint64_t *bytes, uint64_t *rows,
                        PGresult **refused);
/* The task fails with res, a COPY's error: "WHAT:LINE: message (column c)", LINE the line COPY
 * names plus line0 (the lines of `what` before the ones this COPY read); a data error (SQLSTATE
 * class 22 or 23) is fatal (no retry).  -1. */
int     ub_pg_copy_error(ub_opctx *c, PGconn *db, const PGresult *res, const char *what, uint64_t line0);
/* ub_pg_copy_feed, then ub_pg_copy_error for a refusal. */
int     ub_pg_copy_in(ub_opctx *c, PGconn *db, ub_reader *r, const char *what, uint64_t line0, uint64_t *bytes,
                      uint64_t *rows);

/* For lineage (ub_op_lineage_wanted only): the columns of the tables
 * (names as the task writes them, SCHEMA.TABLE) from information_schema on
 * db, reported with ub_op_dataset_schema; a table the catalog does not
 * list (a Spectrum external table on Redshift) gets none.  One query; a
 * failure is only logged. */
void    ub_pg_report_columns(ub_opctx *c, PGconn *db, const char *const *tables, size_t n);

#endif
