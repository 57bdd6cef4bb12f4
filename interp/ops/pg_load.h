/* pg_load.h — one CSV object into a table by COPY: binary where ubpipe converts it exactly. */
#ifndef UB_PG_LOAD_H
#define UB_PG_LOAD_H
#include "ops/pg.h"
#include "io/pgbin.h"

/* Whether loads may use the binary format: not when UBPIPE_COPY_BINARY is "0". */
int ub_pgload_binary_wanted(void);

/* Loads the CSV object r (owned; its first record the header) into the open transaction on
 * db with head, "COPY table (columns of the header)".
 *   cols (n, one per header column) given: COPY ... FROM STDIN (FORMAT binary, FREEZE true)
 *   of the records io/pgbin.h converts, then, from the first record it does not (if any),
 *   COPY ... FROM STDIN (FORMAT csv, HEADER true, FREEZE true) of the header and the rest as
 *   the object holds them, so that the server reads those itself, as it would in one COPY;
 *   cols NULL: one COPY ... FROM STDIN (FORMAT csv, HEADER true, FREEZE true).
 * *bytes grows by the object's bytes, *rows by the rows loaded.
 * 0 loaded; 1 the server refused the binary rows (logged; the transaction has failed: the
 * caller begins it again and loads with cols NULL, which reads the object as the server
 * does); -1 the task failed, a data error of the CSV part naming `what` and its line. */
int ub_pgload_csv(ub_opctx *c, PGconn *db, const char *head, const ub_pgbin_col *cols, size_t n, ub_reader *r,
                  const char *what, uint64_t *bytes, uint64_t *rows);

#endif
