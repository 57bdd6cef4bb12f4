/* diag.h — spec diagnostics: FILE:LINE:COL, the source line and a caret.
 *
 * Every error about a spec, a template or a file the spec names goes through
 * one ub_diag.  Errors are collected, sorted by location and printed by
 * ub_diag_flush, so a file gets all its errors at once (up to a cap).
 * Locations are 1-based.
 */
#ifndef UB_DIAG_H
#define UB_DIAG_H
#include <stdio.h>
#include <stddef.h>

typedef struct ub_loc {
    const char *file;      /* borrowed; ub_diag_error copies it */
    int line, col;         /* 1-based; 0 = unknown */
} ub_loc;

typedef struct ub_diag_msg ub_diag_msg;
typedef struct ub_diag_src ub_diag_src;

typedef struct ub_diag {
    ub_diag_msg *msgs;
    size_t n, cap;
    size_t max_print;      /* cap on printed errors (default 20) */
    ub_diag_src *srcs;     /* registered source texts, for the caret line */
} ub_diag;

void ub_diag_init(ub_diag *d);
void ub_diag_free(ub_diag *d);
/* Registers (a copy of) the text of file so errors can quote its lines. */
void ub_diag_source(ub_diag *d, const char *file, const char *text, size_t len);
void ub_diag_error(ub_diag *d, ub_loc loc, const char *fmt, ...)
     __attribute__((format(printf, 3, 4)));
size_t ub_diag_count(const ub_diag *d);
/* The place of the nth (0-based) of the non-overlapping occurrences of needle
 * that start at or after from, in the registered source of from.file: a
 * template error points at its block, not at the start of the string that
 * holds it.  from itself when there is no such source or occurrence. */
ub_loc ub_diag_seek(const ub_diag *d, ub_loc from, const char *needle, size_t nth);
/* Prints the collected errors to out, sorted by file, line, column (stable),
 * then forgets them.  Returns how many there were. */
size_t ub_diag_flush(ub_diag *d, FILE *out);

/* Levenshtein-based suggestion: the candidate closest to word, or NULL when
 * none is close enough. candidates is NULL-terminated. */
const char *ub_suggest(const char *word, const char *const *candidates);

#endif
