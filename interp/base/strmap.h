/* strmap.h — string → index hash map (open addressing, keys not copied). */
#ifndef UB_STRMAP_H
#define UB_STRMAP_H
#include <stddef.h>

typedef struct ub_strmap {
    const char **keys;     /* borrowed: must outlive the map */
    size_t *vals;
    size_t cap, n;
} ub_strmap;

/* 0 ok, -1 out of memory.  Existing key: *old (if non-NULL) gets its value
 * and 1 is returned without changing it. */
int  ub_strmap_put(ub_strmap *m, const char *key, size_t val, size_t *old);
/* 1 found (*val set), 0 missing */
int  ub_strmap_get(const ub_strmap *m, const char *key, size_t *val);
void ub_strmap_free(ub_strmap *m);

#endif
