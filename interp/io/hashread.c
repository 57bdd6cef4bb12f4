/* hashread.c — SHA-256 of a stream while it is read (hashread.h). */
#include "io/hashread.h"
#include "base/mem.h"
#include <openssl/evp.h>

typedef struct hreader {
    ub_reader   r;              /* first: the public part */
    ub_reader  *in;
    EVP_MD_CTX *md;
    int         at_end;
    char        hex[65];
} hreader;

static ssize_t h_read(ub_reader *r, void *buf, size_t n, ub_err *err)
{
    hreader *h = (hreader *)r;
    ssize_t got = ub_read(h->in, buf, n, err);
    if (got > 0)
        EVP_DigestUpdate(h->md, buf, (size_t)got);
    else if (got == 0 && !h->at_end) {
        static const char digits[] = "0123456789abcdef";
        unsigned char d[32];
        unsigned int dl = 0;
        if (EVP_DigestFinal_ex(h->md, d, &dl) && dl == 32) {
            for (size_t i = 0; i < 32; i++) {
                h->hex[2 * i] = digits[d[i] >> 4];
                h->hex[2 * i + 1] = digits[d[i] & 15];
            }
            h->hex[64] = '\0';
            h->at_end = 1;
        }
    }
    return got;
}

static void h_close(ub_reader *r)
{
    hreader *h = (hreader *)r;
    ub_reader_close(h->in);
    EVP_MD_CTX_free(h->md);
    ub_free(h);
}

ub_reader *ub_sha256_reader(ub_reader *in, ub_err *err)
{
    hreader *h = in ? ub_calloc(1, sizeof *h) : NULL;
    if (!in)
        return NULL;
    if (!h || !(h->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL)) {
        if (h)
            EVP_MD_CTX_free(h->md);
        ub_free(h);
        ub_reader_close(in);
        ub_err_oom(err);
        return NULL;
    }
    h->in = in;
    h->r.read = h_read;
    h->r.close = h_close;
    h->r.name = in->name;
    return &h->r;
}

int ub_sha256_reader_hex(ub_reader *r, char out[65])
{
    hreader *h = (hreader *)r;
    if (!h || !h->at_end)
        return -1;
    for (int i = 0; i < 65; i++)
        out[i] = h->hex[i];
    return 0;
}
