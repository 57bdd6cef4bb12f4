/* lineage.c — OpenLineage RunEvents of task tries (lineage.h).  Datasets
 * are named as the OpenLineage naming conventions say: postgres://HOST:PORT
 * with DB.SCHEMA.TABLE, s3://BUCKET with the key, file with the path. */
#include "core/lineage.h"
#include "base/date.h"
#include "base/mem.h"
#include "base/jtext.h"
#include "io/sqlnames.h"
#include "io/stream.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINEAGE_TRIES       3          /* one send and two retries */
#define LINEAGE_CONNECT_MS  500
#define LINEAGE_TOTAL_MS    1000
#define PRODUCER "https://github.com/ubpipe/ubpipe/tree/" UB_VERSION
#define SPEC_URL "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define FACET(name, ver) "https://openlineage.io/spec/facets/" ver "/" name ".json#/$defs/" name

struct ub_lineage {
    char *url;            /* .../api/v1/lineage, or NULL */
    char *key;            /* bearer token, or NULL */
    char *file;           /* file transport, or NULL */
    char *ns;
    int   down;           /* a send failed earlier in this run */
};

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? ub_strdup(v) : NULL;
}

ub_lineage *ub_lineage_from_env(void)
{
    const char *type = getenv("OPENLINEAGE__TRANSPORT__TYPE");
    const char *url = getenv("OPENLINEAGE_URL");
    int file = type && strcmp(type, "file") == 0;
    if (!file && !(url && *url))
        return NULL;
    ub_lineage *l = ub_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (file) {
        l->file = env_dup("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH");
    } else {
        ub_buf b = UB_BUF_INIT;
        size_t n = strlen(url);
        while (n && url[n - 1] == '/')
            n--;
        ub_buf_add(&b, url, n);
        ub_buf_adds(&b, "/api/v1/lineage");
        l->url = ub_buf_detach(&b, NULL);
        l->key = env_dup("OPENLINEAGE_API_KEY");
    }
    l->ns = env_dup("OPENLINEAGE_NAMESPACE");
    if (!l->ns)
        l->ns = ub_strdup("ubpipe");
    if ((!l->url && !l->file) || !l->ns) {
        ub_lineage_free(l);
        return NULL;
    }
    return l;
}

void ub_lineage_free(ub_lineage *l)
{
    if (!l)
        return;
    ub_free(l->url);
    ub_free(l->key);
    ub_free(l->file);
    ub_free(l->ns);
    ub_free(l);
}

void ub_lineage_uuid(char out[37])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1) {
        double t = ub_now();
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)((unsigned long)(t * 1e6) >> (i % 8 * 8)) ^ (unsigned char)(getpid() >> (i % 2 * 8));
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static json_t *base_facet(const char *schema_url)
{
    return json_pack("{s:s, s:s}", "_producer", PRODUCER, "_schemaURL", schema_url);
}

static const ub_conn *find_conn(const ub_engine *e, const char *name)
{
    for (size_t i = 0; name && i < e->nconns; i++)
        if (strcmp(e->conns[i].name, name) == 0)
            return &e->conns[i];
    return NULL;
}

static const char *conn_field(const ub_conn *cn, const char *key)
{
    for (size_t i = 0; cn && i < cn->nfields; i++)
        if (strcmp(cn->fields[i].key, key) == 0)
            return cn->fields[i].val;
    return NULL;
}

/* postgres://HOST:PORT (redshift:// for that dialect) and the database of a
 * connection; a socket directory as host reads as localhost. */
static int pg_namespace(const ub_conn *cn, ub_buf *ns, ub_buf *db)
{
    const char *dsn = conn_field(cn, "dsn");
    if (!dsn && cn->main)
        dsn = conn_field(cn, cn->main);            /* the short form: the connection is its dsn */
    const char *dialect = conn_field(cn, "dialect");
    char *errmsg = NULL;
    PQconninfoOption *opts = dsn ? PQconninfoParse(dsn, &errmsg) : NULL;
    const char *host = NULL, *port = NULL, *dbname = NULL, *user = NULL;
    if (!opts) {
        PQfreemem(errmsg);
        return -1;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    ub_buf_addf(ns, "%s://%s:%s", dialect && strcmp(dialect, "redshift") == 0 ? "redshift" : "postgres",
                !host || host[0] == '/' ? "localhost" : host, port ? port : "5432");
    ub_buf_adds(db, dbname ? dbname : user ? user : "postgres");
    PQconninfoFree(opts);
    return 0;
}

/* A dataset, once, with the schema facet of its columns when the try
 * reported them (fields: a borrowed array, or NULL). */
static void add_dataset(json_t *arr, const char *ns, const char *name, const json_t *fields)
{
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
        if (strcmp(json_string_value(json_object_get(d, "namespace")), ns) == 0 &&
            strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
            return;
    d = json_pack("{s:o, s:o}", "namespace", ub_jtext(ns), "name", ub_jtext(name));
    if (d && fields) {
        json_t *f = base_facet(FACET("SchemaDatasetFacet", "1-2-0"));
        json_object_set_new(f, "fields", json_deep_copy(fields));
        json_object_set_new(d, "facets", json_pack("{s:o}", "schema", f));
    }
    json_array_append_new(arr, d);
}

/* A table of the connection of parameter param. */
static void add_table(json_t *arr, ub_engine *e, ub_opctx *c, const char *param, const char *table)
{
    const ub_conn *cn = find_conn(e, ub_op_str(c, param));
    ub_buf ns = UB_BUF_INIT, name = UB_BUF_INIT;
    if (cn && pg_namespace(cn, &ns, &name) == 0) {
        ub_buf_addc(&name, '.');
        ub_buf_adds(&name, table);
        add_dataset(arr, ub_buf_str(&ns), ub_buf_str(&name), ub_ctx_dataset_schema(c, "table", table));
    }
    ub_buf_free(&ns);
    ub_buf_free(&name);
}

/* A lake object or prefix (its key). */
static void add_lake(json_t *arr, ub_engine *e, ub_opctx *c, const char *key)
{
    const char *url = ub_op_lake_url(c);
    const ub_conn *lk = find_conn(e, "lake");
    if (!url && lk)
        url = conn_field(lk, lk->main ? lk->main : "url");
    if (!url || !key)
        return;
    ub_buf ns = UB_BUF_INIT, name = UB_BUF_INIT;
    if (strncmp(url, "s3://", 5) == 0) {
        const char *slash = strchr(url + 5, '/');
        ub_buf_add(&ns, url, slash ? (size_t)(slash - url) : strlen(url));
        if (slash && slash[1])
            ub_buf_addf(&name, "%s/", slash + 1);
        ub_buf_adds(&name, key);
    } else {
        const char *dir = strncmp(url, "file:", 5) == 0 ? url + 5 : url;
        ub_buf_adds(&ns, "file");
        if (dir[0] != '/')
            ub_buf_addf(&name, "%s/", e->spec->dir);
        ub_buf_addf(&name, "%s/%s", dir, key);
    }
    add_dataset(arr, ub_buf_str(&ns), ub_buf_str(&name), ub_ctx_dataset_schema(c, "lake", key));
    ub_buf_free(&ns);
    ub_buf_free(&name);
}

/* Tables a SQL text reads and writes (io/sqlnames.h); a table it both
 * reads and writes is an output only. */
static int sql_name(void *ud, const char *name, int written)
{
    json_t **rw = ud;
    add_dataset(rw[written ? 1 : 0], "-", name, NULL);
    return 0;
}

static void sql_tables(const char *sql, ub_engine *e, ub_opctx *c, const char *param, json_t *in, json_t *out)
{
    json_t *rw[2] = { json_array(), json_array() };     /* read, written */
    ub_sqlnames_scan(sql, sql_name, rw);
    size_t i;
    json_t *d;
    json_array_foreach(rw[0], i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        size_t k;
        json_t *x;
        int is_out = 0;
        json_array_foreach(rw[1], k, x)
            is_out |= strcmp(json_string_value(json_object_get(x, "name")), name) == 0;
        if (!is_out)
            add_table(in, e, c, param, name);
    }
    json_array_foreach(rw[1], i, d)
        add_table(out, e, c, param, json_string_value(json_object_get(d, "name")));
    json_decref(rw[0]);
    json_decref(rw[1]);
}

/* What task t reads and writes, from its operator and parameters. */
static void datasets(ub_engine *e, ub_task *t, ub_opctx *c, json_t *in, json_t *out, json_t *jobf)
{
    const char *op = t->op->name;
    if (strcmp(op, "pg.extract") == 0 || strcmp(op, "sql") == 0) {
        const char *sql = ub_op_file_rendered(c, "sql");
        if (sql) {
            json_t *f = base_facet(FACET("SQLJobFacet", "1-1-0"));
            json_object_set_new(f, "query", ub_jtext(sql));
            json_object_set_new(jobf, "sql", f);
            sql_tables(sql, e, c, "conn", in, out);
        }
        if (strcmp(op, "pg.extract") == 0 && ub_op_str(c, "to"))
            add_dataset(out, "file", ub_op_str(c, "to"), ub_ctx_dataset_schema(c, "file", ub_op_str(c, "to")));
    } else if (strcmp(op, "lake.put") == 0) {
        if (ub_op_str(c, "src"))
            add_dataset(in, "file", ub_op_str(c, "src"), ub_ctx_dataset_schema(c, "file", ub_op_str(c, "src")));
        add_lake(out, e, c, ub_op_str(c, "dst"));
    } else if (strcmp(op, "lake.copy") == 0) {
        add_lake(in, e, c, ub_op_str(c, "src"));
        add_lake(out, e, c, ub_op_str(c, "dst"));
    } else if (strcmp(op, "lua.transform") == 0) {
        add_lake(in, e, c, ub_op_str(c, "from"));
        add_lake(out, e, c, ub_op_str(c, "to"));
    } else if (strcmp(op, "emr.add_steps") == 0) {
        /* the lake objects the steps copy from (--src=) and to (--dest=) */
        const char *steps = ub_op_file_rendered(c, "steps");
        for (const char *p = steps; p && (p = strstr(p, "s3://")) != NULL; p += 5) {
            int src = p >= steps + 6 && strncmp(p - 6, "--src=", 6) == 0;
            int dst = p >= steps + 7 && strncmp(p - 7, "--dest=", 7) == 0;
            const char *key = strchr(p + 5, '/');
            size_t l = key ? strcspn(key + 1, "\"' ,]") : 0;
            if ((src || dst) && key && l) {
                char k[1024];
                snprintf(k, sizeof k, "%.*s", (int)l, key + 1);
                add_lake(src ? in : out, e, c, k);
            }
        }
    } else if (strcmp(op, "wh.partition") == 0) {
        add_lake(in, e, c, ub_op_str(c, "location"));
        if (ub_op_str(c, "table"))
            add_table(out, e, c, "conn", ub_op_str(c, "table"));
    }
}

static void iso_time(double t, char *out, size_t cap)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", b, (int)((t - (double)s) * 1000));
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* POST with short timeouts and bounded retries: 0, or -1 with why. */
static int post(const ub_lineage *l, const char *body, char *why, size_t cap)
{
    int rc = -1;
    for (int attempt = 0; attempt < LINEAGE_TRIES && rc; attempt++) {
        CURL *h = curl_easy_init();
        struct curl_slist *hd = NULL;
        char auth[4200];
        long code = 0;
        if (!h) {
            snprintf(why, cap, "cannot start libcurl");
            break;
        }
        hd = curl_slist_append(hd, "Content-Type: application/json");
        if (l->key) {
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", l->key);
            hd = curl_slist_append(hd, auth);
        }
        curl_easy_setopt(h, CURLOPT_URL, l->url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)LINEAGE_CONNECT_MS);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)LINEAGE_TOTAL_MS);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        CURLcode cr = curl_easy_perform(h);
        if (cr == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (cr != CURLE_OK)
            snprintf(why, cap, "%s", curl_easy_strerror(cr));
        else if (code < 200 || code >= 300)
            snprintf(why, cap, "HTTP %ld", code);
        else
            rc = 0;
        curl_slist_free_all(hd);
        curl_easy_cleanup(h);
        if (rc && attempt + 1 < LINEAGE_TRIES && (code >= 400 && code < 500 && code != 429))
            break;                             /* the receiver refuses the event: no retry helps */
        if (rc && attempt + 1 < LINEAGE_TRIES) {
            struct timespec ts = { 0, 100000000L * (attempt + 1) };
            nanosleep(&ts, NULL);
        }
    }
    return rc;
}

static int append(const ub_lineage *l, const char *line, char *why, size_t cap)
{
    if (!l->file) {
        snprintf(why, cap, "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH is not set");
        return -1;
    }
    /* the line and its newline in one write(2) with O_APPEND: tries running at once append to the
     * same file, and two writes each let another try's line land between them */
    size_t n = strlen(line);
    char *full = ub_malloc(n + 1);
    if (!full) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    memcpy(full, line, n);
    full[n] = '\n';
    int fd = open(l->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0 || ub_write_all(fd, full, n + 1)) {
        snprintf(why, cap, "'%s': %s", l->file, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    ub_free(full);
    return rc;
}

void ub_lineage_set_down(ub_lineage *l)
{
    if (l)
        l->down = 1;
}

int ub_lineage_emit(ub_lineage *l, ub_engine *e, ub_task *t, ub_opctx *c, const char *run_id,
                    const char *parent_run_id, const char *type, const char *error)
{
    if (!l)
        return 0;
    if (l->down) {
        ub_op_log(c, "warning: OpenLineage %s event not sent (the receiver failed earlier in this run)", type);
        return -1;
    }
    char now[40], nominal[40], why[512] = "";
    json_t *in = json_array(), *out = json_array(), *jobf = json_object(), *runf = json_object();
    ub_buf job = UB_BUF_INIT;
    ub_buf_addf(&job, "%s.%s", e->spec->pipeline, t->id);
    iso_time(ub_now(), now, sizeof now);
    snprintf(nominal, sizeof nominal, "%sT00:00:00.000Z", e->ds);
    datasets(e, t, c, in, out, jobf);
    json_t *parent = base_facet(FACET("ParentRunFacet", "1-2-0"));
    json_object_set_new(parent, "run", json_pack("{s:s}", "runId", parent_run_id));
    json_object_set_new(parent, "job", json_pack("{s:s, s:s}", "namespace", l->ns, "name", e->spec->pipeline));
    json_object_set_new(runf, "parent", parent);
    json_t *nt = base_facet(FACET("NominalTimeRunFacet", "1-0-1"));
    json_object_set_new(nt, "nominalStartTime", json_string(nominal));
    json_object_set_new(runf, "nominalTime", nt);
    if (error && *error && (strcmp(type, "FAIL") == 0 || strcmp(type, "ABORT") == 0)) {
        json_t *em = base_facet(FACET("ErrorMessageRunFacet", "1-0-1"));
        json_object_set_new(em, "message", ub_jtext(error));
        json_object_set_new(em, "programmingLanguage", json_string("C"));
        json_object_set_new(runf, "errorMessage", em);
    }
    if (strcmp(type, "COMPLETE") == 0 && json_array_size(out)) {
        uint64_t rows = 0, bytes = 0;
        ub_ctx_progress_get(c, &rows, &bytes);
        if (rows || bytes) {
            json_t *st = base_facet(FACET("OutputStatisticsOutputDatasetFacet", "1-0-2"));
            json_object_set_new(st, "rowCount", json_integer((json_int_t)rows));
            json_object_set_new(st, "size", json_integer((json_int_t)bytes));
            json_object_set_new(json_array_get(out, json_array_size(out) - 1), "outputFacets",
                                json_pack("{s:o}", "outputStatistics", st));
        }
    }
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:{s:s, s:s, s:o}, s:o, s:o}", "eventType", type,
                           "eventTime", now, "producer", PRODUCER, "schemaURL", SPEC_URL, "run", "runId", run_id,
                           "facets", runf, "job", "namespace", l->ns, "name", ub_buf_str(&job), "facets", jobf,
                           "inputs", in, "outputs", out);
    if (ev)
        ub_secret_mask_json(ev);                 /* the values, so that the event stays valid JSON */
    char *txt = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    ub_buf masked = UB_BUF_INIT;
    if (txt)
        ub_secret_mask(txt, &masked);
    if (!txt || masked.err)
        snprintf(why, sizeof why, "out of memory");
    else if (l->url ? post(l, ub_buf_str(&masked), why, sizeof why) : append(l, ub_buf_str(&masked), why, sizeof why))
        ;
    else
        why[0] = '\0';
    if (why[0]) {
        ub_op_log(c, "warning: OpenLineage %s event not delivered (%s); the task goes on", type, why);
        l->down = 1;
    }
    ub_buf_free(&masked);
    ub_free(txt);
    json_decref(ev);
    ub_buf_free(&job);
    return why[0] ? -1 : 0;
}
