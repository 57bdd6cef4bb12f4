/* secret.h — the strings that must never be printed (passwords, keys, tokens), and
 * their masking.  Every file ubpipe writes and everything it prints passes through
 * ub_secret_mask.  Process-wide; not thread-safe (register before starting threads). */
#ifndef UB_SECRET_H
#define UB_SECRET_H
#include "base/buf.h"

/* Secrets (secret.c): every registered string is replaced by "****" in what
 * ub_secret_mask returns. */
void ub_secret_add(const char *s);
void ub_secret_add_conninfo(const char *dsn);
void ub_secret_scan_env(void);
/* Appends s to out with secrets masked. */
void ub_secret_mask(const char *s, ub_buf *out);
void ub_secret_reset(void);

#endif
