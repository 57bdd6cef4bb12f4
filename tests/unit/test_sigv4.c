/* test_sigv4.c — the SigV4 signer against the AWS test vectors in tests/data/sigv4. */
#include "t.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/mem.h"
#include <dirent.h>
#include <strings.h>
#include <stdint.h>

#define VEC "tests/data/sigv4/"

/* ---- small helpers ------------------------------------------------------ */

/* Whole small vector file into b (vectors are a few hundred bytes). */
static int slurp(const char *rel, ub_buf *b)
{
    ub_buf_reset(b);
    FILE *f = fopen(t_path(rel), "rb");
    if (!f) {
        fprintf(stderr, "cannot open '%s'\n", rel);
        return -1;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ub_buf_add(b, chunk, n);
    fclose(f);
    return b->err ? -1 : 0;
}

/* Compares and names the case on a mismatch. */
#define CASE_STREQ(name, got, want) do { \
    const char *g2_ = (got), *w2_ = (want); \
    if (!g2_ || !w2_ || strcmp(g2_, w2_) != 0) \
        fprintf(stderr, "-- case %s\n", (name)); \
    T_STREQ(g2_, w2_); } while (0)

/* Days since 1970-01-01 for a civil date (H. Hinnant's algorithm). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2015-08-30T12:36:00Z" -> seconds since the epoch. */
static time_t parse_iso(const char *s)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        return (time_t)-1;
    return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + se);
}

/* ---- a raw HTTP request (.req / request.txt) ----------------------------- */

#define MAXH 16
typedef struct treq {
    char method[16];
    ub_buf path, query, body;
    ub_buf names[MAXH], values[MAXH];
    ub_sigv4_hdr h[MAXH];
    size_t nh;
} treq;

static void treq_init(treq *r)
{
    memset(r, 0, sizeof *r);
    ub_buf_init(&r->path, 0);
    ub_buf_init(&r->query, 0);
    ub_buf_init(&r->body, 0);
    for (int i = 0; i < MAXH; i++) {
        ub_buf_init(&r->names[i], 0);
        ub_buf_init(&r->values[i], 0);
    }
}

static void treq_free(treq *r)
{
    ub_buf_free(&r->path);
    ub_buf_free(&r->query);
    ub_buf_free(&r->body);
    for (int i = 0; i < MAXH; i++) {
        ub_buf_free(&r->names[i]);
        ub_buf_free(&r->values[i]);
    }
}

/* Request line "METHOD target HTTP/1.1" (the target may hold spaces), header
 * lines "Name:value" with folded continuation lines kept as "\n" + line
 * (the signer must collapse them), a blank line, then the body. */
static int treq_parse(treq *r, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (lineno == 0) {
            const char *sp1 = memchr(p, ' ', ll), *sp2 = p + ll;
            while (sp2 > p && sp2[-1] != ' ')
                sp2--;
            if (!sp1 || sp2 - 1 <= sp1 || (size_t)(sp1 - p) >= sizeof r->method)
                return -1;
            memcpy(r->method, p, (size_t)(sp1 - p));
            const char *tgt = sp1 + 1, *tend = sp2 - 1;
            const char *q = memchr(tgt, '?', (size_t)(tend - tgt));
            ub_buf_add(&r->path, tgt, (size_t)((q ? q : tend) - tgt));
            if (q)
                ub_buf_add(&r->query, q + 1, (size_t)(tend - q - 1));
        } else if (ll == 0) {
            if (nl)
                ub_buf_add(&r->body, nl + 1, (size_t)(end - nl - 1));
            break;
        } else if (p[0] == ' ' || p[0] == '\t') {
            if (!r->nh)
                return -1;
            ub_buf_addc(&r->values[r->nh - 1], '\n');
            ub_buf_add(&r->values[r->nh - 1], p, ll);
        } else {
            const char *colon = memchr(p, ':', ll);
            if (!colon || r->nh == MAXH)
                return -1;
            ub_buf_add(&r->names[r->nh], p, (size_t)(colon - p));
            ub_buf_add(&r->values[r->nh], colon + 1, ll - (size_t)(colon - p) - 1);
            r->nh++;
        }
        lineno++;
        p = nl ? nl + 1 : end;
    }
    for (size_t i = 0; i < r->nh; i++) {
        r->h[i].name = ub_buf_str(&r->names[i]);
        r->h[i].value = ub_buf_str(&r->values[i]);
    }
    return lineno ? 0 : -1;
}

static int treq_load(treq *r, const char *rel)
{
    ub_buf b = UB_BUF_INIT;
    int rc = slurp(rel, &b) ? -1 : treq_parse(r, b.p, b.len);
    if (rc)
        fprintf(stderr, "cannot parse request '%s'\n", rel);
    ub_buf_free(&b);
    return rc;
}

/* ---- a tiny reader for the flat context.json ------------------------------ */

/* Points at the value after "key": (keys are unique in these files). */
static const char *json_val(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static int json_str(const char *json, const char *key, char *out, size_t n)
{
    const char *p = json_val(json, key);
    size_t m = 0;
    if (!p || *p++ != '"')
        return -1;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;                        /* only \" \\ \/ occur here */
        if (m + 1 >= n)
            return -1;
        out[m++] = *p;
    }
    out[m] = '\0';
    return *p == '"' ? 0 : -1;
}

static int json_bool(const char *json, const char *key, int dflt)
{
    const char *p = json_val(json, key);
    if (!p)
        return dflt;
    return strncmp(p, "true", 4) == 0;
}

static long json_long(const char *json, const char *key, long dflt)
{
    const char *p = json_val(json, key);
    return p ? strtol(p, NULL, 10) : dflt;
}

/* ---- signing a parsed request ------------------------------------------- */

static const char *header_in(const ub_sigv4_out *o, const char *name)
{
    for (size_t i = 0; i < o->nadd; i++)
        if (strcasecmp(o->add[i].name, name) == 0)
            return o->add[i].value;
    return NULL;
}

static void sign_parsed(const treq *r, const ub_sigv4_cfg *cfg, int presign,
                        ub_sigv4_out *out, const char *name)
{
    char body_hash[65];
    ub_err err = { "" };
    T_CHECK(ub_sigv4_sha256_hex(r->body.p ? r->body.p : "", r->body.len, body_hash, &err) == 0);
    ub_sigv4_req req = {
        .method = r->method, .path = ub_buf_str(&r->path),
        .query = r->query.len ? ub_buf_str(&r->query) : NULL,
        .headers = r->h, .nheaders = r->nh, .payload_hash = body_hash,
    };
    int rc = presign ? ub_sigv4_presign(cfg, &req, out, &err) : ub_sigv4_sign(cfg, &req, out, &err);
    if (rc)
        fprintf(stderr, "-- case %s: %s\n", name, err.msg);
    T_INTEQ(rc, 0);
}

/* ---- aws-sig-v4-test-suite (2015) and the aws-c-auth revisions ------------- */

static const char *const TOKEN_2015 =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIe"
    "oIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0w"
    "q5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypN"
    "C9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

enum { EXP_ALL, EXP_CREQ_ONLY };

/* dir: folder of the case, base: its name; expect: folder with the expected
 * .creq/.sts/.authz (normally dir). */
static void run_2015(const char *dir, const char *base, const char *expect_dir,
                     const char *token, unsigned flags, int what)
{
    char p[512];
    treq r;
    ub_buf want = UB_BUF_INIT;
    ub_sigv4_out out;
    ub_sigv4_cfg cfg = {
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = token, .region = "us-east-1", .service = "service",
        .now = 1440938160, .flags = flags,           /* 2015-08-30T12:36:00Z */
    };
    treq_init(&r);
    ub_sigv4_out_init(&out);
    snprintf(p, sizeof p, "%s/%s/%s.req", dir, base, base);
    T_CHECK(treq_load(&r, p) == 0);
    sign_parsed(&r, &cfg, 0, &out, base);
    snprintf(p, sizeof p, "%s/%s/%s.creq", expect_dir, base, base);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(base, ub_buf_str(&out.creq), ub_buf_str(&want));
    if (what == EXP_ALL) {
        snprintf(p, sizeof p, "%s/%s/%s.sts", expect_dir, base, base);
        T_CHECK(slurp(p, &want) == 0);
        CASE_STREQ(base, ub_buf_str(&out.sts), ub_buf_str(&want));
        snprintf(p, sizeof p, "%s/%s/%s.authz", expect_dir, base, base);
        T_CHECK(slurp(p, &want) == 0);
        CASE_STREQ(base, header_in(&out, "Authorization"), ub_buf_str(&want));
    }
    /* The secret never shows up in anything the signer produced. */
    T_CHECK(!strstr(ub_buf_str(&out.creq), cfg.secret_access_key));
    T_CHECK(!strstr(ub_buf_str(&out.authorization), cfg.secret_access_key));
    ub_buf_free(&want);
    ub_sigv4_out_release(&out);
    treq_free(&r);
}

static void test_suite_2015(void)
{
    static const char *const plain[] = {
        "get-header-key-duplicate", "get-header-value-order", "get-header-value-trim",
        "get-unreserved", "get-utf8", "get-vanilla", "get-vanilla-empty-query-key",
        "get-vanilla-query", "get-vanilla-query-order-key", "get-vanilla-query-order-key-case",
        "get-vanilla-query-order-value", "get-vanilla-query-unreserved",
        "get-vanilla-utf8-query", "post-header-key-case", "post-header-key-sort",
        "post-header-value-case", "post-vanilla", "post-vanilla-empty-query-value",
        "post-vanilla-query",
    };
    static const char *const normalize[] = {
        "get-relative", "get-relative-relative", "get-slash", "get-slash-dot-slash",
        "get-slash-pointless-dot", "get-slashes", "get-space",
    };
    const char *S = VEC "aws-sig-v4-test-suite";
    const char *R = VEC "aws-c-auth-revisions";
    int n = 0;
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++, n++)
        run_2015(S, plain[i], S, NULL, 0, EXP_ALL);
    for (size_t i = 0; i < sizeof normalize / sizeof *normalize; i++, n++)
        run_2015(VEC "aws-sig-v4-test-suite/normalize-path", normalize[i],
                 VEC "aws-sig-v4-test-suite/normalize-path", NULL, 0, EXP_ALL);
    /* The token is part of the request and signed ... */
    run_2015(VEC "aws-sig-v4-test-suite/post-sts-token", "post-sts-header-before",
             VEC "aws-sig-v4-test-suite/post-sts-token", TOKEN_2015, 0, EXP_ALL), n++;
    /* ... or added after signing. */
    run_2015(VEC "aws-sig-v4-test-suite/post-sts-token", "post-sts-header-after",
             VEC "aws-sig-v4-test-suite/post-sts-token", TOKEN_2015, UB_SIGV4_OMIT_TOKEN, EXP_ALL), n++;
    /* get-header-value-multiline: the 2015 files join folded lines with
     * commas; aws-c-auth corrected the expected values in 0613fe1 to single
     * spaces ("value1 value2 value3"), which is what the signer does.  Same
     * .req, expectations from aws-c-auth-revisions. */
    run_2015(S, "get-header-value-multiline", R, NULL, 0, EXP_ALL), n++;
    /* post-x-www-form-urlencoded and -parameters: their .req/.creq include
     * Content-Length:13 but their .sts/.authz were computed without it (and,
     * for -parameters, with "charset=utf8"), so they cannot all hold at
     * once (see tests/data/sigv4/README.txt).  The .creq agrees with the
     * .req and is checked here; the string to sign and signature are
     * checked on the same requests from the newer aws-signing-test-suite-v4
     * (test_suite_v4). */
    run_2015(S, "post-x-www-form-urlencoded", S, NULL, 0, EXP_CREQ_ONLY), n++;
    run_2015(S, "post-x-www-form-urlencoded-parameters", S, NULL, 0, EXP_CREQ_ONLY), n++;
    T_INTEQ(n, 31);

    /* aws-c-auth-revisions: 3 cases. */
    run_2015(R, "get-header-value-multiline", R, NULL, 0, EXP_ALL);
    run_2015(R, "get-vanilla-query-order-encoded", R, NULL, 0, EXP_ALL);
    /* The token is not in the .req: the signer adds and signs it. */
    run_2015(R, "get-vanilla-with-session-token", R,
             "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", 0, EXP_ALL);
}

/* ---- aws-signing-test-suite-v4 -------------------------------------------- */

static const char *const V4_CASES[] = {
    "get-header-key-duplicate", "get-header-value-multiline", "get-header-value-order",
    "get-header-value-trim", "get-relative-normalized", "get-relative-relative-normalized",
    "get-relative-relative-unnormalized", "get-relative-unnormalized",
    "get-slash-dot-slash-normalized", "get-slash-dot-slash-unnormalized",
    "get-slash-normalized", "get-slash-pointless-dot-normalized",
    "get-slash-pointless-dot-unnormalized", "get-slash-unnormalized",
    "get-slashes-normalized", "get-slashes-unnormalized", "get-space-normalized",
    "get-space-unnormalized", "get-unreserved", "get-utf8", "get-vanilla",
    "get-vanilla-empty-query-key", "get-vanilla-query", "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case", "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query", "get-vanilla-with-session-token", "post-header-key-case",
    "post-header-key-sort", "post-header-value-case", "post-sts-header-after",
    "post-sts-header-before", "post-vanilla", "post-vanilla-empty-query-value",
    "post-vanilla-query", "post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters",
};

/* 1 when the signed request file has the line "name:value" (name in any case). */
static int has_header_line(const char *text, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':' && strncmp(p + nl + 1, value, vl) == 0 &&
            (p[nl + 1 + vl] == '\n' || p[nl + 1 + vl] == '\r' || p[nl + 1 + vl] == '\0'))
            return 1;
    return 0;
}

/* The X-Amz-* parameters of a query, sorted and joined with '&'. */
static void amz_params(const char *query, size_t len, ub_buf *dst)
{
    const char *items[16];
    size_t lens[16], n = 0;
    const char *p = query, *end = query + len;
    ub_buf_reset(dst);
    while (p < end && n < 16) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if (strncmp(p, "X-Amz-", 6) == 0) {
            items[n] = p;
            lens[n++] = (size_t)(e - p);
        }
        p = e + 1;
    }
    for (size_t i = 1; i < n; i++)     /* insertion sort */
        for (size_t j = i; j > 0; j--) {
            size_t m = lens[j] < lens[j - 1] ? lens[j] : lens[j - 1];
            int c = memcmp(items[j], items[j - 1], m);
            if (c > 0 || (c == 0 && lens[j] >= lens[j - 1]))
                break;
            const char *ti = items[j]; items[j] = items[j - 1]; items[j - 1] = ti;
            size_t tl = lens[j]; lens[j] = lens[j - 1]; lens[j - 1] = tl;
        }
    for (size_t i = 0; i < n; i++) {
        if (i)
            ub_buf_addc(dst, '&');
        ub_buf_add(dst, items[i], lens[i]);
    }
}

static void run_v4(const char *name, ub_sigv4_key *cache)
{
    char p[512], akid[64], secret[128], token[1024], region[32], service[32], ts[32];
    ub_buf ctx = UB_BUF_INIT, want = UB_BUF_INIT, got = UB_BUF_INIT, sreq = UB_BUF_INIT;
    treq r;
    ub_sigv4_out out;
    treq_init(&r);
    ub_sigv4_out_init(&out);

    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/context.json", name);
    T_CHECK(slurp(p, &ctx) == 0);
    const char *js = ub_buf_str(&ctx);
    T_CHECK(json_str(js, "access_key_id", akid, sizeof akid) == 0);
    T_CHECK(json_str(js, "secret_access_key", secret, sizeof secret) == 0);
    T_CHECK(json_str(js, "region", region, sizeof region) == 0);
    T_CHECK(json_str(js, "service", service, sizeof service) == 0);
    T_CHECK(json_str(js, "timestamp", ts, sizeof ts) == 0);
    int has_token = json_str(js, "token", token, sizeof token) == 0;
    unsigned flags = 0;
    if (!json_bool(js, "normalize", 1))
        flags |= UB_SIGV4_NO_NORMALIZE;
    if (json_bool(js, "sign_body", 0))
        flags |= UB_SIGV4_CONTENT_SHA256;
    if (json_bool(js, "omit_session_token", 0))
        flags |= UB_SIGV4_OMIT_TOKEN;
    ub_sigv4_cfg cfg = {
        .access_key_id = akid, .secret_access_key = secret,
        .session_token = has_token ? token : NULL, .region = region, .service = service,
        .now = parse_iso(ts), .flags = flags,
        .expires = json_long(js, "expiration_in_seconds", 0), .key_cache = cache,
    };
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/request.txt", name);
    T_CHECK(treq_load(&r, p) == 0);

    /* Header variant. */
    sign_parsed(&r, &cfg, 0, &out, name);
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/header-canonical-request.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, ub_buf_str(&out.creq), ub_buf_str(&want));
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/header-string-to-sign.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, ub_buf_str(&out.sts), ub_buf_str(&want));
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/header-signature.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, out.signature, ub_buf_str(&want));
    /* Every header the signer adds (Authorization included) is in the
     * expected signed request, with the same value. */
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/header-signed-request.txt", name);
    T_CHECK(slurp(p, &sreq) == 0);
    T_CHECK(out.nadd >= 2);
    for (size_t i = 0; i < out.nadd; i++) {
        int ok = has_header_line(ub_buf_str(&sreq), out.add[i].name, out.add[i].value);
        if (!ok)
            fprintf(stderr, "-- case %s: header '%s' not as expected\n", name, out.add[i].name);
        T_CHECK(ok);
    }
    T_STREQ(out.add[out.nadd - 1].name, "Authorization");

    /* Query (presigned) variant. */
    sign_parsed(&r, &cfg, 1, &out, name);
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/query-canonical-request.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, ub_buf_str(&out.creq), ub_buf_str(&want));
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/query-string-to-sign.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, ub_buf_str(&out.sts), ub_buf_str(&want));
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/query-signature.txt", name);
    T_CHECK(slurp(p, &want) == 0);
    CASE_STREQ(name, out.signature, ub_buf_str(&want));
    /* The X-Amz-* parameters of the URL, token and signature included, are
     * those of the expected signed request (whose order is not canonical). */
    snprintf(p, sizeof p, VEC "aws-signing-test-suite-v4/%s/query-signed-request.txt", name);
    T_CHECK(slurp(p, &sreq) == 0);
    const char *line = ub_buf_str(&sreq);
    const char *q = strchr(line, '?'), *sp = strstr(line, " HTTP/1.1");
    T_CHECK(q && sp && q < sp);
    if (q && sp && q < sp) {
        amz_params(q + 1, (size_t)(sp - q - 1), &want);
        amz_params(out.query.p ? out.query.p : "", out.query.len, &got);
        CASE_STREQ(name, ub_buf_str(&got), ub_buf_str(&want));
    }
    ub_buf_free(&ctx);
    ub_buf_free(&want);
    ub_buf_free(&got);
    ub_buf_free(&sreq);
    ub_sigv4_out_release(&out);
    treq_free(&r);
}

static void test_suite_v4(void)
{
    ub_sigv4_key cache = { { 0 }, { 0 }, { 0 } };
    size_t n = sizeof V4_CASES / sizeof *V4_CASES;
    for (size_t i = 0; i < n; i++)
        run_v4(V4_CASES[i], &cache);
    T_INTEQ(n, 38);
    /* The list above is every case folder there is. */
    int dirs = 0;
    DIR *d = opendir(t_path(VEC "aws-signing-test-suite-v4"));
    T_CHECK(d != NULL);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        dirs += e->d_name[0] != '.';
    if (d)
        closedir(d);
    T_INTEQ(dirs, 38);
    /* All cases share akid/date/region/service: the cache holds that key. */
    T_STREQ(cache.id, "AKIDEXAMPLE/20150830/us-east-1/service");
    ub_sigv4_key_wipe(&cache);
}

/* ---- S3 documentation examples (s3-docs-examples.txt, from the .json) ----- */

static void unescape(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && (p[1] == 'n' || p[1] == '\\')) {
            *w++ = p[1] == 'n' ? '\n' : '\\';
            p++;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

/* Removes the blank after each ',' (the docs' Authorization has none). */
static void squeeze_commas(const char *in, ub_buf *dst)
{
    ub_buf_reset(dst);
    for (const char *p = in; p && *p; p++) {
        ub_buf_addc(dst, *p);
        if (*p == ',' && p[1] == ' ')
            p++;
    }
}

typedef struct s3case {
    char *kv[64][2];
    int n;
} s3case;

static const char *kv_get(const s3case *c, const char *k)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->kv[i][0], k) == 0)
            return c->kv[i][1];
    return NULL;
}

static void run_s3_case(const s3case *g, const s3case *c, int *count)
{
    const char *name = kv_get(c, "case");
    ub_sigv4_hdr h[8];
    size_t nh = 0;
    for (int i = 0; i < c->n && nh < 8; i++)
        if (strcmp(c->kv[i][0], "header") == 0) {
            char *colon = strchr(c->kv[i][1], ':');
            *colon = '\0';
            h[nh].name = c->kv[i][1];
            h[nh++].value = colon + 1;
        }
    const char *query = kv_get(c, "query");
    int presign = kv_get(c, "presign") != NULL;
    ub_sigv4_cfg cfg = {
        .access_key_id = kv_get(g, "access_key_id"),
        .secret_access_key = kv_get(g, "secret_access_key"),
        .region = kv_get(g, "region"), .service = kv_get(g, "service"),
        .now = 1369353600,                          /* 2013-05-24T00:00:00Z */
        .flags = UB_SIGV4_CONTENT_SHA256,
        .expires = presign ? strtol(kv_get(c, "expires"), NULL, 10) : 0,
    };
    ub_sigv4_req req = {
        .method = kv_get(c, "method"), .path = kv_get(c, "path"),
        .query = query && *query ? query : NULL, .headers = h, .nheaders = nh,
        .payload_hash = kv_get(c, "payload_sha256"),
    };
    ub_sigv4_out out;
    ub_buf tmp = UB_BUF_INIT;
    ub_err err = { "" };
    ub_sigv4_out_init(&out);
    int rc = presign ? ub_sigv4_presign(&cfg, &req, &out, &err) : ub_sigv4_sign(&cfg, &req, &out, &err);
    if (rc)
        fprintf(stderr, "-- case %s: %s\n", name, err.msg);
    T_INTEQ(rc, 0);
    CASE_STREQ(name, ub_buf_str(&out.creq), kv_get(c, "canonical_request"));
    CASE_STREQ(name, ub_buf_str(&out.sts), kv_get(c, "string_to_sign"));
    CASE_STREQ(name, out.signature, kv_get(c, "signature"));
    CASE_STREQ(name, out.signature, kv_get(c, "published_signature"));
    CASE_STREQ(name, ub_buf_str(&out.signed_headers), kv_get(c, "signed_headers"));
    if (presign) {
        const char *base = kv_get(c, "url_base");
        ub_buf_addf(&tmp, "%s%s?%s", base ? base : "", req.path ? req.path : "",
                    ub_buf_str(&out.query));
        CASE_STREQ(name, ub_buf_str(&tmp), kv_get(c, "presigned_url"));
    } else {
        /* The request already carries x-amz-date and x-amz-content-sha256:
         * the signer adds only Authorization. */
        T_INTEQ(out.nadd, 1);
        squeeze_commas(header_in(&out, "Authorization"), &tmp);
        CASE_STREQ(name, ub_buf_str(&tmp), kv_get(c, "authorization"));
    }
    ub_buf_free(&tmp);
    ub_sigv4_out_release(&out);
    (*count)++;
}

static void test_s3_docs(void)
{
    ub_buf text = UB_BUF_INIT;
    s3case g = { .n = 0 }, c = { .n = 0 };
    int in_case = 0, count = 0;
    T_CHECK(slurp(VEC "s3-docs-examples.txt", &text) == 0);
    for (char *line = text.p, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '#')
            continue;
        if (strcmp(line, "end") == 0) {
            run_s3_case(&g, &c, &count);
            in_case = 0;
            c.n = 0;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        unescape(eq + 1);
        if (strcmp(line, "case") == 0)
            in_case = 1;
        s3case *dst = in_case ? &c : &g;
        if (dst->n < 64) {
            dst->kv[dst->n][0] = line;
            dst->kv[dst->n][1] = eq + 1;
            dst->n++;
        }
    }
    T_INTEQ(count, 5);

    /* The signing key printed by the docs for that day / region / service. */
    ub_sigv4_key key = { { 0 }, { 0 }, { 0 } };
    ub_err err = { "" };
    char hex[65];
    T_CHECK(ub_sigv4_derive_key(&key, kv_get(&g, "access_key_id"), kv_get(&g, "secret_access_key"),
                                "20130524", "us-east-1", "s3", &err) == 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key.key[i]);
    T_STREQ(hex, kv_get(&g, "signing_key_hex"));
    ub_sigv4_key_wipe(&key);

    /* The PUT example's body and its published hash; the key as it goes on the wire. */
    const char *body = "Welcome to Amazon S3.";
    T_CHECK(ub_sigv4_sha256_hex(body, strlen(body), hex, &err) == 0);
    T_STREQ(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    ub_buf enc = UB_BUF_INIT;
    T_CHECK(ub_sigv4_uri_encode(&enc, "test$file.text", 14, 1) == 0);
    T_STREQ(ub_buf_str(&enc), "test%24file.text");
    ub_buf_free(&enc);
    ub_buf_free(&text);
}

/* ---- the pieces on their own ---------------------------------------------- */

/* An in-memory reader that hands out at most `step` bytes per call. */
typedef struct memrd {
    ub_reader base;
    size_t len, pos, step;
    char fill;
} memrd;

static ssize_t memrd_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    memrd *m = (memrd *)r;
    size_t k = m->len - m->pos;
    if (k > n) k = n;
    if (k > m->step) k = m->step;
    memset(buf, m->fill, k);
    m->pos += k;
    return (ssize_t)k;
}

static void memrd_close(ub_reader *r) { (void)r; }

static void test_hash(void)
{
    char hex[65];
    ub_err err = { "" };
    ub_sigv4_hash h = { NULL };
    /* FIPS 180-2 examples. */
    T_CHECK(ub_sigv4_sha256_hex("", 0, hex, &err) == 0);
    T_STREQ(hex, UB_SIGV4_EMPTY_SHA256);
    T_CHECK(ub_sigv4_sha256_hex("abc", 3, hex, &err) == 0);
    T_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    T_CHECK(ub_sigv4_hash_init(&h, &err) == 0);
    for (size_t i = 0; i < strlen(two); i += 5)
        T_CHECK(ub_sigv4_hash_update(&h, two + i, strlen(two) - i < 5 ? strlen(two) - i : 5, &err) == 0);
    T_CHECK(ub_sigv4_hash_final(&h, hex, &err) == 0);
    T_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    T_CHECK(h.ctx == NULL);
    /* One million 'a', read in uneven chunks through the stream helper. */
    memrd m = { { memrd_read, memrd_close, "a-million" }, 1000000, 0, 99991, 'a' };
    T_INTEQ(ub_sigv4_hash_reader(&m.base, hex, &err), 1000000);
    T_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Released unfinished: no leak, no crash. */
    T_CHECK(ub_sigv4_hash_init(&h, &err) == 0);
    T_CHECK(ub_sigv4_hash_update(&h, "x", 1, &err) == 0);
    ub_sigv4_hash_release(&h);
    T_CHECK(h.ctx == NULL);
}

static void test_encoding(void)
{
    ub_buf b = UB_BUF_INIT;
    ub_err err = { "" };
    char d[17];
    T_CHECK(ub_sigv4_uri_encode(&b, "a b/c~-._Z9", 11, 1) == 0);
    T_STREQ(ub_buf_str(&b), "a%20b/c~-._Z9");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_uri_encode(&b, "a b/c+=&\xe1\x88\xb4", 11, 0) == 0);
    T_STREQ(ub_buf_str(&b), "a%20b%2Fc%2B%3D%26%E1%88%B4");

    T_CHECK(ub_sigv4_amz_date(1440938160, d) == 0);
    T_STREQ(d, "20150830T123600Z");
    T_CHECK(ub_sigv4_amz_date(0, d) == 0);
    T_STREQ(d, "19700101T000000Z");
    T_INTEQ(parse_iso("2015-08-30T12:36:00Z"), 1440938160);

    /* Paths: S3 keeps the wire path (normalize-path.txt's example). */
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, "/my-object//example//photo.user", "s3", 0, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/my-object//example//photo.user");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, "/a%20b/c%24", "s3", 0, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/a%20b/c%24");
    /* Generic services encode the wire path again and normalise it. */
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, "/a%20b/./c/../d//", "service", 0, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/a%2520b/d/");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, "/a/./b", "service", UB_SIGV4_NO_NORMALIZE, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/a/./b");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, "/../..", "service", 0, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_uri(&b, NULL, "service", 0, &err) == 0);
    T_STREQ(ub_buf_str(&b), "/");
    T_INTEQ(ub_sigv4_canonical_uri(&b, "/a b", "s3", 0, &err), -1);
    T_STREQ(err.msg, "request path '/a b' is not URI-encoded");
    T_INTEQ(ub_sigv4_canonical_uri(&b, "x", "service", 0, &err), -1);
    T_STREQ(err.msg, "request path 'x' does not start with '/'");

    /* Query: decoded, re-encoded, sorted by name then value. */
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_query(&b, "b=2&a=1&a=0&&k&x=%2f&%zz=1&s=a b+c", &err) == 0);
    T_STREQ(ub_buf_str(&b), "%25zz=1&a=0&a=1&b=2&k=&s=a%20b%2Bc&x=%2F");
    ub_buf_reset(&b);
    T_CHECK(ub_sigv4_canonical_query(&b, NULL, &err) == 0);
    T_STREQ(ub_buf_str(&b), "");
    ub_buf_free(&b);
}

static void test_signer_rules(void)
{
    ub_err err = { "" };
    ub_sigv4_out out;
    ub_buf dbg = UB_BUF_INIT;
    const char *secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const char *token = "tok/en+with=chars";
    ub_sigv4_key cache = { { 0 }, { 0 }, { 0 } };
    ub_sigv4_cfg cfg = {
        .access_key_id = "AKIDEXAMPLE", .secret_access_key = secret,
        .session_token = token, .region = "eu-west-1", .service = "s3",
        .now = 1440938160, .flags = UB_SIGV4_CONTENT_SHA256, .expires = 60,
        .key_cache = &cache,
    };
    ub_sigv4_hdr hs[] = { { "Host", "b.s3.eu-west-1.amazonaws.com" },
                          { "User-Agent", "ubpipe" }, { "X-Amz-Meta-A", "  x \t y " } };
    ub_sigv4_req req = { "PUT", "/k%20ey", "uploads", hs, 3, UB_SIGV4_UNSIGNED_PAYLOAD };
    ub_sigv4_out_init(&out);

    T_CHECK(ub_sigv4_sign(&cfg, &req, &out, &err) == 0);
    /* user-agent is not signed; the date, payload hash and token are added. */
    T_STREQ(ub_buf_str(&out.signed_headers),
            "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-security-token");
    T_INTEQ(out.nadd, 4);
    T_STREQ(out.add[0].name, "X-Amz-Date");
    T_STREQ(out.add[0].value, "20150830T123600Z");
    T_STREQ(out.add[1].name, "x-amz-content-sha256");
    T_STREQ(out.add[1].value, "UNSIGNED-PAYLOAD");
    T_STREQ(out.add[2].name, "X-Amz-Security-Token");
    T_STREQ(out.add[2].value, token);
    T_CHECK(strstr(ub_buf_str(&out.creq), "\nx-amz-meta-a:x y\n") != NULL);
    T_CHECK(strncmp(ub_buf_str(&out.creq), "PUT\n/k%20ey\nuploads=\n", 21) == 0);
    T_CHECK(strncmp(header_in(&out, "Authorization"),
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/s3/aws4_request, "
                    "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;"
                    "x-amz-security-token, Signature=", 145) == 0);
    T_STREQ(cache.id, "AKIDEXAMPLE/20150830/eu-west-1/s3");
    char first[65];
    memcpy(first, out.signature, 65);

    /* Same inputs through the cached key: same signature. */
    T_CHECK(ub_sigv4_sign(&cfg, &req, &out, &err) == 0);
    T_STREQ(out.signature, first);
    /* A different secret under the same key id is noticed, not reused. */
    cfg.secret_access_key = "another-secret";
    T_CHECK(ub_sigv4_sign(&cfg, &req, &out, &err) == 0);
    T_CHECK(strcmp(out.signature, first) != 0);
    cfg.secret_access_key = secret;
    T_CHECK(ub_sigv4_sign(&cfg, &req, &out, &err) == 0);
    T_STREQ(out.signature, first);

    /* Debug text has the canonical request but never the token or secret. */
    T_CHECK(ub_sigv4_debug(&cfg, &out, &dbg) == 0);
    T_CHECK(strstr(ub_buf_str(&dbg), "x-amz-security-token:<redacted>") != NULL);
    T_CHECK(strstr(ub_buf_str(&dbg), token) == NULL);
    T_CHECK(strstr(ub_buf_str(&dbg), secret) == NULL);

    /* Presigned: the token goes in the query (encoded) and is signed. */
    T_CHECK(ub_sigv4_presign(&cfg, &req, &out, &err) == 0);
    T_CHECK(strstr(ub_buf_str(&out.query), "&X-Amz-Security-Token=tok%2Fen%2Bwith%3Dchars&") != NULL);
    T_CHECK(strstr(ub_buf_str(&out.creq), "X-Amz-Security-Token=tok%2Fen%2Bwith%3Dchars") != NULL);
    /* Byte order: "X-Amz-*" sorts before "uploads"; the signature comes last. */
    T_CHECK(strncmp(ub_buf_str(&out.query), "X-Amz-Algorithm=AWS4-HMAC-SHA256&", 33) == 0);
    T_CHECK(strstr(ub_buf_str(&out.query),
                   "&X-Amz-SignedHeaders=host%3Bx-amz-meta-a&uploads=&X-Amz-Signature=") != NULL);
    T_INTEQ(out.nadd, 0);
    ub_buf_reset(&dbg);
    T_CHECK(ub_sigv4_debug(&cfg, &out, &dbg) == 0);
    T_CHECK(strstr(ub_buf_str(&dbg), "tok%2Fen") == NULL);
    T_CHECK(strstr(ub_buf_str(&dbg), "X-Amz-Security-Token=<redacted>") != NULL);

    /* Errors. */
    cfg.expires = 0;
    T_INTEQ(ub_sigv4_presign(&cfg, &req, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: presign expiry 0 is outside 1..604800 seconds");
    cfg.expires = 60;
    ub_sigv4_hdr nohost[] = { { "X-Amz-Meta-A", "1" } };
    ub_sigv4_req r2 = { "GET", "/", NULL, nohost, 1, NULL };
    T_INTEQ(ub_sigv4_sign(&cfg, &r2, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: request has no 'host' header");
    ub_sigv4_hdr olddate[] = { { "Host", "h" }, { "X-Amz-Date", "20150830T000000Z" } };
    ub_sigv4_req r3 = { "GET", "/", NULL, olddate, 2, NULL };
    T_INTEQ(ub_sigv4_sign(&cfg, &r3, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: header 'x-amz-date' is '20150830T000000Z' but the signing time is "
                     "'20150830T123600Z'");
    ub_sigv4_hdr badname[] = { { "Host", "h" }, { "Bad Name", "v" } };
    ub_sigv4_req r4 = { "GET", "/", NULL, badname, 2, NULL };
    T_INTEQ(ub_sigv4_sign(&cfg, &r4, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: invalid header name 'Bad Name'");
    ub_sigv4_hdr csha[] = { { "Host", "h" }, { "x-amz-content-sha256", "abc" } };
    ub_sigv4_req r5 = { "GET", "/", NULL, csha, 2, NULL };
    T_INTEQ(ub_sigv4_sign(&cfg, &r5, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: header 'x-amz-content-sha256' does not match the payload hash");
    cfg.region = "eu/west";
    T_INTEQ(ub_sigv4_sign(&cfg, &req, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: region contains a character that is not allowed");
    cfg.region = "eu-west-1";
    cfg.secret_access_key = "";
    T_INTEQ(ub_sigv4_sign(&cfg, &req, &out, &err), -1);
    T_STREQ(err.msg, "sigv4: no secret access key given");
    T_STREQ(out.signature, "");
    T_INTEQ(out.nadd, 0);

    ub_sigv4_key_wipe(&cache);
    ub_buf_free(&dbg);
    ub_sigv4_out_release(&out);
}

/* Every allocation failing in turn: the signer reports "out of memory" and
 * never crashes or half-succeeds. */
static void test_alloc_failures(void)
{
    ub_sigv4_hdr hs[] = { { "Host", "example.amazonaws.com" }, { "My-Header1", "a  b" } };
    ub_sigv4_req req = { "GET", "/a/../b c", "z=1&a=2", hs, 2, NULL };
    ub_sigv4_cfg cfg = {
        .access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret",
        .session_token = "tok", .region = "us-east-1", .service = "service",
        .now = 1440938160, .expires = 30,
    };
    int oom = 0, ok = 0;
    for (long n = 1; n < 200; n++) {
        ub_sigv4_out out;
        ub_err err = { "" };
        ub_sigv4_out_init(&out);
        ub_mem_fail_after(n);
        int rc = ub_sigv4_presign(&cfg, &req, &out, &err);
        ub_mem_fail_after(0);
        if (rc == 0) {
            ok++;
        } else {
            oom++;
            if (strcmp(err.msg, "out of memory") != 0)
                fprintf(stderr, "allocation %ld: %s\n", n, err.msg);
            T_STREQ(err.msg, "out of memory");
        }
        ub_sigv4_out_release(&out);
    }
    T_CHECK(oom > 5);
    T_CHECK(ok > 0);
}

int main(void)
{
    test_hash();
    test_encoding();
    test_suite_2015();
    test_suite_v4();
    test_s3_docs();
    test_signer_rules();
    test_alloc_failures();
    return t_done("sigv4");
}
