/* dialect.h — what differs between warehouses (PostgreSQL, Redshift).
 *
 * Operators ask the dialect; they do not branch on its name.
 */
#ifndef UB_DIALECT_H
#define UB_DIALECT_H
#include "op.h"

typedef struct ub_partition {
    const char *conn_param;   /* operator parameter naming the connection */
    const char *table_param;  /* ... the table, and the column: where a bad name is reported */
    const char *column_param;
    const char *table;        /* "schema.table", each part any name (quoted as an identifier) */
    const char *column;       /* partition column, e.g. insert_date (quoted as an identifier) */
    const char *value;        /* partition value, e.g. the ds */
    const char *location;     /* lake key of an object, or a prefix ending in '/' */
    const char *setup;        /* rendered setup SQL, or NULL */
} ub_partition;

/* How concurrent setup files are kept from racing (CREATE ... IF NOT EXISTS is not safe
 * when two sessions run it at once: the loser fails on a unique index). */
typedef enum {
    UB_SETUP_ADVISORY,   /* own transaction holding a transaction-scoped advisory lock */
    UB_SETUP_FILELOCK    /* an exclusive flock on STATE/setup.lock (no advisory locks) */
} ub_setup_lock;

typedef struct ub_buf ub_buf;
typedef struct ub_dialect ub_dialect;

struct ub_dialect {
    const char *name;
    /* whether the sql operator may wrap a file in BEGIN/COMMIT */
    int transactional_ddl;
    /* run by ub_pg_connect on every session it opens: the settings ubpipe relies on
     * (durable commits before a task journals success; how sql.literal's quoting reads) */
    const char *session_sql;
    ub_setup_lock setup_lock;
    /* the longest name (of a table, a schema, a column) the server keeps whole, in bytes:
     * PostgreSQL truncates a longer one to NAMEDATALEN - 1 = 63 (with a NOTICE only), so two
     * long names that differ after byte 63 are the same table; Redshift's limit is 127 */
    size_t max_ident;
    /* appends name (len bytes, one part) as a quoted identifier */
    void (*quote_ident)(ub_buf *out, const char *name, size_t len);
    /* checks the names of p (ub_dialect_check_name) before a plan or a run of it */
    int (*partition_check)(ub_opctx *c, const ub_dialect *d, const ub_partition *p);
    int (*partition_plan)(ub_opctx *c, const ub_partition *p);
    int (*partition_run)(ub_opctx *c, const ub_partition *p);
};

/* The dialect of the connection named by parameter conn_param ("postgres"
 * when the connection does not say). NULL and a task error if unknown. */
const ub_dialect *ub_dialect_of(ub_opctx *c, const char *conn_param);

/* A name from the spec, rendered, that ubpipe writes into SQL: `what` names it in messages
 * ("table", "partition table"); qualified: "schema.table", split at the dots.  Every part
 * must be non-empty, free of control characters and at most d->max_ident bytes; otherwise
 * an error at parameter `param` (FILE:LINE:COL in plan, exit 2) and -1. */
int ub_dialect_check_name(ub_opctx *c, const ub_dialect *d, const char *param, const char *what, const char *name,
                          int qualified);
/* Appends name quoted with the dialect's identifier quoting, part by part when qualified
 * ("a.b" -> "a"."b"); -1 on an empty part or out of memory. */
int ub_dialect_ident(const ub_dialect *d, const char *name, int qualified, ub_buf *out);

/* A setup file (idempotent DDL), one at a time: on postgres in its own transaction holding
 * pg_advisory_xact_lock(UB_SETUP_LOCK_KEY), so that every ubpipe session on the database takes
 * its turn and sees the objects an earlier one committed; on redshift under an exclusive lock
 * of STATE/setup.lock.  It commits before the task's own statements begin.
 * setup is the rendered text of the task's parameter `setup`: an error names that file
 * ("FILE:LINE:COL: setup failed: ...").
 * ub_dialect_setup_plan describes it as a plan effect on connection conn. */
#define UB_SETUP_LOCK_KEY "8459951620366532609"   /* 0x7562706970650001: "ubpipe" 1 */
struct pg_conn;
int ub_dialect_setup_run(ub_opctx *c, const ub_dialect *d, struct pg_conn *db, const char *setup);
void ub_dialect_setup_plan(ub_opctx *c, const ub_dialect *d, const char *conn, const char *setup);

#endif
