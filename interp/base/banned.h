/* banned.h — C library functions ubpipe does not use, made build errors (after git's banned.h).
 *
 *   strcpy, strcat, sprintf, vsprintf  no bound on the destination: snprintf, ub_buf_addf, ub_strdup
 *   strtok                             hidden state, writes into its argument: strchr, strtok_r
 *   atoi, atol, atoll                  no error for "", "12x" or an overflow: ub_parse_int (base/parse.h)
 *   gets                               no bound at all: fgets
 *
 * Every translation unit gets it first, through `-include interp/base/banned.h` in the
 * Makefile's CFLAGS.  Because it comes before any system header, it cannot use git's macros
 * (they would rewrite the declarations in <string.h>): it declares the functions again with an
 * attribute instead, which the system headers' own declarations then merge with.  A call is an
 * error at compile time ("'atoi' is unavailable: banned in ubpipe; use ub_parse_int"), at any
 * optimisation level and with _FORTIFY_SOURCE; a compiler without the `unavailable` attribute
 * (GCC < 12) warns instead, which DEV=1 turns into an error.  Nothing here needs a feature macro,
 * so a file may still define _GNU_SOURCE before its first include.
 */
#ifndef UB_BANNED_H
#define UB_BANNED_H
#include <stdarg.h>

#if defined(__has_attribute)
#if __has_attribute(__unavailable__)
#define UB_BANNED(use) __attribute__((__unavailable__("banned in ubpipe; use " use)))
#endif
#endif
#ifndef UB_BANNED
#define UB_BANNED(use) __attribute__((__deprecated__("banned in ubpipe; use " use)))
#endif

char *strcpy(char *, const char *) UB_BANNED("snprintf or ub_strdup");
char *strcat(char *, const char *) UB_BANNED("ub_buf_adds or snprintf");
int sprintf(char *, const char *, ...) UB_BANNED("snprintf or ub_buf_addf");
int vsprintf(char *, const char *, va_list) UB_BANNED("vsnprintf or ub_buf_vaddf");
char *strtok(char *, const char *) UB_BANNED("strchr or strtok_r");
int atoi(const char *) UB_BANNED("ub_parse_int");
long atol(const char *) UB_BANNED("ub_parse_int");
long long atoll(const char *) UB_BANNED("ub_parse_int");
char *gets(char *) UB_BANNED("fgets");

#endif
