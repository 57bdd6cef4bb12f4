/* classify_bench.c — times the built-in classifier on a file (for make bench). */
#include "io/classify.h"
#include "io/stream.h"
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: classify_bench IN OUT DS\n");
        return 2;
    }
    ub_err err;
    ub_classify_stats st = { 0 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ub_reader *r = ub_file_reader_open(argv[1], &err);
    ub_writer *w = r ? ub_file_writer_open(argv[2], UB_FW_MKDIRS, &err) : NULL;
    if (!r || !w || ub_classify_stream(r, w, argv[3], &st, &err) || ub_writer_commit(w, &err)) {
        fprintf(stderr, "classify_bench: %s\n", err.msg);
        return 1;
    }
    ub_reader_close(r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.6f %llu %llu %llu\n", s, (unsigned long long)st.bytes, (unsigned long long)st.rows,
           (unsigned long long)st.positive);
    return 0;
}
