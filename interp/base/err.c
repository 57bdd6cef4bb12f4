/* err.c — caller-owned error messages. */
#include "base/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ub_err_set(ub_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int ub_err_wrap(ub_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 2 < sizeof e->msg) {
        size_t room = sizeof e->msg - used - 2, ol = strlen(old);
        memcpy(e->msg + used, ": ", 2);
        if (ol > room - 1)
            ol = room - 1;
        memcpy(e->msg + used + 2, old, ol);
        e->msg[used + 2 + ol] = '\0';
    }
    return -1;
}

int ub_err_oom(ub_err *e) { return ub_err_set(e, "out of memory"); }
