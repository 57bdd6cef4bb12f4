-- generate_user_behavior_metric.sql — the user behaviour metric for ds; replaces the ds slice of the table.
--
-- The op runs this file in ONE transaction, so the DELETE and the INSERT land together: a run for ds
-- replaces exactly the ds slice, and running it twice leaves the same rows as running it once.
-- The same file runs on PostgreSQL (local profile) and Redshift (aws profile).
--
-- Semantics (DESIGN.md section 4), one row per customer with at least one purchase row in the ds
-- snapshot and at least one review in the ds review file:
--   amount_spent = SUM(quantity * unit_price) over the customer's purchase rows, DECIMAL(18,5)
--   review_score = number of the customer's reviews classified positive
--   review_count = number of the customer's reviews
--
-- Why each side is aggregated per customer BEFORE the join:
--   The original query joined purchase rows to review rows on the customer id and then summed. A
--   customer with n purchase rows and k reviews yields n * k joined rows, so SUM(quantity * unit_price)
--   came out k times too large, and the review sums n times too large (a customer with 4,642 purchase
--   rows and 39 reviews reported 181,038 reviews).  Reducing each side to one row per customer first
--   makes the join one-to-one, so every sum counts each purchase and each review exactly once.
--
-- Matching a review cid (a free-text vendor field) to customer_id (int):
--   the cid is trimmed of spaces; it matches only if it is then a decimal integer (an optional + or -
--   sign, ASCII digits, leading zeros allowed) within the int range.  Anything else (letters, '12345.0',
--   '99999999999', empty, NULL) matches nothing and raises no error: the nested CASEs guarantee that a
--   CAST is only ever evaluated on a string that is an optional sign, leading zeros and at most 10
--   significant digits, which every engine converts to BIGINT without error.  Purchases without a customer id never match.
--   Redshift: BTRIM, CAST and the POSIX operator ~ (with {m,n} bounds) are documented there; this
--   file has been run on PostgreSQL 15 only.

DELETE FROM public.user_behavior_metric
 WHERE insert_date = CAST({{ sql.literal(ds) }} AS DATE);

INSERT INTO public.user_behavior_metric
       (customerid, amount_spent, review_score, review_count, insert_date)
SELECT p.customerid,
       p.amount_spent,
       r.review_score,
       r.review_count,
       CAST({{ sql.literal(ds) }} AS DATE)
  FROM (SELECT customer_id AS customerid,
               CAST(SUM(quantity * unit_price) AS DECIMAL(18,5)) AS amount_spent
          FROM spectrum.user_purchase_staging
         WHERE insert_date = CAST({{ sql.literal(ds) }} AS DATE)
           AND customer_id IS NOT NULL
         GROUP BY customer_id) AS p
  JOIN (SELECT cid_int AS customerid,
               CAST(SUM(positive) AS INT) AS review_score,
               CAST(SUM(reviews) AS INT) AS review_count
          FROM (SELECT positive,
                       reviews,
                       CASE WHEN t ~ '^[+-]?0*[0-9]{1,10}$'
                            THEN CASE WHEN CAST(t AS BIGINT) BETWEEN -2147483648 AND 2147483647
                                      THEN CAST(CAST(t AS BIGINT) AS INT)
                                 END
                       END AS cid_int
                  -- one row per distinct trimmed cid first: the parsing above then runs on a
                  -- few thousand values, not on every review
                  FROM (SELECT BTRIM(cid) AS t,
                               SUM(CASE WHEN positive_review THEN 1 ELSE 0 END) AS positive,
                               COUNT(*) AS reviews
                          FROM spectrum.classified_movie_review
                         WHERE insert_date = CAST({{ sql.literal(ds) }} AS DATE)
                         GROUP BY BTRIM(cid)
                       ) AS per_cid
               ) AS typed
         -- no "WHERE cid_int IS NOT NULL": the planner would push it down into the scan, running
         -- the parsing on every review again; the group of the cids that are no integer (NULL)
         -- matches no customer in the join below, which drops it
         GROUP BY cid_int) AS r
    ON r.customerid = p.customerid;
