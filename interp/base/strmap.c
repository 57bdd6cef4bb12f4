/* strmap.c — open-addressing string map for ids and keys. */
#include "base/strmap.h"
#include "base/mem.h"
#include <stdint.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;          /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int grow(ub_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    const char **keys = ub_calloc(cap, sizeof *keys);
    size_t *vals = ub_calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        ub_free(keys);
        ub_free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash(m->keys[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    ub_free(m->keys);
    ub_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int ub_strmap_put(ub_strmap *m, const char *key, size_t val, size_t *old)
{
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return -1;
    size_t j = hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            if (old)
                *old = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return 0;
}

int ub_strmap_get(const ub_strmap *m, const char *key, size_t *val)
{
    if (!m->cap)
        return 0;
    size_t j = hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            if (val)
                *val = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

void ub_strmap_free(ub_strmap *m)
{
    ub_free(m->keys);
    ub_free(m->vals);
    memset(m, 0, sizeof *m);
}
