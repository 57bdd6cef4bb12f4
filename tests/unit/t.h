/* t.h — the unit-test harness: each tests/unit/test_*.c is one program.
 *
 *   T_CHECK(cond)             records a failure with file:line if !cond
 *   T_STREQ(got, want)        string equality, prints both on failure
 *   T_INTEQ(got, want)
 *   return t_done("name");    prints "name: N passed, N failed", exit status
 *
 * Paths to repository data: t_path("tests/data/x") resolves against
 * UB_SRCDIR (default ".", make runs tests from the repository root).
 */
#ifndef UB_T_H
#define UB_T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define T_CHECK(c) do { if (c) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
#define T_STREQ(got, want) do { const char *g_ = (got), *w_ = (want); \
    if (g_ && w_ && strcmp(g_, w_) == 0) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: %s\n  got:  [%s]\n  want: [%s]\n", __FILE__, __LINE__, \
            #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } } while (0)
#define T_INTEQ(got, want) do { long long g_ = (long long)(got), w_ = (long long)(want); \
    if (g_ == w_) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_); } } while (0)

static inline int t_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

static inline const char *t_path(const char *rel)
{
    static char buf[4][4096];
    static int i;
    const char *root = getenv("UB_SRCDIR");
    char *b = buf[i++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", root && *root ? root : ".", rel);
    return b;
}
#endif
