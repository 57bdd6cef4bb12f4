/* fp_nohash.c — make bench only: LD_PRELOADed into a whole run of ubpipe, it turns
 * EVP_DigestUpdate into a no-op, so the run does everything but feed bytes to SHA-256: the
 * content hashes pg.extract and lake.put compute while they stream (io/hashread.c), which is
 * most of what fingerprinting costs a run.  The run with it against the run without it,
 * side by side, is the cost (tests/bench/run.sh).  Never part of ubpipe. */
#include <stddef.h>

typedef struct evp_md_ctx_st EVP_MD_CTX;
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
    (void)ctx;
    (void)d;
    (void)cnt;
    return 1;
}
