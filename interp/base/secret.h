/* secret.h — the strings that must never be printed (passwords, keys, tokens), and
 * their masking.  Every file ubpipe writes and everything it prints passes through
 * ub_secret_mask (JSON it writes through ub_secret_mask_json).  Process-wide; not
 * thread-safe (register before starting threads). */
#ifndef UB_SECRET_H
#define UB_SECRET_H
#include "base/buf.h"
#include <jansson.h>

/* Secrets (secret.c): every registered string is replaced by "****" in what
 * ub_secret_mask returns — as written and in each encoding ubpipe's code may give
 * it: JSON-escaped, a SQL literal's body (' doubled; E'' with \ doubled), both of
 * those inside JSON, and percent-encoded (any bytes of it, either hex case, '+' for a
 * space).  Strings shorter than 3 bytes are not registered. */
void ub_secret_add(const char *s);
void ub_secret_add_conninfo(const char *dsn);
void ub_secret_scan_env(void);
/* Appends s to out with secrets masked. */
void ub_secret_mask(const char *s, ub_buf *out);
/* 1 when s holds a registered secret (in any of its forms). */
int  ub_secret_found(const char *s);
/* Masks every string value inside v, in place (object keys are names, left as
 * they are); returns the number of strings it changed. */
int  ub_secret_mask_json(json_t *v);
/* The secrets as registered (roots, without their encodings), and whether one of
 * them occurs in s in any form: for handing the ones a text needs to another
 * process that must mask what it writes (the local EMR runner). */
size_t      ub_secret_nroots(void);
const char *ub_secret_root(size_t i);
int         ub_secret_root_in(size_t i, const char *s);
void ub_secret_reset(void);

#endif
