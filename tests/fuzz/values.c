/* values.c — fuzz target: the small value parsers fed by specs and the CLI:
 * lake keys, dates, durations (each parser gets the same bytes). */
#include "fz.h"
#include "base/date.h"
#include "lake/lake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_str(data, size);
    ub_err err = { 0 };
    (void)ub_lake_key_check(s, &err);
    ub_date d;
    if (ub_date_parse(s, &d, &err) == 0) {
        char out[11];
        ub_date_format(d, 0, out);
        ub_date rt;
        if (ub_date_parse(out, &rt, &err) != 0 || ub_date_to_days(rt) != ub_date_to_days(d))
            abort();             /* a date that parses formats back to itself */
        (void)ub_date_add(d, 1);
    }
    double secs;
    if (ub_duration_parse(s, &secs, &err) == 0 && !(secs >= 0 && secs <= UB_DURATION_MAX))
        abort();                 /* durations are never negative, NaN, infinite or too long */
    free(s);
    return 0;
}
