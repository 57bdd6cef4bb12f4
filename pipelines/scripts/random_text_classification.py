# random_text_classification.py — the EMR (PySpark) movie review classifier: cid,review_str in, cid,positive_review,insert_date out.
"""Classify vendor movie reviews as positive when they hold the token 'good'.

spark-submit random_text_classification.py --input DIR --output DIR --run-id DS

Same answer as ubpipe's local classifier (DESIGN.md section 4):
* the vendor CSV is read as RFC 4180: a doubled quote is a quote, quoted fields may
  hold commas and line breaks (multiLine), and a malformed file fails the job
  (FAILFAST) instead of being silently mangled as Spark's defaults would;
* Tokenizer (lower-case, split on single whitespace characters) and
  StopWordsRemover with their defaults, as in the original job;
* positive_review = 'good' among the remaining tokens.  An empty or missing review
  becomes '' first, which the Tokenizer turns into [''], so it is not positive
  (the original job crashed on a null review).
"""
import argparse

from pyspark.ml.feature import StopWordsRemover, Tokenizer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def classify(input_loc, output_loc, run_id):
    spark = SparkSession.builder.appName("random_text_classification").getOrCreate()

    df_raw = (spark.read
              .option("header", True)
              .option("quote", '"')
              .option("escape", '"')
              .option("multiLine", True)
              .option("mode", "FAILFAST")
              .csv(input_loc))
    # a UTF-8 byte order mark must not become part of the first column's name
    df_raw = df_raw.toDF(*[c.lstrip("\ufeff") for c in df_raw.columns])

    df = df_raw.withColumn("review_str", F.coalesce(F.col("review_str"), F.lit("")))
    tokens = Tokenizer(inputCol="review_str", outputCol="review_token").transform(df)
    clean = StopWordsRemover(inputCol="review_token", outputCol="review_clean").transform(tokens)

    out = clean.select(
        F.col("cid"),
        F.array_contains(F.col("review_clean"), "good").alias("positive_review"),
        F.lit(run_id).alias("insert_date"),
    )
    (out.write
        .mode("overwrite")
        .option("header", True)
        .option("quote", '"')
        .option("escape", '"')
        .csv(output_loc))
    spark.stop()


def main():
    parser = argparse.ArgumentParser(description="classify movie reviews")
    parser.add_argument("--input", required=True, help="directory or file of vendor CSV")
    parser.add_argument("--output", required=True, help="output directory (overwritten)")
    parser.add_argument("--run-id", required=True, help="the ds, written as insert_date")
    args = parser.parse_args()
    classify(args.input, args.output, args.run_id)


if __name__ == "__main__":
    main()
