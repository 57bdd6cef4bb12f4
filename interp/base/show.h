/* show.h — text made safe to print on a terminal.
 *
 * Text from files, parameters, data, logs and error messages can hold bytes
 * that a terminal obeys instead of showing: ESC sequences (colours, cursor
 * moves, window titles, clearing the screen), other C0 controls, DEL, the C1
 * controls (8-bit CSI is 0x9B), a lone CR that lets later text overwrite a
 * line.  Everything ubpipe prints from such sources goes through ub_show:
 * newline and tab are kept, CR only right before a newline; every other
 * control byte, each byte of a C1 control (U+0080..U+009F, C2 80..C2 9F), and
 * each byte that is not part of valid UTF-8 is shown as the four characters
 * \xNN (upper-case hex) — ESC [ 3 1 m reads \x1B[31m.  That is the notation
 * JSON text uses for invalid bytes too (base/jtext.h), so the same bytes read
 * the same on the screen, in the journal and in `ubpipe status`.
 *
 * It applies whether or not the output is a terminal: `ubpipe logs > f` and a
 * later `cat f`, or a CI log viewer, would obey the bytes as well.  The log
 * files themselves keep the raw bytes.
 */
#ifndef UB_SHOW_H
#define UB_SHOW_H
#include <stdio.h>
#include <stddef.h>
#include "base/buf.h"

/* Appends p[0..n) to out made safe as above; -1 when out is in error. */
int ub_show(ub_buf *out, const char *p, size_t n);
/* The same for a stream read in chunks: appends what can be decided and
 * returns how many bytes of p it used; the rest (at most 3 bytes: the start
 * of a UTF-8 sequence or a CR, which the next chunk decides) is for the next
 * call, with final = 1 at the end. */
size_t ub_show_chunk(ub_buf *out, const char *p, size_t n, int final);
/* The display width of p[0..n) once shown (the number of characters ub_show
 * makes of it; a tab counts 1): for caret lines. */
size_t ub_show_width(const char *p, size_t n);
/* fputs / fwrite of s made safe. */
void ub_show_fputs(const char *s, FILE *f);
void ub_show_fwrite(const char *p, size_t n, FILE *f);

#endif
