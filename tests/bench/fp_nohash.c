/* fp_nohash.c — make bench only: LD_PRELOADed into a whole run of ubpipe, it turns
 * XXH3_128bits_update into a no-op, so the run does everything but feed bytes to the content hash
 * (io/chash.h): the hashes pg.extract and lake.put compute while they stream (io/hashread.c), which
 * is most of what fingerprinting costs a run.  The run with it against the run without it, side by
 * side, is the cost (tests/bench/run.sh).  Never part of ubpipe. */
#include <stddef.h>

typedef struct XXH3_state_s XXH3_state_t;
int XXH3_128bits_update(XXH3_state_t *state, const void *input, size_t length);

int XXH3_128bits_update(XXH3_state_t *state, const void *input, size_t length)
{
    (void)state;
    (void)input;
    (void)length;
    return 0;                          /* XXH_OK */
}
