#!/usr/bin/env python3
# ref_metric.py — an independent reference computation of user_behavior_metric for one ds.
"""Compute the user behaviour metric for one ds with the Python standard library only.

This is a second, separately written implementation of DESIGN.md section 4, used to
check what ubpipe (C) and sql/generate_user_behavior_metric.sql produce.  It shares
no code with either.

  ref_metric.py --purchases P.csv --reviews movie_review.csv --ds 2021-04-30
                [--output OUT.csv] [--classified-out C.csv] [--stats]

Purchases: a CSV with the header of retail.user_purchase (the generated demo file or
the extract); rows with invoice_date < ds + 1 day count.  Reviews: the vendor file,
read as RFC 4180 (doubled quotes, quoted newlines, optional UTF-8 BOM); a record
whose field count differs from the header's is an error.

Classification follows Spark's Tokenizer + StopWordsRemover: lower-case, split on
each of [ \\t\\n\\x0B\\f\\r], drop the default English stop words (case-insensitive),
positive = 'good' among the tokens; an empty review is not positive.

A review cid matches a customer when, with spaces trimmed from both ends, it is a
decimal integer (optional sign, leading zeros allowed) within the int range.

Output: customerid,amount_spent,review_score,review_count sorted by customerid,
amount_spent with exactly 5 decimals as PostgreSQL prints DECIMAL(18,5).
"""
import argparse
import csv
import datetime
import decimal
import os
import re
import sys

PURCHASE_COLUMNS = ("invoice_number", "stock_code", "detail", "quantity",
                    "invoice_date", "unit_price", "customer_id", "country")
INT_MIN, INT_MAX = -2**31, 2**31 - 1
SPLIT = re.compile("[ \t\n\x0b\f\r]")
INTEGER = re.compile("[+-]?[0-9]+")          # ASCII digits only
FIVE = decimal.Decimal("0.00001")
DEFAULT_STOPWORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "..", "data", "spark_english_stopwords.txt")


class DataError(Exception):
    pass


def load_stopwords(path):
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                words.add(line.lower())
    if not words:
        raise DataError(f"no stop words in '{path}'")
    return words


def is_positive(review, stopwords):
    """Spark: Tokenizer (lower + split on \\s), StopWordsRemover, array_contains 'good'."""
    tokens = SPLIT.split(review.lower())
    kept = [t for t in tokens if t.lower() not in stopwords]
    return "good" in kept


def cid_key(cid):
    """The customer id a review cid joins on, or None when it joins nothing."""
    t = cid.strip(" ")
    if not INTEGER.fullmatch(t):
        return None
    v = int(t)
    if v < INT_MIN or v > INT_MAX:
        return None
    return v


def header_index(header, wanted, path):
    names = [h.strip().lower() for h in header]
    idx = {}
    for w in wanted:
        if w not in names:
            raise DataError(f"{path}:1: missing column '{w}' in header")
        idx[w] = names.index(w)
    return idx


def read_purchases(path, ds):
    """Sum quantity * unit_price per customer over rows before ds + 1 day."""
    cutoff = datetime.datetime.combine(ds + datetime.timedelta(days=1), datetime.time())
    amount = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        r = csv.reader(f, strict=True)
        try:
            header = next(r)
        except StopIteration:
            raise DataError(f"{path}: empty file")
        col = header_index(header, PURCHASE_COLUMNS, path)
        for row in r:
            where = f"{path}:{r.line_num}"
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, header has {len(header)}")
            try:
                when = datetime.datetime.fromisoformat(row[col["invoice_date"]])
            except ValueError:
                raise DataError(f"{where}: bad invoice_date '{row[col['invoice_date']]}'")
            if when >= cutoff:
                continue
            cust = row[col["customer_id"]]
            if cust == "":
                continue
            try:
                key = int(cust)
                value = int(row[col["quantity"]]) * decimal.Decimal(row[col["unit_price"]])
            except (ValueError, decimal.InvalidOperation):
                raise DataError(f"{where}: bad customer_id, quantity or unit_price")
            amount[key] = amount.get(key, decimal.Decimal(0)) + value
    return amount


def read_reviews(path, ds, stopwords, classified_out):
    """Count reviews and positive reviews per matching customer id."""
    counts = {}
    total = positive = 0
    writer = None
    if classified_out:
        writer = csv.writer(classified_out, lineterminator="\n")
        writer.writerow(["cid", "positive_review", "insert_date"])
    with open(path, encoding="utf-8-sig", newline="") as f:
        r = csv.reader(f, strict=True)
        try:
            header = next(r)
        except StopIteration:
            raise DataError(f"{path}: empty file")
        col = header_index(header, ("cid", "review_str"), path)
        for row in r:
            if len(row) != len(header):
                raise DataError(f"{path}:{r.line_num}: {len(row)} fields, header has {len(header)}")
            cid, review = row[col["cid"]], row[col["review_str"]]
            pos = is_positive(review, stopwords)
            total += 1
            positive += pos
            if writer:
                writer.writerow([cid, "true" if pos else "false", ds.isoformat()])
            key = cid_key(cid)
            if key is None:
                continue
            score, n = counts.get(key, (0, 0))
            counts[key] = (score + pos, n + 1)
    return counts, total, positive


def fmt_decimal5(d):
    q = d.quantize(FIVE)
    if q == 0:
        q = decimal.Decimal("0.00000")       # PostgreSQL never prints -0.00000
    return format(q, "f")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--purchases", required=True)
    ap.add_argument("--reviews", required=True)
    ap.add_argument("--ds", required=True)
    ap.add_argument("--output", default="-")
    ap.add_argument("--classified-out", help="also write cid,positive_review,insert_date")
    ap.add_argument("--stopwords", default=DEFAULT_STOPWORDS)
    ap.add_argument("--stats", action="store_true", help="print counts to stderr")
    a = ap.parse_args()

    csv.field_size_limit(1 << 30)
    try:
        ds = datetime.date.fromisoformat(a.ds)
    except ValueError:
        print(f"ref_metric: invalid ds '{a.ds}' (want YYYY-MM-DD)", file=sys.stderr)
        return 2
    try:
        stopwords = load_stopwords(a.stopwords)
        amount = read_purchases(a.purchases, ds)
        cls = open(a.classified_out, "w", encoding="utf-8", newline="") if a.classified_out else None
        try:
            counts, total, positive = read_reviews(a.reviews, ds, stopwords, cls)
        finally:
            if cls:
                cls.close()
    except (OSError, DataError, csv.Error, UnicodeDecodeError) as e:
        print(f"ref_metric: {e}", file=sys.stderr)
        return 1

    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8", newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["customerid", "amount_spent", "review_score", "review_count"])
    customers = sorted(set(amount) & set(counts))
    for c in customers:
        score, n = counts[c]
        w.writerow([c, fmt_decimal5(amount[c]), score, n])
    if out is not sys.stdout:
        out.close()
    if a.stats:
        share = 100.0 * positive / total if total else 0.0
        print(f"ref_metric: ds {ds}: {total} reviews, {positive} positive ({share:.1f}%), "
              f"{sum(n for _, n in counts.values())} with an integer cid, "
              f"{len(customers)} customers in the metric", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
