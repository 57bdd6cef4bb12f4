/* dialect.c — partition SQL for PostgreSQL (LIST partitions loaded by COPY)
 * and Redshift (Spectrum external partitions). */
#include "ops/dialect.h"
#include "base/buf.h"
#include "base/mem.h"
#include "io/csv.h"
#include "io/stream.h"
#include "ops/pg.h"
#include "ops/pg_load.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* 'text' with quotes doubled; E'text' with quotes and backslashes doubled when the text holds
 * a backslash: read the same whether backslashes escape (Redshift, standard_conforming_strings
 * off) or not — the rule of sql.literal (stdlib/sql.lua) */
static void lit(ub_buf *b, const char *s)
{
    if (strchr(s, '\\'))
        ub_buf_addc(b, 'E');
    ub_buf_addc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            ub_buf_addc(b, *s);
        ub_buf_addc(b, *s);
    }
    ub_buf_addc(b, '\'');
}

/* schema.table_p<value with non-alphanumerics removed> */
static void part_name(ub_buf *b, const ub_partition *p)
{
    ub_buf_adds(b, p->table);
    ub_buf_adds(b, "_p");
    for (const char *s = p->value; *s; s++)
        if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
            ub_buf_addc(b, *s);
}

/* the suffix of the table a postgres partition is loaded into before it is swapped in */
#define PG_NEW_SUFFIX "__new"

/* ---- names ------------------------------------------------------------------ */

/* "name" with " doubled: PostgreSQL's and Redshift's delimited identifiers */
static void dq_ident(ub_buf *b, const char *s, size_t n)
{
    ub_buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            ub_buf_addc(b, '"');
        ub_buf_addc(b, s[i]);
    }
    ub_buf_addc(b, '"');
}

int ub_dialect_ident(const ub_dialect *d, const char *name, int qualified, ub_buf *out)
{
    const char *p = name;
    for (;;) {
        const char *dot = qualified ? strchr(p, '.') : NULL;
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0)
            return -1;
        d->quote_ident(out, p, l);
        if (!dot)
            break;
        ub_buf_addc(out, '.');
        p = dot + 1;
    }
    return out->err ? -1 : 0;
}

int ub_dialect_check_name(ub_opctx *c, const ub_dialect *d, const char *param, const char *what, const char *name,
                          int qualified)
{
    /* first, so that no message below shows a control character to a terminal */
    for (size_t i = 0; name[i]; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return ub_op_param_error(c, param, "%s name holds a control character (byte %zu, 0x%02X)", what, i + 1,
                                     (unsigned)(unsigned char)name[i]);
    const char *p = name;
    for (;;) {
        const char *dot = qualified ? strchr(p, '.') : NULL;
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0)
            return ub_op_param_error(c, param, "%s name '%s' has an empty part%s", what, name,
                                     qualified ? " (write schema.table)" : "");
        if (l > d->max_ident)
            return ub_op_param_error(c, param,
                                     "%s name '%.*s' is %zu bytes; the %s dialect keeps at most %zu bytes of a name "
                                     "(the server would cut it short, and two names that differ only after byte "
                                     "%zu would be one)",
                                     what, (int)l, p, l, d->name, d->max_ident, d->max_ident);
        if (!dot)
            return 0;
        p = dot + 1;
    }
}

static int check_names(ub_opctx *c, const ub_dialect *d, const ub_partition *p)
{
    if (ub_dialect_check_name(c, d, p->table_param, "table", p->table, 1) ||
        ub_dialect_check_name(c, d, p->column_param, "column", p->column, 0))
        return -1;
    return 0;
}

/* ---- setup files ----------------------------------------------------------- */

void ub_dialect_setup_plan(ub_opctx *c, const ub_dialect *d, const char *conn, const char *setup)
{
    if (d->setup_lock == UB_SETUP_ADVISORY)
        ub_op_effect(c, "sql", conn, "BEGIN;\nSELECT pg_advisory_xact_lock(%s);  -- one setup at a time\n%s\nCOMMIT;",
                     UB_SETUP_LOCK_KEY, setup);
    else
        ub_op_effect(c, "sql", conn, "-- one setup at a time (lock of STATE/setup.lock)\n%s", setup);
}

static int pg_setup(ub_opctx *c, PGconn *db, const char *setup)
{
    if (ub_pg_exec(c, db, "BEGIN") || ub_pg_exec(c, db, "SELECT pg_advisory_xact_lock(" UB_SETUP_LOCK_KEY ")") ||
        ub_pg_exec_file(c, db, setup, "setup", "setup failed: ") || ub_pg_exec(c, db, "COMMIT")) {
        return -1;                    /* the caller drops the connection: the transaction rolls back */
    }
    return 0;
}

/* Redshift has no advisory locks: ubpipe processes sharing a state directory take turns
 * on a lock file (waiting cancellably). */
static int file_setup(ub_opctx *c, PGconn *db, const char *setup)
{
    ub_buf path = UB_BUF_INIT;
    int fd = -1, rc = -1;
    ub_buf_addf(&path, "%s/setup.lock", ub_op_state_dir(c));
    if (path.err) {
        ub_op_fail(c, "out of memory");
        goto out;
    }
    fd = open(ub_buf_str(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ub_op_fail(c, "cannot open the setup lock '%s': %s", ub_buf_str(&path), strerror(errno));
        goto out;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            ub_op_fail(c, "cannot lock '%s': %s", ub_buf_str(&path), strerror(errno));
            goto out;
        }
        if (ub_op_sleep(c, 0.05)) {
            ub_op_fail(c, "cancelled while waiting for the setup lock");
            goto out;
        }
    }
    rc = ub_pg_exec_file(c, db, setup, "setup", "setup failed: ");
out:
    if (fd >= 0)
        close(fd);                       /* releases the lock */
    ub_buf_free(&path);
    return rc;
}

int ub_dialect_setup_run(ub_opctx *c, const ub_dialect *d, PGconn *db, const char *setup)
{
    return d->setup_lock == UB_SETUP_ADVISORY ? pg_setup(c, db, setup) : file_setup(c, db, setup);
}

/* ---- postgres ------------------------------------------------------------ */

/* postgres: the table, the column, and the partition's names (table_pVALUE, and
 * table_pVALUE__new while it is loaded) each within 63 bytes: a longer partition
 * name would be cut short by the server, and the partitions of two ds could
 * then be one table (the DROP of the new one dropping the other's). */
static int pg_partition_check(ub_opctx *c, const ub_dialect *d, const ub_partition *p)
{
    ub_buf nm = UB_BUF_INIT;
    int rc = -1;
    if (check_names(c, d, p))
        goto out;
    part_name(&nm, p);
    if (nm.err) {
        rc = ub_op_fail(c, "out of memory");
        goto out;
    }
    const char *dot = strrchr(ub_buf_str(&nm), '.');
    const char *bare = dot ? dot + 1 : ub_buf_str(&nm);
    size_t l = strlen(bare) + strlen(PG_NEW_SUFFIX);
    if (l > d->max_ident) {
        rc = ub_op_param_error(c, p->table_param,
                               "partition table name '%s" PG_NEW_SUFFIX "' (the table's name, '_p', the letters "
                               "and digits of the value '%s', and '" PG_NEW_SUFFIX "' while it is loaded) is %zu "
                               "bytes; the %s dialect keeps at most %zu bytes of a name (the server would cut it "
                               "short, and the partitions of two values could be one table): use a shorter table name",
                               bare, p->value, l, d->name, d->max_ident);
        goto out;
    }
    rc = 0;
out:
    ub_buf_free(&nm);
    return rc;
}

/* The statements, with {cols} standing for the column list of each object. */
static int pg_statements(const ub_dialect *d, const ub_partition *p, ub_buf *pre, ub_buf *post, ub_buf *copy_head)
{
    ub_buf parent = UB_BUF_INIT, part = UB_BUF_INIT, partq = UB_BUF_INIT, newq = UB_BUF_INIT, nm = UB_BUF_INIT;
    ub_buf col = UB_BUF_INIT, newnm = UB_BUF_INIT;
    int rc = -1;
    part_name(&nm, p);
    ub_buf_adds(&newnm, ub_buf_str(&nm));
    ub_buf_adds(&newnm, PG_NEW_SUFFIX);
    if (nm.err || newnm.err || ub_dialect_ident(d, p->table, 1, &parent) ||
        ub_dialect_ident(d, ub_buf_str(&nm), 1, &partq) || ub_dialect_ident(d, ub_buf_str(&newnm), 1, &newq) ||
        ub_dialect_ident(d, p->column, 0, &col))
        goto out;
    const char *dot = strrchr(ub_buf_str(&nm), '.');
    const char *bare = dot ? dot + 1 : ub_buf_str(&nm);
    if (ub_dialect_ident(d, bare, 0, &part))
        goto out;
    /* the new table's pages start their writeback as the COPY writes them: under
     * wal_level = minimal a table made in the loading transaction is not WAL-logged
     * but fsynced at COMMIT, which would otherwise write all of it then */
    ub_buf_adds(pre, "SET LOCAL backend_flush_after = '2MB';\n");
    ub_buf_addf(pre, "DROP TABLE IF EXISTS %s;\n", newq.p);
    ub_buf_addf(pre, "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS);\n", newq.p, parent.p);
    ub_buf_addf(pre, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT ", newq.p, col.p);
    lit(pre, p->value);
    ub_buf_addf(pre, ";\nALTER TABLE %s ADD CHECK (%s IS NOT NULL AND %s = ", newq.p, col.p, col.p);
    lit(pre, p->value);
    ub_buf_adds(pre, ");");
    ub_buf_addf(copy_head, "COPY %s", newq.p);
    /* quick statistics (a small sample) so the queries that follow plan well */
    ub_buf_addf(post, "SET LOCAL default_statistics_target = 10;\nANALYZE %s;\n", newq.p);
    ub_buf_addf(post, "DROP TABLE IF EXISTS %s;\n", partq.p);
    ub_buf_addf(post, "ALTER TABLE %s RENAME TO %s;\n", newq.p, part.p);
    ub_buf_addf(post, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (", parent.p, partq.p);
    lit(post, p->value);
    ub_buf_adds(post, ");");
    rc = pre->err || post->err || copy_head->err ? -1 : 0;
out:
    ub_buf_free(&parent);
    ub_buf_free(&part);
    ub_buf_free(&partq);
    ub_buf_free(&newq);
    ub_buf_free(&nm);
    ub_buf_free(&col);
    ub_buf_free(&newnm);
    return rc;
}

static int pg_partition_plan(ub_opctx *c, const ub_partition *p)
{
    ub_buf pre = UB_BUF_INIT, post = UB_BUF_INIT, head = UB_BUF_INIT;
    const char *conn = ub_op_str(c, p->conn_param);
    int rc = -1;
    const ub_dialect *d = ub_dialect_of(c, p->conn_param);
    if (!conn || !d || pg_statements(d, p, &pre, &post, &head))
        goto out;
    int prefix = p->location[strlen(p->location) - 1] == '/';
    ub_op_effect(c, "read", ub_op_lake_url(c) ? ub_op_lake_url(c) : "lake", "%s%s", p->location,
                 prefix ? " (every object under it)" : "");
    if (p->setup)
        ub_dialect_setup_plan(c, d, conn, p->setup);
    const char *z = ub_is_zstd_name(p->location) ? ", zstd-decompressed" : "";
    if (ub_pgload_binary_wanted())
        ub_op_effect(c, "sql", conn,
                     "BEGIN;\n%s\n%s (<columns of the CSV header>) FROM STDIN (FORMAT binary, FREEZE true);"
                     "  -- per object%s: the records ubpipe converts exactly (when the header's columns are "
                     "of types it converts)\n%s (<columns of the CSV header>) FROM STDIN (FORMAT csv, HEADER true, FREEZE true);"
                     "  -- the header and the records from the first not converted, if any; all of the object when "
                     "none is\n%s\nCOMMIT;",
                     ub_buf_str(&pre), ub_buf_str(&head), z, ub_buf_str(&head), ub_buf_str(&post));
    else
        ub_op_effect(c, "sql", conn,
                     "BEGIN;\n%s\n%s (<columns of the CSV header>) FROM STDIN (FORMAT csv, HEADER true, FREEZE true);"
                     "  -- per object%s\n%s\nCOMMIT;",
                     ub_buf_str(&pre), ub_buf_str(&head), z, ub_buf_str(&post));
    rc = 0;
out:
    ub_buf_free(&pre);
    ub_buf_free(&post);
    ub_buf_free(&head);
    return rc;
}

typedef struct keylist { char **k; size_t n, cap; } keylist;

static int collect(void *ud, const char *key, const ub_lake_info *st)
{
    (void)st;
    keylist *l = ud;
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    if (base[0] == '_' || base[0] == '.')          /* _SUCCESS, .crc and the like */
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **p = ub_realloc(l->k, cap * sizeof *p);
        if (!p)
            return -1;
        l->k = p;
        l->cap = cap;
    }
    if (!(l->k[l->n] = ub_strdup(key)))
        return -1;
    l->n++;
    return 0;
}

static ub_reader *open_object(ub_lake *lake, const char *key, ub_err *err)
{
    return ub_lake_open_read_decoded(lake, key, err);
}

/* The partitioned table's columns, in order: their names (each NUL-terminated), and for
 * each its conversion into binary COPY (io/pgbin.h) with a byte saying whether it has one. */
typedef struct tshape {
    ub_buf names;
    ub_buf conv;                        /* ub_pgbin_col per column */
    ub_buf has;                         /* 1 byte per column: 1 converted */
} tshape;
#define TSHAPE_INIT { UB_BUF_INIT, UB_BUF_INIT, UB_BUF_INIT }

static void tshape_free(tshape *t)
{
    ub_buf_free(&t->names);
    ub_buf_free(&t->conv);
    ub_buf_free(&t->has);
}

/* The index of column name (n bytes) in t, or -1 when it is not one of them. */
static long col_index(const tshape *t, const char *name, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < t->names.len; i += strlen(t->names.p + i) + 1, k++)
        if (strlen(t->names.p + i) == n && memcmp(t->names.p + i, name, n) == 0)
            return (long)k;
    return -1;
}

/* The header's names as the columns of lake dataset key (lineage). */
static void report_header(ub_opctx *c, const char *key, const ub_csv_field *f, int n)
{
    char **names = ub_calloc((size_t)n, sizeof *names);
    int k = 0;
    while (names && k < n && (names[k] = ub_strndup(f[k].p, f[k].n)) != NULL)
        k++;
    if (names && k == n)
        ub_op_dataset_schema(c, "lake", key, (size_t)n, (const char *const *)names, NULL);
    for (int i = 0; names && i < k; i++)
        ub_free(names[i]);
    ub_free(names);
}

/* "(col, col, ...)" from the header line of r (closed here), which reads key, each name quoted
 * by the dialect; a name the server would cut short (and so perhaps take for another column), or
 * one that is not a column of the table (t), is a data error; with lineage_key, the header is
 * reported as the columns of that lake dataset.  conv gets one ub_pgbin_col per header column
 * when each has a conversion, else stays empty.  (A partition column in the header meets the
 * new table's CHECK: a row of another value is refused, and the load begun again as CSV.) */
static int header_cols_of(ub_opctx *c, const ub_dialect *d, ub_reader *r, const char *key, const char *lineage_key,
                          const char *table, const tshape *t, ub_buf *cols, ub_buf *conv, ub_err *err)
{
    ub_csv *csv = NULL;
    int rc = -1, binary = 1;
    if (!r || !(csv = ub_csv_open(r, NULL, err)))
        goto out;
    int n = ub_csv_next(csv, err);
    if (n < 0)
        goto out;
    if (n == 0) {
        ub_err_set(err, "'%s': empty object (no CSV header)", key);
        goto out;
    }
    const ub_csv_field *f = ub_csv_fields(csv);
    if (lineage_key)
        report_header(c, lineage_key, f, n);
    ub_buf_addc(cols, '(');
    for (int i = 0; i < n; i++) {
        if (f[i].n > d->max_ident) {
            int cut = 40;                        /* a UTF-8 character is not split */
            while (cut > 0 && ((unsigned char)f[i].p[cut] & 0xc0) == 0x80)
                cut--;
            ub_err_set(err, "'%s': column %d of the CSV header ('%.*s...') is %zu bytes; the %s dialect keeps at most "
                       "%zu bytes of a name", key, i + 1, cut, f[i].p, f[i].n, d->name, d->max_ident);
            goto out;
        }
        long k = col_index(t, f[i].p, f[i].n);
        if (k < 0) {
            ub_buf names = UB_BUF_INIT;
            for (size_t j = 0; j < t->names.len; j += strlen(t->names.p + j) + 1)
                ub_buf_addf(&names, "%s%s", j ? ", " : "", t->names.p + j);
            ub_err_set(err, "'%s': the CSV header does not fit the columns of table %s: its column %d, '%.*s', is "
                       "not one of them (%s has %s)", key, table, i + 1, (int)f[i].n, f[i].p, table,
                       names.err ? "?" : ub_buf_str(&names));
            ub_buf_free(&names);
            goto out;
        }
        if ((size_t)k >= t->has.len || !t->has.p[k])
            binary = 0;
        else if (binary)
            ub_buf_add(conv, t->conv.p + (size_t)k * sizeof(ub_pgbin_col), sizeof(ub_pgbin_col));
        if (i)
            ub_buf_adds(cols, ", ");
        d->quote_ident(cols, f[i].p, f[i].n);
    }
    ub_buf_addc(cols, ')');
    if (!binary || conv->err)
        ub_buf_reset(conv);              /* out of memory here costs speed only */
    rc = cols->err ? ub_err_set(err, "out of memory") : 0;
out:
    ub_csv_free(csv);
    ub_reader_close(r);
    return rc;
}

/* Before the load, on the task's connection: the table exists and is a partitioned table
 * (else say so plainly, rather than the error of a statement on the partition's own table);
 * its columns go to t. */
static int pg_table_shape(ub_opctx *c, const ub_dialect *d, PGconn *db, const ub_partition *p, tshape *t)
{
    ub_buf q = UB_BUF_INIT, parent = UB_BUF_INIT;
    char why[1024];
    PGresult *r = NULL;
    int rc = -1;
    if (ub_dialect_ident(d, p->table, 1, &parent)) {
        rc = ub_op_fail(c, "out of memory");
        goto out;
    }
    ub_buf_adds(&q, "SELECT c.relkind, a.attname, a.atttypid, a.atttypmod, a.attnotnull FROM pg_class c "
                    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid "
                    "AND a.attnum > 0 AND NOT a.attisdropped WHERE c.oid = to_regclass(");
    lit(&q, ub_buf_str(&parent));
    ub_buf_adds(&q, ") ORDER BY a.attnum");
    if (q.err) {
        rc = ub_op_fail(c, "out of memory");
        goto out;
    }
    if (!(r = ub_pg_start(c, db, ub_buf_str(&q), why, sizeof why))) {
        rc = ub_op_fail(c, "%s", why);
        goto out;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = ub_op_fail(c, "%s", ub_pg_errmsg(db, r, why, sizeof why));
        goto out;
    }
    int n = PQntuples(r);
    char kind = n ? PQgetvalue(r, 0, 0)[0] : 0;
    if (!n) {
        rc = ub_op_fail(c, "table %s does not exist (wh.partition loads into a table made with PARTITION BY LIST "
                         "(%s); create it in a setup file)", p->table, p->column);
        goto out;
    }
    if (kind != 'p') {
        const char *what = kind == 'r' ? "a plain table" : kind == 'v' ? "a view" : kind == 'm' ? "a materialized view"
                         : kind == 'f' ? "a foreign table" : "not a table";
        rc = ub_op_fail(c, "table %s is not a partitioned table (it is %s): wh.partition needs one made with "
                         "PARTITION BY LIST (%s)", p->table, what, p->column);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(r, i, 1))
            continue;
        ub_pgbin_col col;
        char has = ub_pgbin_col_of((uint32_t)strtoul(PQgetvalue(r, i, 2), NULL, 10),
                                   (int32_t)strtol(PQgetvalue(r, i, 3), NULL, 10), PQgetvalue(r, i, 4)[0] == 't',
                                   &col) == 0;
        ub_buf_add(&t->names, PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)) + 1);
        ub_buf_add(&t->conv, &col, sizeof col);
        ub_buf_addc(&t->has, has);
    }
    rc = t->names.err || t->conv.err || t->has.err ? ub_op_fail(c, "out of memory") : 0;
out:
    if (r) {
        PQclear(r);
        while (!ub_pg_wait(c, db, why, sizeof why) && (r = PQgetResult(db)))
            PQclear(r);
    }
    ub_buf_free(&q);
    ub_buf_free(&parent);
    return rc;
}

/* The keys of a partition's location: every object under a prefix (ending in
 * '/'), else the one object.  0, or -1 with the task failed. */
static int location_keys(ub_opctx *c, ub_lake *lake, const char *location, keylist *keys)
{
    ub_err err;
    if (location[strlen(location) - 1] != '/')
        return collect(keys, location, NULL) ? ub_op_fail(c, "out of memory") : 0;
    if (ub_lake_list(lake, location, collect, keys, &err))
        return ub_op_fail(c, "%s", err.msg);
    return 0;
}

static void keys_free(keylist *keys)
{
    for (size_t i = 0; i < keys->n; i++)
        ub_free(keys->k[i]);
    ub_free(keys->k);
}

/* The load's session: connected, setup run, a transaction begun, the table's
 * shape read into t and the new table made (pre).  The connection, or
 * NULL with the task failed. */
static PGconn *load_open(ub_opctx *c, const ub_dialect *d, const ub_partition *p, const char *pre, tshape *t)
{
    PGconn *db = ub_pg_connect(c, p->conn_param);
    if (db && ((p->setup && ub_dialect_setup_run(c, d, db, p->setup)) || ub_pg_exec(c, db, "BEGIN") ||
               pg_table_shape(c, d, db, p, t) || ub_pg_exec(c, db, pre))) {
        PQfinish(db);                      /* nothing committed */
        db = NULL;
    }
    return db;
}

/* The new table becomes the partition (post), the transaction commits and the
 * columns loaded are reported.  0, or -1 with the task failed. */
static int load_commit(ub_opctx *c, PGconn *db, const ub_partition *p, const char *post)
{
    if (ub_pg_exec(c, db, post) || ub_pg_exec(c, db, "COMMIT"))
        return -1;
    ub_pg_report_columns(c, db, &p->table, 1);
    return 0;
}

/* The load of one object r (owned) with COPY (pg_load.h), head "COPY table": the header of
 * hr (another reader of the same bytes, closed here) names the columns; with *binary, in the
 * binary format where it converts.  0 loaded; 1 the server refused the binary rows (*binary
 * is now 0: begin again); -1 failed. */
static int load_object(ub_opctx *c, const ub_dialect *d, PGconn *db, const ub_partition *p, const tshape *t,
                       const char *head, ub_reader *hr, ub_reader *r, const char *key, const char *lineage_key,
                       int *binary, uint64_t *bytes, uint64_t *rows)
{
    ub_buf stmt = UB_BUF_INIT, conv = UB_BUF_INIT;
    ub_err err;
    int rc = -1;
    ub_buf_addf(&stmt, "%s ", head);
    if (header_cols_of(c, d, hr, key, lineage_key, p->table, t, &stmt, &conv, &err)) {
        ub_op_fail(c, "%s", err.msg);
        ub_reader_close(r);
        goto out;
    }
    size_t n = *binary ? conv.len / sizeof(ub_pgbin_col) : 0;
    rc = ub_pgload_csv(c, db, ub_buf_str(&stmt), n ? (const ub_pgbin_col *)(const void *)conv.p : NULL, n, r, key,
                       bytes, rows);
    if (rc == 1)
        *binary = 0;
out:
    ub_buf_free(&stmt);
    ub_buf_free(&conv);
    return rc;
}

/* The streaming hand-off (core/handoff.h): this try started while the extract was
 * still writing the file that becomes the lake object `key`.  COPY follows the
 * growing file (the reader checks at its end that it read the extract's committed
 * file, whole), and the transaction commits only after the upload succeeded too,
 * and when the location then holds exactly that object with the size read.  1 committed; 0 the lake
 * holds something else, or the server refused the binary rows (*binary is then 0), rolled
 * back: load it the ordinary way; -1 failed. */
static int pg_partition_follow(ub_opctx *c, const ub_dialect *d, const ub_partition *p, const char *key,
                               const char *pre, const char *post, const char *head, int *binary)
{
    tshape t = TSHAPE_INIT;
    keylist keys = { NULL, 0, 0 };
    PGconn *db = NULL;
    ub_err err;
    uint64_t bytes = 0, rows = 0;
    int rc = -1;
    if (!(db = load_open(c, d, p, pre, &t)))
        goto out;
    ub_reader *hr = ub_op_stream_open(c, &err), *r = hr ? ub_op_stream_open(c, &err) : NULL;
    if (!hr || !r) {
        ub_reader_close(hr);
        ub_op_fail(c, "%s", err.msg);
        goto out;
    }
    /* the reader checks the file at its end */
    int k = load_object(c, d, db, p, &t, head, hr, r, key, ub_op_lineage_wanted(c) ? p->location : NULL, binary,
                        &bytes, &rows);
    if (k < 0)
        goto out;
    ub_op_progress(c, rows, bytes);
    if (ub_op_stream_wait(c)) {
        ub_op_fail(c, "stopped: an upstream task did not succeed (nothing committed)");
        goto out;
    }
    if (k == 1) {
        rc = 0;                          /* PQfinish below rolls back */
        goto out;
    }
    /* the upload succeeded: the lake must hold what was read, and only that */
    ub_lake *lake = ub_op_lake(c);
    ub_lake_info st;
    if (!lake || location_keys(c, lake, p->location, &keys))
        goto out;
    int same = keys.n == 1 && strcmp(keys.k[0], key) == 0 && ub_lake_stat(lake, key, &st, &err) == 1 &&
               st.size == bytes;
    if (!same) {
        ub_op_log(c, "the lake location %s holds more or other than the streamed %s: loading it again",
                  p->location, key);
        rc = 0;                          /* PQfinish below rolls back */
        goto out;
    }
    if (load_commit(c, db, p, post))
        goto out;
    ub_op_log(c, "partition %s = %s of %s: %llu rows, %llu bytes loaded while the extract ran", p->column,
              p->value, p->table, (unsigned long long)rows, (unsigned long long)bytes);
    rc = 1;
out:
    PQfinish(db);                        /* without COMMIT the transaction rolls back */
    keys_free(&keys);
    tshape_free(&t);
    return rc;
}

/* Every object of the location in one transaction; 0 committed, 1 the server refused the
 * binary rows (*binary is now 0: again), -1 failed. */
static int pg_partition_load(ub_opctx *c, const ub_dialect *d, const ub_partition *p, const keylist *keys,
                             const char *pre, const char *post, const char *head, int *binary)
{
    tshape t = TSHAPE_INIT;
    ub_lake *lake = ub_op_lake(c);
    PGconn *db = NULL;
    ub_err err;
    uint64_t bytes = 0, rows = 0;
    int rc = -1;
    if (!(db = load_open(c, d, p, pre, &t)))
        goto out;
    for (size_t i = 0; i < keys->n; i++) {
        ub_reader *hr = open_object(lake, keys->k[i], &err);
        ub_reader *r = hr ? open_object(lake, keys->k[i], &err) : NULL;
        if (!hr || !r) {
            ub_reader_close(hr);
            ub_op_fail(c, "%s", err.msg);
            goto out;
        }
        /* the first object's header stands for the location's columns */
        rc = load_object(c, d, db, p, &t, head, hr, r, keys->k[i],
                         i == 0 && ub_op_lineage_wanted(c) ? p->location : NULL, binary, &bytes, &rows);
        if (rc)
            goto out;
        rc = -1;
        ub_op_progress(c, rows, bytes);
    }
    if (load_commit(c, db, p, post))
        goto out;
    ub_op_log(c, "partition %s = %s of %s: %zu object(s), %llu rows, %llu bytes loaded", p->column, p->value,
              p->table, keys->n, (unsigned long long)rows, (unsigned long long)bytes);
    rc = 0;
out:
    PQfinish(db);                      /* without COMMIT the transaction rolls back */
    tshape_free(&t);
    return rc;
}

static int pg_partition_run(ub_opctx *c, const ub_partition *p)
{
    ub_buf pre = UB_BUF_INIT, post = UB_BUF_INIT, head = UB_BUF_INIT;
    keylist keys = { NULL, 0, 0 };
    ub_lake *lake = ub_op_lake(c);
    int rc = -1, binary = ub_pgload_binary_wanted();
    const ub_dialect *d = ub_dialect_of(c, p->conn_param);
    if (!lake || !d || pg_statements(d, p, &pre, &post, &head))
        goto out;
    const char *skey;
    if (ub_op_stream_in(c, &skey)) {
        int k = pg_partition_follow(c, d, p, skey, ub_buf_str(&pre), ub_buf_str(&post), ub_buf_str(&head), &binary);
        if (k != 0) {
            rc = k > 0 ? 0 : -1;
            goto out;
        }
    }
    if (location_keys(c, lake, p->location, &keys))
        goto out;
    if (keys.n == 0) {
        ub_op_fail(c, "no objects under lake prefix '%s'", p->location);
        goto out;
    }
    rc = pg_partition_load(c, d, p, &keys, ub_buf_str(&pre), ub_buf_str(&post), ub_buf_str(&head), &binary);
    if (rc == 1)                       /* refused in binary: once more, all of it as CSV */
        rc = pg_partition_load(c, d, p, &keys, ub_buf_str(&pre), ub_buf_str(&post), ub_buf_str(&head), &binary);
out:
    keys_free(&keys);
    ub_buf_free(&pre);
    ub_buf_free(&post);
    ub_buf_free(&head);
    return rc;
}

/* ---- redshift ------------------------------------------------------------ */

/* ALTER TABLE t ADD IF NOT EXISTS PARTITION (col='v') LOCATION 's3://bucket/prefix/' */
static int rs_statement(ub_opctx *c, const ub_partition *p, ub_buf *b)
{
    const char *url = ub_op_lake_url(c);
    if (!url || strncmp(url, "s3://", 5) != 0)
        return ub_op_fail(c, "the redshift dialect needs an s3:// lake, not '%s'", url ? url : "(none)");
    ub_buf loc = UB_BUF_INIT;
    ub_buf_adds(&loc, url);
    if (loc.len && loc.p[loc.len - 1] != '/')
        ub_buf_addc(&loc, '/');
    const char *slash = strrchr(p->location, '/');
    ub_buf_add(&loc, p->location, slash ? (size_t)(slash - p->location + 1) : strlen(p->location));
    const ub_dialect *d = ub_dialect_of(c, p->conn_param);
    ub_buf_adds(b, "ALTER TABLE ");
    if (!d || ub_dialect_ident(d, p->table, 1, b)) {
        ub_buf_free(&loc);
        return d ? ub_op_fail(c, "table name '%s' has an empty part", p->table) : -1;
    }
    ub_buf_adds(b, " ADD IF NOT EXISTS PARTITION (");
    ub_dialect_ident(d, p->column, 0, b);
    ub_buf_addc(b, '=');
    lit(b, p->value);
    ub_buf_adds(b, ") LOCATION ");
    lit(b, ub_buf_str(&loc));
    ub_buf_free(&loc);
    return b->err ? ub_op_fail(c, "out of memory") : 0;
}

static int rs_partition_plan(ub_opctx *c, const ub_partition *p)
{
    ub_buf b = UB_BUF_INIT;
    const char *conn = ub_op_str(c, p->conn_param);
    int rc = -1;
    if (conn && !rs_statement(c, p, &b)) {
        if (p->setup)
            ub_dialect_setup_plan(c, ub_dialect_of(c, p->conn_param), conn, p->setup);
        ub_op_effect(c, "sql", conn, "%s;  -- outside a transaction block (Spectrum DDL)", ub_buf_str(&b));
        rc = 0;
    }
    ub_buf_free(&b);
    return rc;
}

static int rs_partition_run(ub_opctx *c, const ub_partition *p)
{
    ub_buf b = UB_BUF_INIT;
    PGconn *db = NULL;
    int rc = -1;
    if (rs_statement(c, p, &b) || !(db = ub_pg_connect(c, p->conn_param)))
        goto out;
    if ((p->setup && ub_dialect_setup_run(c, ub_dialect_of(c, p->conn_param), db, p->setup)) ||
        ub_pg_exec(c, db, ub_buf_str(&b)))
        goto out;
    ub_pg_report_columns(c, db, &p->table, 1);       /* a Spectrum table is not in information_schema: none */
    rc = 0;
out:
    PQfinish(db);
    ub_buf_free(&b);
    return rc;
}

static const ub_dialect dialects[] = {
    /* synchronous_commit: a COMMIT returns only once it is on disk, whatever the server's
     * default, so a task never journals success for work a crash can still lose.
     * standard_conforming_strings and client_encoding: how the server reads the literals
     * that sql.literal writes ('...' plain, E'...' when there is a backslash). */
    { "postgres", 1,
      "SET application_name = 'ubpipe'; SET DateStyle = 'ISO, MDY'; SET synchronous_commit = on; "
      "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'",
      UB_SETUP_ADVISORY, 63, dq_ident, pg_partition_check, pg_partition_plan, pg_partition_run },
    /* Redshift commits durably and always reads a backslash in a literal as an escape;
     * it has neither setting */
    { "redshift", 0, "SET application_name = 'ubpipe'; SET DateStyle = 'ISO, MDY'; SET client_encoding = 'UTF8'",
      UB_SETUP_FILELOCK, 127, dq_ident, check_names, rs_partition_plan, rs_partition_run },
};

const ub_dialect *ub_dialect_of(ub_opctx *c, const char *conn_param)
{
    if (!ub_op_conn_name(c, conn_param))
        return NULL;                     /* not a connection of the profile: reported at the parameter */
    const char *name = ub_op_conn(c, conn_param, "dialect");
    if (!name)
        name = "postgres";
    for (size_t i = 0; i < sizeof dialects / sizeof *dialects; i++)
        if (strcmp(dialects[i].name, name) == 0)
            return &dialects[i];
    ub_op_fail(c, "unknown warehouse dialect '%s' (postgres, redshift)", name);
    return NULL;
}
