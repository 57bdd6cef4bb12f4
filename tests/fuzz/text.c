/* text.c — fuzz target: any bytes as JSON text (base/jtext.h), as terminal text
 * (base/show.h), and as an integer people write (ub_parse_dec).  Properties, not
 * just "no crash":
 *   - ub_jtextn never fails; its text is valid UTF-8, the input itself when that was
 *     valid, and survives a jansson dump and load unchanged;
 *   - ub_show leaves no byte a terminal obeys (C0 but \t \n and CR before LF, DEL,
 *     C1, invalid UTF-8), and shown in two chunks (split at the first byte's value)
 *     is the same as shown whole;
 *   - an integer ub_parse_dec accepts prints back as exactly its input. */
#include "fz.h"
#include "base/jtext.h"
#include "base/mem.h"
#include "base/parse.h"
#include "base/show.h"

static void check_shown(const ub_buf *b)
{
    const unsigned char *u = (const unsigned char *)ub_buf_str(b);
    for (size_t i = 0; i < b->len;) {
        unsigned c = u[i];
        if (c == '\r' && !(i + 1 < b->len && u[i + 1] == '\n'))
            abort();
        if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7F)
            abort();
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t l = ub_jtext_seq(u + i, b->len - i);
        if (!l || (c == 0xC2 && u[i + 1] < 0xA0))
            abort();                            /* invalid UTF-8 or a C1 control got through */
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    json_t *j = ub_jtextn(p, size);
    if (!j)
        abort();
    const char *v = json_string_value(j);
    size_t vl = json_string_length(j);
    if (ub_jtext_valid(v, vl) != vl)
        abort();
    if (ub_jtext_valid(p, size) == size && (vl != size || memcmp(v, p, size) != 0))
        abort();
    json_t *arr = json_array();
    json_array_append(arr, j);
    char *dumped = ub_jtext_dumps(arr, JSON_COMPACT);
    json_t *back = dumped ? json_loads(dumped, 0, NULL) : NULL;
    if (!back || !json_equal(back, arr))
        abort();
    json_decref(back);
    ub_free(dumped);
    json_decref(arr);
    json_decref(j);

    ub_buf whole = UB_BUF_INIT, parts = UB_BUF_INIT;
    ub_show(&whole, p, size);
    check_shown(&whole);
    size_t cut = size ? data[0] % (size + 1) : 0;
    char carry[8];
    size_t used = ub_show_chunk(&parts, p, cut, 0);
    size_t left = cut - used;
    if (left > 3)
        abort();                                /* at most an undecided sequence waits */
    memcpy(carry, p + used, left);
    ub_buf rest = UB_BUF_INIT;
    ub_buf_add(&rest, carry, left);
    ub_buf_add(&rest, p + cut, size - cut);
    if (ub_show_chunk(&parts, rest.p ? rest.p : "", rest.len, 1) != rest.len)
        abort();
    if (whole.len != parts.len || (whole.len && memcmp(whole.p, parts.p, whole.len) != 0))
        abort();
    if (ub_show_width(p, size) > whole.len)
        abort();
    ub_buf_free(&rest);
    ub_buf_free(&whole);
    ub_buf_free(&parts);

    char *s = fz_str(data, size);
    long long x;
    if (ub_parse_dec(s, -1000000, 1000000, &x, NULL) == 0) {
        char out[32];
        snprintf(out, sizeof out, "%lld", x);
        if (strcmp(out, s) != 0)
            abort();                            /* one way to write each accepted number */
    }
    free(s);
    return 0;
}
