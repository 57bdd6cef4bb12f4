/* jtext.h — any bytes as a JSON string, never dropped.
 *
 * jansson refuses a string that is not valid UTF-8 (json_string returns NULL,
 * json_pack fails as a whole), which silently dropped plan effects, journal
 * fields and a try's whole result.  Every text that reaches JSON (plan,
 * journal, the try→scheduler pipe, serve's API, lineage, fingerprints,
 * --log-format json) goes through ub_jtext instead.
 *
 * The notation: valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) is kept as it is; each byte that is not part of a
 * valid sequence, and a NUL byte, becomes the four characters \xNN (NN two
 * upper-case hex digits), e.g. "caf\xE9.csv" for Latin-1 "café.csv".  It is
 * the same notation the terminal shows (base/show.h), so a path reads the same
 * in `ubpipe status`, in the journal and on the screen.  The text is for
 * people: a literal backslash-x in valid text is not escaped, so the bytes
 * cannot always be recovered from it.
 */
#ifndef UB_JTEXT_H
#define UB_JTEXT_H
#include <jansson.h>
#include <stddef.h>
#include "base/buf.h"

/* The length of the longest prefix of p[0..n) that is valid UTF-8 without NUL. */
size_t ub_jtext_valid(const char *p, size_t n);
/* The length (1..4) of the valid UTF-8 sequence at p, or 0 when the byte at p
 * starts none (NUL counts as valid here: it is U+0000). */
size_t ub_jtext_seq(const unsigned char *p, size_t n);
/* Appends p[0..n) to out in the notation above; -1 when out is in error. */
int ub_jtext_fix(ub_buf *out, const char *p, size_t n);
/* A new JSON string of s (NULL is ""), fixed as above when needed: NULL only
 * when out of memory.  The caller owns the reference (json_object_set_new and
 * json_pack's "o" take it). */
json_t *ub_jtext(const char *s);
json_t *ub_jtextn(const char *p, size_t n);
/* json_dumps, with DEL and the C1 controls (U+007F..U+009F), which JSON may
 * carry raw, written as \u escapes, so a dump is safe to print to a terminal.
 * The caller frees the result with ub_free (NULL on failure). */
char *ub_jtext_dumps(const json_t *j, size_t flags);

#endif
