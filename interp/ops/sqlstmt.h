/* sqlstmt.h — where the statements of a SQL text begin, the way PostgreSQL's lexer splits
 * them at ';' (not inside '...', E'...', "...", $tag$...$tag$, -- and nested block comments). */
#ifndef UB_SQLSTMT_H
#define UB_SQLSTMT_H
#include <stddef.h>

/* The 1-based character (UTF-8 code points) where the n-th statement (1-based) of sql
 * starts: its first character that is neither blank nor in a comment.  0 when sql has fewer
 * statements. */
size_t ub_sqlstmt_start(const char *sql, size_t n);

#endif
