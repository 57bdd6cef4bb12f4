/* sqlnames.h — the tables a SQL text names, read cheaply: the qualified
 * names (SCHEMA.TABLE, or more parts) after FROM or JOIN (read) and after
 * INTO, UPDATE, TABLE, EXISTS, DELETE FROM or COPY (written).  Comments
 * and string literals are skipped; unqualified names are left out (a CTE,
 * an alias or the search path's guess).  A heuristic for lineage, not a
 * parser: what it names is what the text says, never what it means. */
#ifndef UB_SQLNAMES_H
#define UB_SQLNAMES_H
#include <stddef.h>

/* Called once per occurrence, in text order, with the name as written
 * (quotes kept) and written = 1 for a table the text writes.  A non-zero
 * return stops the scan and is returned. */
typedef int (*ub_sqlnames_cb)(void *ud, const char *name, int written);
int ub_sqlnames_scan(const char *sql, ub_sqlnames_cb cb, void *ud);

/* Splits a name as written into its last two parts, folded as PostgreSQL
 * folds identifiers (unquoted: lower case; "Quoted": as is, "" → ").
 * 0, or -1 when the name has fewer than two parts or does not fit. */
int ub_sqlnames_split(const char *name, char *schema, size_t scap, char *table, size_t tcap);

#endif
