/* classify.h — the movie-review classifier (Spark Tokenizer + StopWordsRemover semantics).
 *
 * Semantics (those of Spark ML's Tokenizer and StopWordsRemover): a review is
 * lower-cased, split on each single character of [ \t\n\x0B\f\r] with Java
 * String.split rules (empty tokens in the middle and at the start are kept,
 * trailing empty tokens are dropped, "" gives [""]), Spark's English stop
 * words are dropped case-insensitively, and positive_review = "good" is one
 * of the tokens.  An empty review is not positive.
 *
 * Lower-casing changes ASCII A-Z only.  Java's toLowerCase also maps other
 * code points, but none of them maps to g, o or d, and the only one that maps
 * to ASCII at all (U+212A KELVIN SIGN -> k) cannot make a stop word (no stop
 * word has a k), so both the stop-word decision and the result are the same
 * as Spark's; only the text of non-ASCII tokens handed out differs.
 *
 * The vendor CSV is read as io/csv.h describes, with bare_quotes on: a '"'
 * inside an unquoted field is data (tests/data/spark_csv_cases.jsonl,
 * 12748,5" screen is good -> the review `5" screen is good`).
 */
#ifndef UB_CLASSIFY_H
#define UB_CLASSIFY_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "io/stream.h"

/* Called for each kept token, in order; tok is lower-cased and valid only
 * during the call.  Return 0 to go on, non-zero to stop. */
typedef int (*ub_text_token_fn)(void *ctx, const char *tok, size_t n);

/* The general tokenizer: splits s, drops stop words and calls fn for each
 * remaining token.  Returns the number of calls made, or -1 when out of
 * memory (n must stay below INT_MAX). */
int ub_text_tokens(const char *s, size_t n, ub_text_token_fn fn, void *ctx);

/* 1 if tok (n bytes, any ASCII case) is one of Spark's English stop words. */
int ub_text_is_stopword(const char *tok, size_t n);

/* The fast path: 1 if "good" (any ASCII case) is a whitespace-delimited
 * token of review, else 0.  Equal to looking for "good" among the tokens of
 * ub_text_tokens, because "good" is not a stop word. */
int ub_classify_positive(const char *review, size_t n);

typedef struct ub_classify_stats {
    uint64_t rows;       /* data records classified */
    uint64_t positive;   /* of which positive */
    uint64_t bytes;      /* input bytes read */
} ub_classify_stats;

/* Reads CSV with a header (columns cid and review_str, matched
 * case-insensitively; other columns allowed; every record must have the
 * header's field count) and writes "cid,positive_review,insert_date" CSV
 * (LF line ends; cid as read, re-quoted when needed; true/false).  Neither
 * stream is closed or committed: the caller commits out on success and
 * aborts it on error.  st may be NULL. */
int ub_classify_stream(ub_reader *in, ub_writer *out, const char *insert_date,
                       ub_classify_stats *st, ub_err *err);

#endif
