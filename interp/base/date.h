/* date.h — calendar dates (ds) and durations. */
#ifndef UB_DATE_H
#define UB_DATE_H
#include "base/err.h"

typedef struct ub_date { int y, m, d; } ub_date;

/* Parses "YYYY-MM-DD" that names a real proleptic-Gregorian day (years
 * 1000–9999).  -1 with a plain reason in err otherwise. */
int  ub_date_parse(const char *s, ub_date *out, ub_err *err);
/* Days since 1970-01-01 and back. */
long ub_date_to_days(ub_date d);
ub_date ub_date_from_days(long days);
ub_date ub_date_add(ub_date d, long days);
/* Writes "YYYY-MM-DD" (11 bytes with NUL) or "YYYYMMDD" (nodash). */
void ub_date_format(ub_date d, int nodash, char out[11]);
/* Yesterday in UTC, the default ds of a daily batch. */
ub_date ub_date_yesterday_utc(void);

/* Seconds since the epoch (wall clock) and of a monotonic clock, as doubles. */
double ub_now(void);
double ub_mono(void);

/* Parses a duration: an integer number of seconds, or a sequence of
 * <number><unit> with units ms, s, m, h, d ("90s", "1h30m"); a number is
 * digits with an optional fraction ("1.5h").  Result in seconds. */
int ub_duration_parse(const char *s, double *secs, ub_err *err);
/* The longest duration accepted: 3650 days. */
#define UB_DURATION_MAX (3650.0 * 86400)

#endif
