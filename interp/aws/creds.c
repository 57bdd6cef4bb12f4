/* creds.c — the AWS credentials / region / endpoint chain and the S3 URL rules. */
#include "aws/creds.h"
#include "aws/sigv4.h"
#include "base/mem.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INI_MAX_LINE ((size_t)1 << 20)

/* ---- INI files ---------------------------------------------------------- */

/* One "key = value" of a section; sub-section keys are "parent.key".  The
 * three strings live in mem[] (wiped on free: values can be secrets). */
typedef struct ini_ent {
    struct ini_ent *next;
    const char *section, *key, *value;
    size_t size;
    char mem[];
} ini_ent;

typedef struct ini {
    const char *path;           /* not owned; NULL = no such file configured */
    int found;                  /* the file exists and was read */
    ini_ent *head;
    ini_ent **tailp;            /* where the next entry is linked in */
    ini_ent **lastp;            /* the link that points at the last entry */
} ini;

static void ini_init(ini *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->tailp = &f->head;
}

static void ent_free(ini_ent *e)
{
    OPENSSL_cleanse(e->mem, e->size);
    ub_free(e);
}

static void ini_free(ini *f)
{
    for (ini_ent *e = f->head, *next; e; e = next) {
        next = e->next;
        ent_free(e);
    }
    f->head = NULL;
    f->tailp = &f->head;
    f->lastp = NULL;
}

static ini_ent *ent_new(const char *section, const char *key, size_t klen,
                        const char *v1, size_t l1, const char *v2, size_t l2)
{
    size_t sl = strlen(section), size = sl + 1 + klen + 1 + l1 + l2 + 1;
    ini_ent *e = ub_malloc(sizeof *e + size);
    if (!e)
        return NULL;
    char *p = e->mem;
    e->next = NULL;
    e->size = size;
    e->section = p;
    memcpy(p, section, sl + 1);
    p += sl + 1;
    e->key = p;
    for (size_t i = 0; i < klen; i++)
        p[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]);
    p[klen] = '\0';
    p += klen + 1;
    e->value = p;
    if (l1)
        memcpy(p, v1, l1);
    if (l2)
        memcpy(p + l1, v2, l2);
    p[l1 + l2] = '\0';
    return e;
}

static void ini_append(ini *f, ini_ent *e)
{
    f->lastp = f->tailp;
    *f->tailp = e;
    f->tailp = &e->next;
}

/* Replaces the last entry by e (a continued multi-line value). */
static void ini_replace_last(ini *f, ini_ent *e)
{
    ini_ent *old = *f->lastp;
    *f->lastp = e;
    f->tailp = &e->next;
    ent_free(old);
}

/* Last value of key in section (later lines win), or NULL. */
static const char *ini_get(const ini *f, const char *section, const char *key)
{
    const char *v = NULL;
    for (const ini_ent *e = f->head; e; e = e->next)
        if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0)
            v = e->value;
    return v;
}

static int ini_has_section(const ini *f, const char *section)
{
    for (const ini_ent *e = f->head; e; e = e->next)
        if (strcmp(e->section, section) == 0)
            return 1;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* s[0..*n) without blanks at either end. */
static const char *trim(const char *s, size_t *n)
{
    while (*n && is_blank(*s))
        s++, (*n)--;
    while (*n && (is_blank(s[*n - 1]) || s[*n - 1] == '\r'))
        (*n)--;
    return s;
}

/* Length of s[0..n) before an inline comment (a blank then '#' or ';'). */
static size_t cut_comment(const char *s, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if ((s[i] == '#' || s[i] == ';') && is_blank(s[i - 1]))
            return i;
    return n;
}

/* Section name with runs of blanks as one space: "profile  x" -> "profile x". */
static void norm_section(const char *s, size_t n, ub_buf *dst)
{
    ub_buf_reset(dst);
    s = trim(s, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_blank(s[i])) {
            if (i + 1 < n && !is_blank(s[i + 1]))
                ub_buf_addc(dst, ' ');
            continue;
        }
        ub_buf_addc(dst, s[i]);
    }
    ub_buf_addc(dst, '\0');     /* also makes an empty name a valid "" string */
}

/* Reads one line (without its '\n') into line; returns 1 for a line, 0 at
 * the end of the file, -1 on error. */
static int read_line(FILE *fp, ub_buf *line)
{
    int c, got = 0;
    ub_buf_reset(line);
    while ((c = getc(fp)) != EOF) {
        got = 1;
        if (c == '\n')
            break;
        if (ub_buf_addc(line, (char)c))
            return -1;
    }
    if (ferror(fp))
        return -1;
    if (ub_buf_addc(line, '\0'))    /* a string even when empty */
        return -1;
    line->len--;
    return got;
}

static int ini_load(ini *f, ub_err *err)
{
    int rc = -1, lineno = 0, r;
    int key_indent = -1;        /* indent of the last key line, -1 = none */
    int nested = 0;             /* the last key had an empty value */
    ub_buf line, section = UB_BUF_INIT, parent = UB_BUF_INIT, tmp = UB_BUF_INIT;
    FILE *fp = NULL;
    ub_buf_init(&line, INI_MAX_LINE);

    if (!f->path)
        return 0;
    fp = fopen(f->path, "r");
    if (!fp) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return ub_err_set(err, "cannot open '%s': %s", f->path, strerror(errno));
    }
    f->found = 1;
    if (ub_buf_reserve(&line, 4096))        /* few regrowths: fewer stale copies */
        goto oom;
    while ((r = read_line(fp, &line)) == 1) {
        lineno++;
        const char *s = line.p;
        size_t n = line.len;
        int indent = 0;
        while ((size_t)indent < n && is_blank(s[indent]))
            indent++;
        const char *t = s + indent;
        size_t tn = n - (size_t)indent;
        t = trim(t, &tn);
        if (tn == 0 || t[0] == '#' || t[0] == ';')
            continue;
        if (indent == 0 && t[0] == '[') {
            const char *close = memchr(t, ']', tn);
            if (!close) {
                ub_err_set(err, "'%s' line %d: section header has no ']'", f->path, lineno);
                goto out;
            }
            norm_section(t + 1, (size_t)(close - t - 1), &section);
            if (section.err)
                goto oom;
            key_indent = -1;
            nested = 0;
            continue;
        }
        if (!section.len) {
            ub_err_set(err, "'%s' line %d: 'key = value' before any '[section]'", f->path, lineno);
            goto out;
        }
        size_t cut = cut_comment(t, tn);
        tn = cut;
        t = trim(t, &tn);
        if (key_indent >= 0 && indent > key_indent) {
            /* Continuation of the last key: a sub-section entry when that
             * key had no value, else more lines of its value. */
            ini_ent *e;
            if (nested) {
                const char *d = strpbrk(t, "=:");
                if (!d || (size_t)(d - t) >= tn) {
                    ub_err_set(err, "'%s' line %d: expected 'key = value' in sub-section '%s'",
                               f->path, lineno, ub_buf_str(&parent));
                    goto out;
                }
                size_t kl = (size_t)(d - t), vl = tn - kl - 1;
                const char *k = trim(t, &kl), *v = trim(d + 1, &vl);
                ub_buf_reset(&tmp);
                ub_buf_addf(&tmp, "%s.", ub_buf_str(&parent));
                ub_buf_add(&tmp, k, kl);
                if (tmp.err)
                    goto oom;
                e = ent_new(section.p, tmp.p, tmp.len, v, vl, NULL, 0);
                if (!e)
                    goto oom;
                ini_append(f, e);
            } else {
                const ini_ent *last = *f->lastp;
                ub_buf_reset(&tmp);
                ub_buf_addf(&tmp, "%s\n", last->value);
                if (tmp.err)
                    goto oom;
                e = ent_new(last->section, last->key, strlen(last->key), tmp.p, tmp.len, t, tn);
                OPENSSL_cleanse(tmp.p, tmp.len);
                if (!e)
                    goto oom;
                ini_replace_last(f, e);
            }
            continue;
        }
        const char *d = strpbrk(t, "=:");
        if (!d || (size_t)(d - t) >= tn) {
            ub_err_set(err, "'%s' line %d: expected 'key = value' or '[section]'", f->path, lineno);
            goto out;
        }
        size_t kl = (size_t)(d - t), vl = tn - kl - 1;
        const char *k = trim(t, &kl), *v = trim(d + 1, &vl);
        if (kl == 0) {
            ub_err_set(err, "'%s' line %d: empty key", f->path, lineno);
            goto out;
        }
        ini_ent *e = ent_new(section.p, k, kl, v, vl, NULL, 0);
        if (!e)
            goto oom;
        ini_append(f, e);
        key_indent = indent;
        nested = vl == 0;
        ub_buf_reset(&parent);
        if (ub_buf_adds(&parent, e->key))
            goto oom;
    }
    if (r < 0) {
        if (line.err == E2BIG)
            ub_err_set(err, "'%s' line %d: line too long", f->path, lineno + 1);
        else if (line.err)
            goto oom;
        else
            ub_err_set(err, "cannot read '%s': %s", f->path, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    if (line.p)
        OPENSSL_cleanse(line.p, line.cap);
    if (tmp.p)
        OPENSSL_cleanse(tmp.p, tmp.cap);
    ub_buf_free(&line);
    ub_buf_free(&tmp);
    ub_buf_free(&section);
    ub_buf_free(&parent);
    if (fp)
        fclose(fp);
    return rc;
}

/* ---- small helpers ------------------------------------------------------ */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void free_secret(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        ub_free(*s);
        *s = NULL;
    }
}

static void free_str(char **s)
{
    ub_free(*s);
    *s = NULL;
}

/* *dst = copy of s (NULL stays NULL); -1 when out of memory. */
static int set_str(char **dst, const char *s)
{
    ub_free(*dst);
    *dst = NULL;
    if (!s)
        return 0;
    *dst = ub_strdup(s);
    return *dst ? 0 : -1;
}

static int set_fmt(char **dst, ub_buf *tmp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_fmt(char **dst, ub_buf *tmp, const char *fmt, ...)
{
    va_list ap;
    ub_buf_reset(tmp);
    va_start(ap, fmt);
    ub_buf_vaddf(tmp, fmt, ap);
    va_end(ap);
    return tmp->err ? -1 : set_str(dst, ub_buf_str(tmp));
}

/* Path from an environment variable or a default under $HOME; "~/" expanded.
 * *out NULL when there is no HOME to put it under. */
static int file_path(const char *envname, const char *home_rel, char **out)
{
    const char *v = env(envname), *home = env("HOME");
    ub_buf b = UB_BUF_INIT;
    *out = NULL;
    if (!v) {
        if (!home)
            return 0;
        ub_buf_addf(&b, "%s/%s", home, home_rel);
    } else if (v[0] == '~' && v[1] == '/' && home) {
        ub_buf_addf(&b, "%s/%s", home, v + 2);
    } else {
        ub_buf_adds(&b, v);
    }
    int rc = b.err ? -1 : set_str(out, ub_buf_str(&b));
    ub_buf_free(&b);
    return rc;
}

/* ---- credentials ---------------------------------------------------------- */

void ub_aws_creds_release(ub_aws_creds *c)
{
    if (!c)
        return;
    free_str(&c->access_key_id);
    free_secret(&c->secret_access_key);
    free_secret(&c->session_token);
    free_str(&c->source);
}

/* Takes the keys from section of f when it has them.  Returns 1 when found,
 * 0 when the section has no keys, -1 on error. */
static int creds_from_ini(ub_aws_creds *c, const ini *f, const char *section,
                          const char *what, const char *profile, ub_buf *tmp, ub_err *err)
{
    const char *akid = ini_get(f, section, "aws_access_key_id");
    const char *secret = ini_get(f, section, "aws_secret_access_key");
    const char *token = ini_get(f, section, "aws_session_token");
    if (!token)
        token = ini_get(f, section, "aws_security_token");     /* older name */
    if (!akid || !*akid) {
        if (secret && *secret)
            return ub_err_set(err, "profile '%s' in '%s' has 'aws_secret_access_key' but no "
                              "'aws_access_key_id'", profile, f->path);
        return 0;
    }
    if (!secret || !*secret)
        return ub_err_set(err, "profile '%s' in '%s' has 'aws_access_key_id' but no "
                          "'aws_secret_access_key'", profile, f->path);
    if (set_str(&c->access_key_id, akid) || set_str(&c->secret_access_key, secret) ||
        set_str(&c->session_token, token && *token ? token : NULL))
        return ub_err_oom(err);
    ub_buf_reset(tmp);
    ub_buf_addf(tmp, "%s file '%s', profile '%s'", what, f->path, profile);
    if (tmp->err || set_str(&c->source, ub_buf_str(tmp)))
        return ub_err_oom(err);
    return 1;
}

/* Credential sources ubpipe does not implement, named when a profile relies on one. */
static const char *unsupported_source(const ini *cfgf, const char *section)
{
    static const char *const keys[] = {
        "credential_process", "role_arn", "sso_session", "sso_start_url", "web_identity_token_file",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (ini_get(cfgf, section, keys[i]))
            return keys[i];
    return NULL;
}

/* ---- the whole chain ------------------------------------------------------ */

static int parse_addressing(const char *v, ub_s3_addressing *out)
{
    if (strcasecmp(v, "auto") == 0)
        *out = UB_S3_ADDR_AUTO;
    else if (strcasecmp(v, "virtual") == 0)
        *out = UB_S3_ADDR_VIRTUAL;
    else if (strcasecmp(v, "path") == 0)
        *out = UB_S3_ADDR_PATH;
    else
        return -1;
    return 0;
}

typedef struct url_parts {
    int https;
    const char *host, *hostport, *base;     /* into the URL string */
    size_t hostlen, hplen, baselen;
    int default_port;                       /* no port, or the scheme's own */
} url_parts;

/* Splits an http(s) URL "scheme://host[:port][/base]" (no user, query or fragment). */
static int parse_url(const char *u, url_parts *p)
{
    memset(p, 0, sizeof *p);
    if (strncasecmp(u, "https://", 8) == 0) {
        p->https = 1;
        u += 8;
    } else if (strncasecmp(u, "http://", 7) == 0) {
        u += 7;
    } else {
        return -1;
    }
    size_t alen = strcspn(u, "/?#");
    if (alen == 0 || memchr(u, '@', alen))
        return -1;
    p->hostport = u;
    p->hplen = alen;
    const char *port = NULL;
    if (u[0] == '[') {
        const char *close = memchr(u, ']', alen);
        if (!close)
            return -1;
        p->host = u;
        p->hostlen = (size_t)(close - u) + 1;
        if (p->hostlen < alen) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(u, ':', alen);
        p->host = u;
        p->hostlen = colon ? (size_t)(colon - u) : alen;
        if (colon)
            port = colon + 1;
    }
    if (p->hostlen == 0)
        return -1;
    p->default_port = 1;
    if (port) {
        size_t plen = (size_t)(u + alen - port);
        long v = 0;
        if (plen == 0 || plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return -1;
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return -1;
        p->default_port = v == (p->https ? 443 : 80);
    }
    p->base = u + alen;
    p->baselen = strlen(p->base);
    if (memchr(p->base, '?', p->baselen) || memchr(p->base, '#', p->baselen))
        return -1;
    while (p->baselen && p->base[p->baselen - 1] == '/')
        p->baselen--;
    return 0;
}

static int is_true(const char *v) { return v && strcasecmp(v, "true") == 0; }

/* One service's endpoint: env specific, env global, config services
 * section, config profile. */
static int resolve_endpoint(char **url, char **source, const char *env_specific,
                            const char *svc_key, const ini *cf, const char *psec,
                            const char *profile, ub_buf *tmp, ub_err *err)
{
    const char *v = NULL, *src = NULL;
    char srcbuf[64];
    const char *services = psec ? ini_get(cf, psec, "services") : NULL;
    if ((v = env(env_specific)) != NULL) {
        src = env_specific;
    } else if ((v = env("AWS_ENDPOINT_URL")) != NULL) {
        src = "AWS_ENDPOINT_URL";
    } else if (services) {
        ub_buf_reset(tmp);
        ub_buf_addf(tmp, "services %s", services);
        if (tmp->err)
            return ub_err_oom(err);
        snprintf(srcbuf, sizeof srcbuf, "%s.endpoint_url", svc_key);
        v = ini_get(cf, ub_buf_str(tmp), srcbuf);
        if (v && set_fmt(source, tmp, "config file '%s', services '%s'", cf->path, services))
            return ub_err_oom(err);
    }
    if (!v && psec && (v = ini_get(cf, psec, "endpoint_url")) != NULL &&
        set_fmt(source, tmp, "config file '%s', profile '%s'", cf->path, profile))
        return ub_err_oom(err);
    if (!v || !*v) {
        free_str(source);
        return 0;
    }
    if (src && set_str(source, src))
        return ub_err_oom(err);
    url_parts up;
    if (parse_url(v, &up))
        return ub_err_set(err, "endpoint URL '%s' (from %s) is not an http(s) URL", v, *source);
    /* Stored without trailing '/'. */
    size_t n = strlen(v);
    while (n && v[n - 1] == '/')
        n--;
    ub_free(*url);
    *url = ub_strndup(v, n);
    return *url ? 0 : ub_err_oom(err);
}

void ub_aws_cfg_release(ub_aws_cfg *cfg)
{
    if (!cfg)
        return;
    ub_aws_creds_release(&cfg->creds);
    free_str(&cfg->profile);
    free_str(&cfg->region);
    free_str(&cfg->region_source);
    free_str(&cfg->endpoint_s3);
    free_str(&cfg->endpoint_s3_source);
    free_str(&cfg->endpoint_emr);
    free_str(&cfg->endpoint_emr_source);
    free_str(&cfg->credentials_file);
    free_str(&cfg->config_file);
}

int ub_aws_cfg_load(ub_aws_cfg *cfg, const char *profile, unsigned flags, ub_err *err)
{
    int rc = -1, explicit_profile = profile != NULL;
    ini credf, conff;
    ub_buf tmp = UB_BUF_INIT, psec_b = UB_BUF_INIT;
    const char *psec = NULL;        /* the profile's section in the config file */

    memset(cfg, 0, sizeof *cfg);
    ini_init(&credf, NULL);
    ini_init(&conff, NULL);
    if (!profile)
        profile = env("AWS_PROFILE");
    if (!profile)
        profile = env("AWS_DEFAULT_PROFILE");
    if (!profile)
        profile = "default";
    if (set_str(&cfg->profile, profile) ||
        file_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", &cfg->credentials_file) ||
        file_path("AWS_CONFIG_FILE", ".aws/config", &cfg->config_file))
        goto oom;
    ini_init(&credf, cfg->credentials_file);
    ini_init(&conff, cfg->config_file);
    if (ini_load(&credf, err) || ini_load(&conff, err))
        goto out;

    ub_buf_addf(&psec_b, "profile %s", profile);
    if (psec_b.err)
        goto oom;
    psec = ub_buf_str(&psec_b);
    if (!ini_has_section(&conff, psec) && strcmp(profile, "default") == 0)
        psec = "default";
    int in_cred = ini_has_section(&credf, profile), in_conf = ini_has_section(&conff, psec);
    if (!in_conf)
        psec = NULL;
    if (strcmp(profile, "default") != 0 && !in_cred && !in_conf) {
        ub_err_set(err, "profile '%s' not found in '%s' or '%s'", profile,
                   cfg->credentials_file ? cfg->credentials_file : "(no credentials file)",
                   cfg->config_file ? cfg->config_file : "(no config file)");
        goto out;
    }

    /* Credentials. */
    int found = 0;
    const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!explicit_profile && (akid || secret)) {
        if (!akid || !secret) {
            ub_err_set(err, "environment has '%s' but not '%s'",
                       akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                       akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            goto out;
        }
        if (set_str(&cfg->creds.access_key_id, akid) ||
            set_str(&cfg->creds.secret_access_key, secret) ||
            set_str(&cfg->creds.session_token, env("AWS_SESSION_TOKEN")) ||
            set_str(&cfg->creds.source, "environment"))
            goto oom;
        found = 1;
    }
    if (!found && in_cred) {
        found = creds_from_ini(&cfg->creds, &credf, profile, "credentials", profile, &tmp, err);
        if (found < 0)
            goto out;
    }
    if (!found && psec) {
        found = creds_from_ini(&cfg->creds, &conff, psec, "config", profile, &tmp, err);
        if (found < 0)
            goto out;
    }
    if (!found && !(flags & UB_AWS_CREDS_OPTIONAL)) {
        const char *how = psec ? unsupported_source(&conff, psec) : NULL;
        if (how)
            ub_err_set(err, "profile '%s' in '%s' gets its credentials through '%s', which "
                       "ubpipe does not support; export AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY instead", profile, conff.path, how);
        else
            ub_err_set(err, "no AWS credentials for profile '%s': set AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY, or add them to '%s'", profile,
                       cfg->credentials_file ? cfg->credentials_file : "~/.aws/credentials");
        goto out;
    }

    /* Region. */
    const char *region = env("AWS_REGION"), *rsrc = "AWS_REGION";
    if (!region) {
        region = env("AWS_DEFAULT_REGION");
        rsrc = "AWS_DEFAULT_REGION";
    }
    if (region) {
        if (set_str(&cfg->region, region) || set_str(&cfg->region_source, rsrc))
            goto oom;
    } else if (psec && (region = ini_get(&conff, psec, "region")) != NULL && *region) {
        if (set_str(&cfg->region, region) ||
            set_fmt(&cfg->region_source, &tmp, "config file '%s', profile '%s'", conff.path, profile))
            goto oom;
    }

    /* Endpoints. */
    if (!is_true(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) &&
        !(psec && is_true(ini_get(&conff, psec, "ignore_configured_endpoint_urls")))) {
        if (resolve_endpoint(&cfg->endpoint_s3, &cfg->endpoint_s3_source, "AWS_ENDPOINT_URL_S3",
                             "s3", &conff, psec, profile, &tmp, err) ||
            resolve_endpoint(&cfg->endpoint_emr, &cfg->endpoint_emr_source, "AWS_ENDPOINT_URL_EMR",
                             "emr", &conff, psec, profile, &tmp, err))
            goto out;
    }

    /* S3 addressing style. */
    const char *style = psec ? ini_get(&conff, psec, "s3.addressing_style") : NULL;
    if (style && parse_addressing(style, &cfg->s3_addressing)) {
        ub_err_set(err, "profile '%s' in '%s': s3 addressing_style '%s' is not one of auto, "
                   "virtual, path", profile, conff.path, style);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    ini_free(&credf);
    ini_free(&conff);
    ub_buf_free(&tmp);
    ub_buf_free(&psec_b);
    return rc;
}

int ub_aws_creds_load(ub_aws_creds *c, const char *profile, ub_err *err)
{
    ub_aws_cfg cfg;
    memset(c, 0, sizeof *c);
    int rc = ub_aws_cfg_load(&cfg, profile, 0, err);
    if (rc == 0) {
        *c = cfg.creds;                         /* c now owns the strings */
        memset(&cfg.creds, 0, sizeof cfg.creds);
    }
    ub_aws_cfg_release(&cfg);
    return rc;
}

/* ---- region, endpoints, URLs ---------------------------------------------- */

const char *ub_aws_region(const ub_aws_cfg *cfg)
{
    return cfg && cfg->region && *cfg->region ? cfg->region : "us-east-1";
}

const char *ub_aws_endpoint(const ub_aws_cfg *cfg, const char *service)
{
    if (!cfg || !service)
        return NULL;
    if (strcmp(service, "s3") == 0)
        return cfg->endpoint_s3;
    if (strcmp(service, "emr") == 0)
        return cfg->endpoint_emr;
    return NULL;
}

static int host_is_ip(const char *h, size_t n)
{
    char buf[64];
    unsigned char addr[16];
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
        if (n >= sizeof buf)
            return 0;
        memcpy(buf, h, n);
        buf[n] = '\0';
        return inet_pton(AF_INET6, buf, addr) == 1;
    }
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1;
}

/* A bucket name that can be the first label of a host name under TLS:
 * 3..63 of [a-z0-9-], starting and ending with a letter or digit. */
static int virtual_bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return 0;
    }
    return 1;
}

int ub_aws_s3_path_style(const ub_aws_cfg *cfg, const char *bucket)
{
    url_parts up;
    const char *ep = ub_aws_endpoint(cfg, "s3");
    int have_ep = ep && parse_url(ep, &up) == 0;
    if (cfg && cfg->s3_addressing == UB_S3_ADDR_PATH)
        return 1;
    if (have_ep && host_is_ip(up.host, up.hostlen))
        return 1;                   /* no "bucket." in front of an address */
    if (cfg && cfg->s3_addressing == UB_S3_ADDR_VIRTUAL)
        return 0;
    if (have_ep && up.hostlen == 9 && strncasecmp(up.host, "localhost", 9) == 0)
        return 1;
    return !virtual_bucket_ok(bucket ? bucket : "");
}

/* Default AWS host for a service prefix in region. */
static void aws_host(ub_buf *dst, const char *prefix, const char *region)
{
    const char *suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    if (strcmp(prefix, "s3") == 0 && strcmp(region, "us-east-1") == 0)
        ub_buf_addf(dst, "s3.%s", suffix);
    else
        ub_buf_addf(dst, "%s.%s.%s", prefix, region, suffix);
}

/* Fills whichever of url ("scheme://host" + path), host and path the caller
 * asked for; -1 when out of memory. */
static int give_url(int https, const ub_buf *h, const char *path, size_t pathlen, ub_buf *url, ub_buf *host,
                    ub_buf *pathout)
{
    if (url) {
        ub_buf_reset(url);
        ub_buf_addf(url, "%s://%s", https ? "https" : "http", ub_buf_str(h));
        ub_buf_add(url, path, pathlen);
        if (url->err)
            return -1;
    }
    if (host) {
        ub_buf_reset(host);
        if (ub_buf_adds(host, ub_buf_str(h)))
            return -1;
    }
    if (pathout) {
        ub_buf_reset(pathout);
        if (ub_buf_add(pathout, path, pathlen))
            return -1;
    }
    return 0;
}

int ub_aws_s3_url(const ub_aws_cfg *cfg, const char *bucket, const char *key,
                  ub_buf *url, ub_buf *host, ub_buf *path, ub_err *err)
{
    int rc = -1;
    ub_buf h = UB_BUF_INIT, p = UB_BUF_INIT;
    const char *ep = ub_aws_endpoint(cfg, "s3");
    url_parts up;
    int https = 1;

    if (!bucket || !*bucket || strchr(bucket, '/') || strpbrk(bucket, " \t\r\n?#%")) {
        ub_err_set(err, "bucket name '%s' is not valid", bucket ? bucket : "");
        goto out;
    }
    if (ep && parse_url(ep, &up)) {
        ub_err_set(err, "endpoint URL '%s' is not an http(s) URL", ep);
        goto out;
    }
    int path_style = ub_aws_s3_path_style(cfg, bucket);
    if (!path_style)
        ub_buf_addf(&h, "%s.", bucket);
    if (ep) {
        https = up.https;
        /* Keep an explicit non-default port in Host; drop a default one. */
        ub_buf_add(&h, up.hostport, up.default_port ? up.hostlen : up.hplen);
        ub_buf_add(&p, up.base, up.baselen);
    } else {
        aws_host(&h, "s3", ub_aws_region(cfg));
    }
    if (path_style)
        ub_buf_addf(&p, "/%s", bucket);
    if (key && *key) {
        ub_buf_addc(&p, '/');
        ub_sigv4_uri_encode(&p, key, strlen(key), 1);
    } else if (!path_style) {
        ub_buf_addc(&p, '/');
    }
    if (h.err || p.err)
        goto oom;
    if (give_url(https, &h, p.p ? p.p : "", p.len, url, host, path))
        goto oom;
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    ub_buf_free(&h);
    ub_buf_free(&p);
    return rc;
}

int ub_aws_service_url(const ub_aws_cfg *cfg, const char *service,
                       ub_buf *url, ub_buf *host, ub_err *err)
{
    ub_buf h = UB_BUF_INIT;
    const char *ep = ub_aws_endpoint(cfg, service);
    const char *prefix = strcmp(service, "emr") == 0 ? "elasticmapreduce" : service;
    url_parts up;
    int rc = -1, https = 1;
    const char *base = "";
    size_t baselen = 0;
    if (ep) {
        if (parse_url(ep, &up)) {
            ub_err_set(err, "endpoint URL '%s' is not an http(s) URL", ep);
            goto out;
        }
        https = up.https;
        ub_buf_add(&h, up.hostport, up.default_port ? up.hostlen : up.hplen);
        base = up.base;
        baselen = up.baselen;
    } else {
        aws_host(&h, prefix, ub_aws_region(cfg));
    }
    if (h.err)
        goto oom;
    if (give_url(https, &h, base, baselen, url, host, NULL))
        goto oom;
    rc = 0;
    goto out;
oom:
    ub_err_oom(err);
out:
    ub_buf_free(&h);
    return rc;
}

/* ---- display -------------------------------------------------------------- */

const char *ub_aws_mask(const char *secret, char out[UB_AWS_MASK_LEN])
{
    size_t n = secret ? strlen(secret) : 0;
    if (n == 0)
        snprintf(out, UB_AWS_MASK_LEN, "(none)");
    else if (n < 16)
        snprintf(out, UB_AWS_MASK_LEN, "****");
    else
        snprintf(out, UB_AWS_MASK_LEN, "****%s", secret + n - 4);
    return out;
}

int ub_aws_cfg_describe(const ub_aws_cfg *cfg, ub_buf *dst)
{
    static const char *const styles[] = { "auto", "virtual", "path" };
    char m1[UB_AWS_MASK_LEN], m2[UB_AWS_MASK_LEN], m3[UB_AWS_MASK_LEN];
    const ub_aws_creds *c = &cfg->creds;
    const char *src = c->source ? c->source : "not found";
    ub_buf_addf(dst, "profile: %s\n", cfg->profile ? cfg->profile : "default");
    ub_buf_addf(dst, "access key: %s (%s)\n", ub_aws_mask(c->access_key_id, m1), src);
    ub_buf_addf(dst, "secret key: %s (%s)\n", ub_aws_mask(c->secret_access_key, m2), src);
    ub_buf_addf(dst, "session token: %s\n", ub_aws_mask(c->session_token, m3));
    ub_buf_addf(dst, "region: %s (%s)\n", ub_aws_region(cfg),
                cfg->region_source ? cfg->region_source : "default");
    ub_buf_addf(dst, "s3 endpoint: %s (%s)\n", cfg->endpoint_s3 ? cfg->endpoint_s3 : "aws",
                cfg->endpoint_s3_source ? cfg->endpoint_s3_source : "default");
    ub_buf_addf(dst, "emr endpoint: %s (%s)\n", cfg->endpoint_emr ? cfg->endpoint_emr : "aws",
                cfg->endpoint_emr_source ? cfg->endpoint_emr_source : "default");
    ub_buf_addf(dst, "s3 addressing: %s\n", styles[cfg->s3_addressing]);
    return dst->err ? -1 : 0;
}
