/* wh_partition.c — make a lake prefix the ds partition of a warehouse table. */
#include "ops/dialect.h"
#include <string.h>

static const ub_param params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "warehouse", .choices = "warehouse",
      .desc = "warehouse connection (its dialect decides the SQL)" },
    { .name = "table", .type = UB_T_STR, .required = 1,
      .desc = "partitioned table, schema.table" },
    { .name = "column", .type = UB_T_STR, .def = "insert_date",
      .desc = "partition column" },
    { .name = "value", .type = UB_T_STR, .def = "{{ ds }}",
      .desc = "partition value" },
    { .name = "location", .type = UB_T_LAKEREF, .required = 1, .choices = "object|prefix",
      .desc = "lake object, or prefix ending in '/' (every object under it)" },
    { .name = "setup", .type = UB_T_PATH,
      .desc = "SQL file run first, one setup at a time, in its own transaction (idempotent DDL creating the table)" },
    { .name = NULL },
};

static int fill(ub_opctx *c, ub_partition *p)
{
    memset(p, 0, sizeof *p);
    p->conn_param = "conn";
    p->table = ub_op_str(c, "table");
    p->column = ub_op_str(c, "column");
    p->value = ub_op_str(c, "value");
    p->location = ub_op_str(c, "location");
    p->setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : NULL;
    if (!p->table || !p->column || !p->value || !p->location || (ub_op_has(c, "setup") && !p->setup))
        return -1;
    for (const char *q = p->table; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
              *q == '.'))
            return ub_op_fail(c, "table name '%s' may only hold letters, digits, '_' and '.'", p->table);
    /* the column is written into the DDL as a name: keep it one */
    for (const char *q = p->column; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return ub_op_fail(c, "column name '%s' may only hold letters, digits and '_'", p->column);
    if (!*p->column)
        return ub_op_fail(c, "column name is empty");
    return 0;
}

static int plan(ub_opctx *c)
{
    ub_partition p;
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!d || fill(c, &p))
        return -1;
    return d->partition_plan(c, &p);
}

static int run(ub_opctx *c)
{
    ub_partition p;
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!d || fill(c, &p))
        return -1;
    return d->partition_run(c, &p);
}

const ub_opdesc ub_op_wh_partition = {
    .name = "wh.partition",
    .summary = "make lake data the ds partition of a warehouse table",
    .doc = "Registers the objects at a lake location as one partition (column = value) of a warehouse table. "
           "postgres dialect: the table is LIST-partitioned; the partition is rebuilt from the lake objects with "
           "COPY FROM STDIN and swapped in, all in one transaction, so readers see the old partition or the new "
           "one, never a part. redshift dialect: ALTER TABLE ... ADD IF NOT EXISTS PARTITION ... LOCATION "
           "'s3://...' on the Spectrum external table.",
    .params = params,
    .plan = plan,
    .run = run,
};
