/* hashread.h — a reader that passes another through and computes the
 * content hash (io/chash.h) of what went by, so a streamed file's content
 * hash costs no extra read (fingerprints, core/fingerprint.h). */
#ifndef UB_HASHREAD_H
#define UB_HASHREAD_H
#include "io/chash.h"
#include "io/stream.h"

/* Wraps in (taking ownership of it: closing the result closes in).  NULL
 * with err set on failure (in is closed then too). */
ub_reader *ub_chash_reader(ub_reader *in, ub_err *err);
/* The hex content hash of everything read so far, once the wrapped reader
 * has reached its end; -1 before the end (the hash would be of a prefix). */
int ub_chash_reader_hex(ub_reader *r, char out[UB_CHASH_HEX + 1]);

#endif
