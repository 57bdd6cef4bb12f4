-- extract_user_purchase.sql — the purchases snapshot as of the end of ds (pg.extract wraps it in COPY … TO STDOUT).
-- As-of, not "everything": a backfill of an old ds sees only the rows that existed by the end of that day,
-- so re-running any date gives the same extract.  No ORDER BY: the extract streams in table order.
SELECT invoice_number,
       stock_code,
       detail,
       quantity,
       invoice_date,
       unit_price,
       customer_id,
       country
  FROM retail.user_purchase
 WHERE invoice_date < {{ sql.literal(macros.ds_add(ds, 1)) }}
