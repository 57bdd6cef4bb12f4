/* chash.c — XXH3-128 content hashes in hex (chash.h). */
#include "io/chash.h"
#include <stdio.h>
#include <xxhash.h>

/* A ub_chash is the library's streaming state, which it allocates itself (64-byte aligned):
 * the type is only ever a pointer here. */
#define ST(h) ((XXH3_state_t *)(void *)(h))

static void to_hex(XXH128_hash_t v, char out[UB_CHASH_HEX + 1])
{
    XXH128_canonical_t c;
    static const char digits[] = "0123456789abcdef";
    XXH128_canonicalFromHash(&c, v);             /* big-endian: as xxhsum -H2 prints it */
    for (size_t i = 0; i < sizeof c.digest; i++) {
        out[2 * i] = digits[c.digest[i] >> 4];
        out[2 * i + 1] = digits[c.digest[i] & 15];
    }
    out[UB_CHASH_HEX] = '\0';
}

ub_chash *ub_chash_new(void)
{
    XXH3_state_t *s = XXH3_createState();
    if (s && XXH3_128bits_reset(s) != XXH_OK) {
        XXH3_freeState(s);
        s = NULL;
    }
    return (ub_chash *)(void *)s;
}

void ub_chash_update(ub_chash *h, const void *p, size_t n)
{
    if (h && n)
        (void)XXH3_128bits_update(ST(h), p, n);
}

void ub_chash_hex(const ub_chash *h, char out[UB_CHASH_HEX + 1])
{
    to_hex(XXH3_128bits_digest(ST(h)), out);
}

void ub_chash_free(ub_chash *h)
{
    if (h)
        XXH3_freeState(ST(h));
}

void ub_chash_mem(const void *p, size_t n, char out[UB_CHASH_HEX + 1])
{
    to_hex(XXH3_128bits(p, n), out);
}
