/* err.h — a plain error message passed down by the caller.
 *
 * Functions that can fail take `ub_err *err`, return -1 (or NULL) and fill
 * err->msg with one line that names the thing that failed ("lake key
 * 'raw/x.csv': No such file or directory").  Messages follow git's rules:
 * lowercase start, no final full stop, the failing item in quotes.
 */
#ifndef UB_ERR_H
#define UB_ERR_H

typedef struct ub_err {
    char msg[1024];
} ub_err;

/* Sets the message (printf-style) and returns -1. */
int ub_err_set(ub_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the existing message: "<prefix>: <old message>"; returns -1. */
int ub_err_wrap(ub_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "out of memory" */
int ub_err_oom(ub_err *e);

#endif
