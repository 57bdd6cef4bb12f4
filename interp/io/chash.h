/* chash.h — the content hash of fingerprints: XXH3-128 (Debian's libxxhash), as 32 lower-case
 * hex digits.  It tells whether bytes changed, not whether someone forged them (it is not a
 * cryptographic hash: see FINGERPRINTS in ubpipe-pipeline(5)); chosen for speed, since every byte
 * a try streams (a vendor file, an extract) goes through it: about 5 GB/s here, SHA-256 0.9-1.7. */
#ifndef UB_CHASH_H
#define UB_CHASH_H
#include <stddef.h>

#define UB_CHASH_HEX 32

typedef struct ub_chash ub_chash;

/* A hash of nothing yet; NULL when out of memory.  Free with ub_chash_free. */
ub_chash *ub_chash_new(void);
void      ub_chash_update(ub_chash *h, const void *p, size_t n);
/* The hex hash of everything given so far (the state goes on). */
void      ub_chash_hex(const ub_chash *h, char out[UB_CHASH_HEX + 1]);
void      ub_chash_free(ub_chash *h);
/* The hex hash of n bytes at p. */
void      ub_chash_mem(const void *p, size_t n, char out[UB_CHASH_HEX + 1]);

#endif
