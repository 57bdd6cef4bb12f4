-- setup.sql (redshift) — one-time admin setup of the Spectrum side: external schema and the two external tables.
--
-- Run once by an admin (a superuser or the external schema's owner), OUTSIDE a transaction (autocommit):
-- Redshift refuses CREATE EXTERNAL TABLE inside BEGIN … END.  Rendered by `ubpipe plan --profile aws`
-- or by hand: {{ … }} needs profile.warehouse.iam_role and params.bucket.
-- CREATE EXTERNAL TABLE has no IF NOT EXISTS in Redshift's documented syntax: a second run fails with
-- "already exists", which is harmless.  Do not DROP the tables to re-run: that forgets every partition.
--
-- Partitions are not created here.  For each ds the pipeline registers
--   ALTER TABLE spectrum.user_purchase_staging ADD IF NOT EXISTS PARTITION (insert_date='ds')
--     LOCATION 's3://BUCKET/stage/user_purchase/ds/'
--   ALTER TABLE spectrum.classified_movie_review ADD IF NOT EXISTS PARTITION (insert_date='ds')
--     LOCATION 's3://BUCKET/stage/movie_review/ds/'
--
-- What is verified and what is not (no Redshift cluster was available):
--   verified:   the statement shapes follow the Redshift CREATE EXTERNAL SCHEMA / CREATE EXTERNAL TABLE
--               documentation (PARTITIONED BY, ROW FORMAT SERDE … WITH SERDEPROPERTIES, STORED AS
--               TEXTFILE, LOCATION, TABLE PROPERTIES 'skip.header.line.count').  Column names and types
--               are the ones sql/postgres/warehouse.sql uses locally, where the metric SQL is tested.
--   not verified:
--   * that OpenCSVSerde reads RFC 4180 exactly as PostgreSQL's COPY … CSV and Spark's writer (escape
--     and quote both '"') write it: doubled quotes inside quoted fields (descriptions such as
--     "FRAME 7""X5""") and quoted commas.  opencsv rejects an escapeChar equal to the quoteChar, so
--     it stays the backslash written as in AWS's own examples; a backslash in the data would then act
--     as an escape (the demo data holds none).  A plain ROW FORMAT DELIMITED table would split quoted commas
--     and shift columns, which is why the SerDe is used.  Quoted newlines would break rows (text files
--     are split on lines); the purchase and classified files hold none.
--   * how Spectrum converts OpenCSVSerde's strings to int, numeric(8,3), timestamp ('YYYY-MM-DD
--     HH:MM:SS'), date and boolean ('true'/'false'), and whether an empty customer_id reads as NULL with
--     'serialization.null.format' = ''.
--   * that Spectrum reads the purchase object if it is compressed: keep it uncompressed (or in a
--     compression Spectrum lists) on the aws profile.
--   * that the third column of the classified files (insert_date, written by the Spark job) is ignored
--     because insert_date is the partition column and not a data column; Spark's _SUCCESS marker is
--     ignored because Spectrum skips files whose names start with '_' or '.'.

CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum
FROM DATA CATALOG
DATABASE 'spectrumdb'
IAM_ROLE {{ sql.literal(profile.warehouse.iam_role) }}
CREATE EXTERNAL DATABASE IF NOT EXISTS;

CREATE EXTERNAL TABLE spectrum.user_purchase_staging (
    invoice_number varchar(10),
    stock_code     varchar(20),
    detail         varchar(1000),
    quantity       int,
    invoice_date   timestamp,
    unit_price     decimal(8,3),
    customer_id    int,
    country        varchar(20)
)
PARTITIONED BY (insert_date date)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"', 'escapeChar' = '\\')
STORED AS TEXTFILE
LOCATION 's3://{{ params.bucket }}/stage/user_purchase/'
TABLE PROPERTIES ('skip.header.line.count' = '1', 'serialization.null.format' = '');

CREATE EXTERNAL TABLE spectrum.classified_movie_review (
    cid             varchar(100),
    positive_review boolean
)
PARTITIONED BY (insert_date date)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"', 'escapeChar' = '\\')
STORED AS TEXTFILE
LOCATION 's3://{{ params.bucket }}/stage/movie_review/'
TABLE PROPERTIES ('skip.header.line.count' = '1', 'serialization.null.format' = '');
