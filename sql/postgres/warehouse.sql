-- warehouse.sql (postgres) — the local warehouse stand-in: spectrum.* as LIST-partitioned tables, and the metric.
-- Idempotent; runs inside one transaction (the op supplies BEGIN/COMMIT).  The ds partitions of the two
-- spectrum tables are created and (re)loaded by the pipeline, one per insert_date.
CREATE SCHEMA IF NOT EXISTS spectrum;

CREATE TABLE IF NOT EXISTS spectrum.user_purchase_staging (
    invoice_number varchar(10),
    stock_code     varchar(20),
    detail         varchar(1000),
    quantity       int,
    invoice_date   timestamp,
    unit_price     numeric(8,3),
    customer_id    int,
    country        varchar(20),
    insert_date    date
) PARTITION BY LIST (insert_date);

CREATE TABLE IF NOT EXISTS spectrum.classified_movie_review (
    cid             varchar(100),
    positive_review boolean,
    insert_date     date
) PARTITION BY LIST (insert_date);

CREATE TABLE IF NOT EXISTS public.user_behavior_metric (
    customerid   int,
    amount_spent decimal(18,5),
    review_score int,
    review_count int,
    insert_date  date
);
CREATE INDEX IF NOT EXISTS user_behavior_metric_insert_date
    ON public.user_behavior_metric (insert_date);
