-- warehouse.sql (redshift) — what runs in-transaction on Redshift: the metric table.
-- The spectrum.* external tables cannot be created inside a transaction; an admin creates them once
-- with sql/redshift/setup.sql.  Verified here: nothing (no Redshift cluster); the statement uses only
-- CREATE TABLE IF NOT EXISTS, which Redshift documents, and Redshift's DECIMAL(18,5)/INT/DATE types.
CREATE TABLE IF NOT EXISTS public.user_behavior_metric (
    customerid   int,
    amount_spent decimal(18,5),
    review_score int,
    review_count int,
    insert_date  date
)
SORTKEY (insert_date);
