/* srcmap.h — where a byte of a rendered template file came from.
 *
 * While a file is rendered (ub_op_file_rendered), each piece of the output is
 * recorded: text copied from the file as it is (a literal piece, whose bytes are
 * the file's bytes) or the output of one {{ }} block.  A position in the
 * rendered text (a server's error position, say) then maps back to the file's
 * LINE:COL: exactly inside a literal piece, at the block otherwise. */
#ifndef UB_SRCMAP_H
#define UB_SRCMAP_H
#include "base/buf.h"
#include "base/mem.h"
#include <stddef.h>

typedef struct ub_srcmap ub_srcmap;

/* A new, empty map in arena a (owns it; nothing to free).  NULL when out of memory. */
ub_srcmap *ub_srcmap_new(ub_arena *a, const char *key, const char *disp);
/* The piece of output starting at rendered byte `out` comes from the file at line:col
 * (columns in characters); literal: copied as it is (else a block's output).
 * Pieces are added in order.  -1 when out of memory (the map then stays as it was). */
int ub_srcmap_add(ub_srcmap *m, size_t out, int line, int col, int literal);
/* The rendered text, once complete (arena-owned by the caller's arena, not copied). */
void ub_srcmap_done(ub_srcmap *m, const char *rendered, size_t len);
/* The map made for parameter key, or NULL (list: the most recent first). */
ub_srcmap *ub_srcmap_find(ub_srcmap *list, const char *key);
void ub_srcmap_link(ub_srcmap *m, ub_srcmap *next);
/* "FILE:LINE:COL" for the 1-based character `chr` of the rendered text into out
 * (with " (in the output of the {{ }} that starts there)" when it falls inside a
 * block's output), "FILE" alone for chr 0; -1 when chr is past the text. */
int ub_srcmap_where(const ub_srcmap *m, size_t chr, ub_buf *out);
/* The byte offset of the 1-based character chr of s (UTF-8 code points, as the
 * columns of a file count); (size_t)-1 when past the end. */
size_t ub_srcmap_char_offset(const char *s, size_t len, size_t chr);

#endif
