#!/usr/bin/env python3
"""classify_baseline.py — the plain-script baseline for ubpipe's review classifier.

What a data engineer would write instead of ubpipe's built-in classifier, with the
same semantics and the same output bytes (see interp/io/classify.h):

  - input: RFC 4180 CSV with a header (Python's csv module, strict); columns cid and
    review_str found case-insensitively; every record must have the header's field
    count; blank lines are not records; a UTF-8 BOM is skipped;
  - review: lower-cased (ASCII A-Z), split on each of [ \\t\\n\\x0B\\f\\r] with Java
    String.split rules (trailing empty tokens dropped), Spark's English stop words
    removed, positive_review = "good" in the tokens;
  - output: cid,positive_review,insert_date with LF line ends, cid re-quoted when it
    holds , " CR or LF.

Known difference: a lone CR outside quotes is data for ubpipe but a line break for
Python's csv module (it then raises an error); generated bench data has none.

Usage: classify_baseline.py INPUT.csv OUTPUT.csv INSERT_DATE [STOPWORDS]
STOPWORDS defaults to interp/io/stopwords.h of this repository (or give Spark's
english.txt, one word a line).
"""
import csv
import os
import re
import sys

SPLIT = re.compile(r"[ \t\n\x0b\f\r]")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def load_stopwords(path):
    words = set()
    with open(path, encoding="utf-8") as f:
        if path.endswith(".h"):
            for line in f:
                m = re.match(r'^\s+"(.*)",$', line)
                if m:
                    words.add(m.group(1))
        else:
            for line in f:
                line = line.rstrip("\r\n")
                if line and not line.startswith("#"):
                    words.add(line.translate(ASCII_LOWER))
    if not words:
        sys.exit("classify_baseline.py: no stop words in %s" % path)
    return words


def tokens(review, stop):
    toks = SPLIT.split(review.translate(ASCII_LOWER))
    if review:                      # Java drops trailing empties ("" stays [""])
        while toks and toks[-1] == "":
            toks.pop()
    return [t for t in toks if t not in stop]


def quote(s):
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: classify_baseline.py INPUT.csv OUTPUT.csv INSERT_DATE [STOPWORDS]")
    src, dst, insert_date = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    stop = load_stopwords(sys.argv[4] if len(sys.argv) == 5 else
                          os.path.join(here, "..", "..", "interp", "io", "stopwords.h"))
    tail = "," + quote(insert_date) + "\n"
    rows = positive = 0
    with open(src, encoding="utf-8-sig", errors="surrogateescape", newline="") as fin, \
         open(dst, "w", encoding="utf-8", errors="surrogateescape", newline="") as fout:
        reader = csv.reader(fin, strict=True)
        prev_line = 0
        try:
            header = next(reader, None)
            if header is None:
                sys.exit("%s: empty input, expected a header with columns 'cid' and 'review_str'" % src)
            prev_line = reader.line_num
            names = [h.translate(ASCII_LOWER) for h in header]
            for col in ("cid", "review_str"):
                if names.count(col) != 1:
                    sys.exit("%s:1: header has %s column '%s'" %
                             (src, "no" if col not in names else "a duplicate", col))
            icid, irev, width = names.index("cid"), names.index("review_str"), len(header)
            fout.write("cid,positive_review,insert_date\n")
            for row in reader:
                start, prev_line = prev_line + 1, reader.line_num
                if not row:
                    continue                  # blank line
                if len(row) != width:
                    sys.exit("%s:%d: record has %d field%s, expected %d (header)" %
                             (src, start, len(row), "" if len(row) == 1 else "s", width))
                pos = "good" in tokens(row[irev], stop)
                rows += 1
                positive += pos
                fout.write(quote(row[icid]) + (",true" if pos else ",false") + tail)
        except csv.Error as e:
            sys.exit("%s:%d: %s" % (src, reader.line_num, e))
    print("classify_baseline: %d rows, %d positive" % (rows, positive), file=sys.stderr)


if __name__ == "__main__":
    main()
