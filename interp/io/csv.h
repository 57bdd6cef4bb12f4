/* csv.h — streaming RFC 4180 CSV reader over a ub_reader, and a field writer.
 *
 * Grammar (RFC 4180, with these decisions):
 *   - fields are separated by ',' and records end with LF or CRLF;
 *   - a lone CR (not followed by LF) outside quotes is ordinary data, even at
 *     the end of the file;
 *   - a quoted field may hold ',', CR, LF and doubled quotes ("" -> ");
 *   - backslash is an ordinary character;
 *   - a UTF-8 BOM at offset 0 is skipped;
 *   - a final record without a line end is accepted; a blank line (nothing
 *     between two line ends, anywhere in the file) is not a record, so a file
 *     ending in an empty line has no extra record;
 *   - nothing is trimmed: " a " is the field " a ".
 * Errors ("NAME:LINE: ..." where NAME is the reader's name and LINE a
 * 1-based physical line; a quoted newline moves the count on):
 *   - "quote inside unquoted field 2" (unless opts.bare_quotes), LINE of the quote;
 *   - "text after closing quote of field 1", LINE of that text;
 *   - "unterminated quoted field 2 (quote opened on this line)", LINE where
 *     the field opened;
 *   - with ub_csv_expect_fields(c, n): "record has 3 fields, expected 2
 *     (header)", LINE where the record starts;
 *   - "record longer than N bytes" (opts.max_record), LINE where it starts.
 *
 * Fields are (pointer, length) slices into the reader's buffer, valid until
 * the next ub_csv_next or ub_csv_free; they are not NUL-terminated.  The
 * buffer grows only to hold the largest record seen.
 */
#ifndef UB_CSV_H
#define UB_CSV_H
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "base/err.h"
#include "io/stream.h"

#define UB_CSV_MAX_RECORD ((size_t)64 << 20)   /* default cap per record */

typedef struct ub_csv_field {
    const char *p;
    size_t      n;
} ub_csv_field;

typedef struct ub_csv_opts {
    size_t max_record;   /* bytes per record; 0 = UB_CSV_MAX_RECORD */
    int    bare_quotes;  /* 1: a '"' inside an unquoted field is data (as
                            Python's csv module reads it); 0: an error */
} ub_csv_opts;

typedef struct ub_csv ub_csv;

/* Reads from in, which stays the caller's (ub_csv_free does not close it).
 * opts may be NULL for the defaults. */
ub_csv *ub_csv_open(ub_reader *in, const ub_csv_opts *opts, ub_err *err);
void    ub_csv_free(ub_csv *c);

/* Next record: returns its number of fields (>= 1), 0 at the end of the
 * input, -1 on error (err filled; the reader is then unusable). */
int ub_csv_next(ub_csv *c, ub_err *err);

/* The current record's fields (valid until the next call). */
const ub_csv_field *ub_csv_fields(const ub_csv *c);
/* 1-based physical line where the current record starts. */
uint64_t ub_csv_line(const ub_csv *c);
/* Bytes read from the input so far (BOM included). */
uint64_t ub_csv_bytes(const ub_csv *c);
/* From now on every record must have exactly n fields (0: any number);
 * the error says "expected n (header)". */
void ub_csv_expect_fields(ub_csv *c, size_t n);

/* Appends s as one CSV field to b, quoted (with doubled quotes) when it holds
 * ',', '"', CR or LF.  Returns 0, or -1 when b is in error. */
int ub_csv_put_field(ub_buf *b, const char *s, size_t n);

#endif
