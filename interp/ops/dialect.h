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

typedef struct ub_dialect {
    const char *name;
    /* whether the sql operator may wrap a file in BEGIN/COMMIT */
    int transactional_ddl;
    /* run by ub_pg_connect on every session it opens: the settings ubpipe relies on
     * (durable commits before a task journals success; how sql.literal's quoting reads) */
    const char *session_sql;
    int (*partition_plan)(ub_opctx *c, const ub_partition *p);
    int (*partition_run)(ub_opctx *c, const ub_partition *p);
} ub_dialect;

/* The dialect of the connection named by parameter conn_param ("postgres"
 * when the connection does not say). NULL and a task error if unknown. */
const ub_dialect *ub_dialect_of(ub_opctx *c, const char *conn_param);

#endif
