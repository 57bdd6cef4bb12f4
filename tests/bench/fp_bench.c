/* fp_bench.c — what fingerprinting costs the tries of a run: the content hash (XXH3-128,
 * io/chash.h) of the bytes they stream (make bench, tests/bench/run.sh).  pg.extract hashes each
 * COPY row into 64 KiB blocks (one update per block), lake.put hashes its source through a reader;
 * this feeds a file
 * the same way and prints the seconds spent, the read of the file (from the page cache) included, so
 * the figure is an upper bound of the hashing alone.
 *   fp_bench rows FILE | fp_bench blocks FILE   ->  "SECONDS BYTES"
 */
#include <xxhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "rows") && strcmp(argv[1], "blocks"))) {
        fprintf(stderr, "usage: fp_bench rows|blocks FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    XXH3_state_t *md = XXH3_createState();
    unsigned long long bytes = 0;
    if (!f || !md || XXH3_128bits_reset(md) != XXH_OK) {
        perror(argv[2]);
        return 1;
    }
    double t0 = now();
    if (argv[1][0] == 'r') {
        /* as pg.extract does: rows (lines) gathered into 64 KiB blocks, one update per block */
        static char blk[1 << 16];
        size_t bl = 0;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            if (bl + (size_t)n > sizeof blk) {
                XXH3_128bits_update(md, blk, bl);
                bl = 0;
            }
            if ((size_t)n > sizeof blk) {
                XXH3_128bits_update(md, line, (size_t)n);
            } else {
                memcpy(blk + bl, line, (size_t)n);
                bl += (size_t)n;
            }
            bytes += (unsigned long long)n;
        }
        XXH3_128bits_update(md, blk, bl);
        free(line);
    } else {
        static char buf[1 << 16];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            XXH3_128bits_update(md, buf, n);
            bytes += n;
        }
    }
    XXH128_hash_t d = XXH3_128bits_digest(md);
    if (d.low64 == 42 && d.high64 == 42)
        putchar(' ');                 /* keeps the digest from being optimised away */
    double t1 = now();
    printf("%.4f %llu\n", t1 - t0, bytes);
    XXH3_freeState(md);
    fclose(f);
    return 0;
}
