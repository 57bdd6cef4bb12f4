/* dialect.h — what differs between warehouses (PostgreSQL, Redshift).
 *
 * Operators ask the dialect; they do not branch on its name.
 */
#ifndef UB_DIALECT_H
#define UB_DIALECT_H
#include "op.h"

typedef struct ub_partition {
    const char *conn_param;   /* operator parameter naming the connection */
    const char *table;        /* "schema.table" */
    const char *column;       /* partition column, e.g. insert_date */
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

typedef struct ub_dialect {
    const char *name;
    /* whether the sql operator may wrap a file in BEGIN/COMMIT */
    int transactional_ddl;
    /* run by ub_pg_connect on every session it opens: the settings ubpipe relies on
     * (durable commits before a task journals success; how sql.literal's quoting reads) */
    const char *session_sql;
    ub_setup_lock setup_lock;
    int (*partition_plan)(ub_opctx *c, const ub_partition *p);
    int (*partition_run)(ub_opctx *c, const ub_partition *p);
} ub_dialect;

/* The dialect of the connection named by parameter conn_param ("postgres"
 * when the connection does not say). NULL and a task error if unknown. */
const ub_dialect *ub_dialect_of(ub_opctx *c, const char *conn_param);

/* A setup file (idempotent DDL), one at a time: on postgres in its own transaction holding
 * pg_advisory_xact_lock(UB_SETUP_LOCK_KEY), so that every ubpipe session on the database takes
 * its turn and sees the objects an earlier one committed; on redshift under an exclusive lock
 * of STATE/setup.lock.  It commits before the task's own statements begin.
 * ub_dialect_setup_plan describes it as a plan effect on connection conn. */
#define UB_SETUP_LOCK_KEY "8459951620366532609"   /* 0x7562706970650001: "ubpipe" 1 */
struct pg_conn;
int ub_dialect_setup_run(ub_opctx *c, const ub_dialect *d, struct pg_conn *db, const char *setup);
void ub_dialect_setup_plan(ub_opctx *c, const ub_dialect *d, const char *conn, const char *setup);

#endif
