/* fz.h — small helpers shared by the libFuzzer targets in tests/fuzz. */
#ifndef UB_FZ_H
#define UB_FZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the whole process (made once, under TMPDIR). */
static inline const char *fz_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ubfuzz.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Writes n bytes to path (replacing it); aborts on failure (not a finding). */
static inline void fz_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f))
        abort();
}

/* A NUL-terminated copy of the input; the caller frees it. */
static inline char *fz_str(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Splits s at the first byte c: s keeps the head, the tail is returned
 * (points to "" when c is absent). */
static inline char *fz_cut(char *s, char c)
{
    char *q = strchr(s, c);
    if (!q)
        return s + strlen(s);
    *q = '\0';
    return q + 1;
}
#endif
