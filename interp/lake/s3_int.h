/* s3_int.h — private to the S3 lake backend (s3.c: requests, reads, stat,
 * copy, listing, the lake object; s3_upload.c: spooled writes, single and
 * multipart uploads).  Nothing outside interp/lake/ includes it. */
#ifndef UB_S3_INT_H
#define UB_S3_INT_H
#include "aws/creds.h"
#include "aws/http.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/err.h"
#include "lake/lake.h"
#include <pthread.h>
#include <stdint.h>

#define MiB            ((uint64_t)1 << 20)
#define GET_CHUNK      ((size_t)8 << 20)
#define MIN_PART       (5 * MiB)
#define DEF_PART       (8 * MiB)
#define MAX_PARTS      10000
#define MAX_OBJECT     ((uint64_t)5 << 40)
#define DEF_THRESHOLD  (64 * MiB)
#define UPLOAD_WORKERS 4
#define POOL_MAX       8
#define MAX_HDRS       12

typedef struct conn {
    ub_http *http;
    ub_sigv4_key key;             /* SigV4 signing key cache of this handle */
    struct conn *next;
} conn;

typedef struct s3lake {
    ub_lake base;
    ub_aws_cfg cfg;
    char *bucket;
    char *prefix;                 /* "" or ends in '/' */
    uint64_t threshold, part_size;
    int list_page, workers;
    pthread_mutex_t mu;           /* guards pool */
    conn *pool;
    int npool;
} s3lake;

/* s3.c: a pooled connection for one request, given back with s3_conn_put
 * (NULL is fine); one signed request for key (payload_hash: hex SHA-256 of
 * the body); the full key and display name of an object (both yours to
 * ub_free); one text field of an XML reply (yours to ub_free, NULL with err
 * set when absent); XML text escaping. */
conn *s3_conn_get(s3lake *l, ub_err *err);
void s3_conn_put(s3lake *l, conn *c);
int s3_do(s3lake *l, conn *c, ub_http_req *q, const char *key, const char *query,
          const ub_http_hdr *extra, size_t nextra, const char *payload_hash, ub_http_resp *resp, ub_err *err);
int s3_object_names(s3lake *l, const char *key, char **full, char **name, ub_err *err);
char *s3_xml_field(const ub_buf *body, const char *want, const char *what, ub_err *err);
void s3_xml_escape(ub_buf *b, const char *s);

/* s3_upload.c: the lake's open_write. */
ub_writer *s3_open_write(ub_lake *lk, const char *key, ub_err *err);

#endif
