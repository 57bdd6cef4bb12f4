/* wh_partition.c — make a lake prefix the ds partition of a warehouse table. */
#include "ops/dialect.h"
#include <string.h>

static const ub_param params[] = {
    { .name = "conn", .type = UB_T_CONN, .def = "warehouse", .choices = "warehouse",
      .desc = "warehouse connection (its dialect decides the SQL)" },
    { .name = "table", .type = UB_T_STR, .required = 1,
      .desc = "partitioned table, schema.table; each part is quoted as an identifier (case kept)" },
    { .name = "column", .type = UB_T_STR, .def = "insert_date",
      .desc = "partition column, quoted as an identifier (case kept)" },
    { .name = "value", .type = UB_T_STR, .def = "{{ ds }}",
      .desc = "partition value" },
    { .name = "location", .type = UB_T_LAKEREF, .required = 1, .choices = "object|prefix",
      .desc = "lake object, or prefix ending in '/' (every object under it)" },
    { .name = "setup", .type = UB_T_PATH,
      .desc = "SQL file run first, one setup at a time, in its own transaction (idempotent DDL creating the table)" },
    { .name = NULL },
};

/* The rendered parameters; the names are quoted as identifiers wherever they reach SQL,
 * and checked by the dialect (length, empty parts, control characters). */
static int fill(ub_opctx *c, const ub_dialect *d, ub_partition *p)
{
    memset(p, 0, sizeof *p);
    p->conn_param = "conn";
    p->table_param = "table";
    p->column_param = "column";
    p->table = ub_op_str(c, "table");
    p->column = ub_op_str(c, "column");
    p->value = ub_op_str(c, "value");
    p->location = ub_op_str(c, "location");
    p->setup = ub_op_has(c, "setup") ? ub_op_file_rendered(c, "setup") : NULL;
    if (!p->table || !p->column || !p->value || !p->location || (ub_op_has(c, "setup") && !p->setup))
        return -1;
    return d->partition_check(c, d, p);
}

/* the names (dialect.c), before anything runs */
static int check(ub_opctx *c)
{
    ub_partition p;
    const ub_dialect *d = ub_dialect_of(c, "conn");
    return !d || fill(c, d, &p) ? -1 : 0;
}

static int plan(ub_opctx *c)
{
    ub_partition p;
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!d || fill(c, d, &p))
        return -1;
    return d->partition_plan(c, &p);
}

static int run(ub_opctx *c)
{
    ub_partition p;
    const ub_dialect *d = ub_dialect_of(c, "conn");
    if (!d || fill(c, d, &p))
        return -1;
    return d->partition_run(c, &p);
}

const ub_opdesc ub_op_wh_partition = {
    .name = "wh.partition",
    .summary = "make lake data the ds partition of a warehouse table",
    .doc = "Registers the objects at a lake location as one partition (column = value) of a warehouse table. "
           "postgres dialect: the table is LIST-partitioned; the partition is rebuilt from the lake objects with "
           "COPY FROM STDIN and swapped in, all in one transaction, so readers see the old partition or the new "
           "one, never a part. Each CSV object goes in COPY's binary format as far as ubpipe converts its records "
           "exactly (bool, int2/4/8, text, varchar, char, numeric, date and timestamp columns, values in the form "
           "the server writes them), and from the first record it does not as CSV, which the server reads itself: "
           "the table and every error are the same as a CSV COPY's (UBPIPE_COPY_BINARY=0: CSV only). redshift dialect: ALTER TABLE ... ADD IF NOT EXISTS PARTITION ... LOCATION "
           "'s3://...' on the Spectrum external table. The table and the column reach the SQL as quoted "
           "identifiers, whatever they hold. plan refuses, at the parameter, a name longer than the dialect keeps "
           "(postgres 63 bytes, counting the partition's own table TABLE_pVALUE__new; redshift 127): the server "
           "would cut it short without an error, and two long names would be one table. Before the load (postgres) the "
           "table must exist and be partitioned, and every column of each object's CSV header must be a column of "
           "the table; the error says which, naming the table and the object.",
    .params = params,
    .check = check,
    .plan = plan,
    .run = run,
};
