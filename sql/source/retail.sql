-- retail.sql — the source OLTP schema: retail.user_purchase, as in the original project.
-- Idempotent: scripts/stack.sh runs it on every start.
CREATE SCHEMA IF NOT EXISTS retail;

CREATE TABLE IF NOT EXISTS retail.user_purchase (
    invoice_number varchar(10),
    stock_code     varchar(20),
    detail         varchar(1000),
    quantity       int,
    invoice_date   timestamp,
    unit_price     numeric(8,3),
    customer_id    int,
    country        varchar(20)
);
