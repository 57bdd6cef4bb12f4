/* pgbin.h — CSV records into PostgreSQL's binary COPY format, exactly or not at all.
 *
 * A partition load spends most of the warehouse's time in COPY's CSV parse and the
 * columns' text input functions (int4in, numeric_in, timestamp_in, ...).  COPY ...
 * (FORMAT binary) skips both: each value arrives as the server stores it.  This reader
 * converts CSV into that format, but only the records whose every value the server's own
 * CSV path would store the same, byte for byte.  At the first record outside that set it
 * ends the binary stream (the records before it complete) and stops; ub_pgbin_rest then
 * gives the input's bytes from that record on, unchanged, for a second COPY in CSV
 * format, so the server reads everything ubpipe is not sure of itself, and every error
 * about the data is the server's own.
 *
 * What is converted (everything else stops the conversion at its record):
 *   - the records: fields separated by ',', each record ended by LF (or the end of the
 *     input); a field is either unquoted (no '"', CR or LF in it) or quoted from its first
 *     byte to a closing quote directly followed by ',' or the line end, with "" for a
 *     quote and CR and LF allowed inside; as many fields as columns; valid UTF-8 without
 *     NUL; a record does not start with the end-of-data marker "\." (RFC 4180 and COPY's
 *     CSV reader agree on exactly these records);
 *   - NULL: an unquoted empty field, as COPY's CSV default; not into a NOT NULL column;
 *   - text, varchar(n), char(n): the bytes (n counted in characters, at most n);
 *   - bool: t, f, true, false;
 *   - int2, int4, int8: an optional '-' and decimal digits, within the type's range;
 *   - numeric(p,s): an optional '-', digits, optionally '.' and digits; at most p - s
 *     digits before the point (leading zeros aside) and at most s after it (no rounding);
 *     unconstrained numeric: at most 1000 digits on either side;
 *   - date: YYYY-MM-DD, years 0001 to 9999, a real day of the (proleptic Gregorian) calendar;
 *   - timestamp (without time zone): YYYY-MM-DD HH:MM:SS with an optional '.' and one to
 *     six digits, hours 00-23, minutes and seconds 00-59.
 * The first record is the CSV header: checked as a record, not converted.  The input
 * (DateStyle ISO and client_encoding UTF8 on the session, as ub_pg_connect sets them)
 * reads the same either way: dates are written year first.
 *
 * Memory: one input buffer (it grows only to hold the longest record, up to
 * UB_PGBIN_MAX_RECORD; a longer record stops the conversion) and one output buffer of
 * about what the caller reads at a time.
 */
#ifndef UB_PGBIN_H
#define UB_PGBIN_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "io/stream.h"

#define UB_PGBIN_MAX_RECORD ((size_t)64 << 20)

typedef enum {
    UB_PGB_BOOL, UB_PGB_INT2, UB_PGB_INT4, UB_PGB_INT8, UB_PGB_TEXT, UB_PGB_NUMERIC, UB_PGB_DATE,
    UB_PGB_TIMESTAMP
} ub_pgbin_kind;

typedef struct ub_pgbin_col {
    ub_pgbin_kind kind;
    int32_t maxchars;   /* text: the most characters (varchar(n), char(n)); -1 none */
    int16_t prec, scale;/* numeric: p and s; prec -1 unconstrained */
    int notnull;
} ub_pgbin_col;

/* The conversion of a column of type typoid (pg_attribute.atttypid) and typmod
 * (atttypmod) into *col: 0, or -1 when the type is not one converted here. */
int ub_pgbin_col_of(uint32_t typoid, int32_t typmod, int notnull, ub_pgbin_col *col);

typedef struct ub_pgbin ub_pgbin;

/* A converter reading CSV from in (owned from here on, also on failure) for the n
 * columns cols (copied).  NULL, with err, when out of memory. */
ub_pgbin  *ub_pgbin_open(ub_reader *in, const ub_pgbin_col *cols, size_t n, ub_err *err);
/* The binary COPY stream (signature, tuples, trailer); belongs to b.  Read errors of the
 * input come through it. */
ub_reader *ub_pgbin_reader(ub_pgbin *b);
/* Once the binary stream has ended: NULL when every record was converted; else why the
 * conversion stopped, with *line the 1-based physical line where that record starts (1:
 * the header, which the rest then holds). */
const char *ub_pgbin_stopped(const ub_pgbin *b, uint64_t *line);
/* After a stop: the header record, then the input's bytes from the record it stopped at to
 * the end, as read (only those when the stop is at the header itself); belongs to b (its close
 * does nothing).  A COPY ... (FORMAT csv, HEADER true) of it reads those records in the state
 * it would have been in reading the whole input (the line ends the header set, the line
 * count). */
ub_reader *ub_pgbin_rest(ub_pgbin *b);
/* What to add to a line a COPY of the rest names to get the one a COPY of the whole input
 * would name: the stop line - 2, less the line feeds inside the header's quoted fields (which
 * the server does not count: it knows the line end only after the header); 0 for a stop at the
 * header or none. */
uint64_t   ub_pgbin_rest_offset(const ub_pgbin *b);
/* Records converted; bytes read from the input so far (through either reader). */
uint64_t   ub_pgbin_rows(const ub_pgbin *b);
uint64_t   ub_pgbin_in_bytes(const ub_pgbin *b);
void       ub_pgbin_free(ub_pgbin *b);

#endif
