-- a metric whose SQL names a column that does not exist (übersicht: a character of two bytes)
DELETE FROM public.user_behavior_metric WHERE insert_date = {{ sql.literal(ds) }};
INSERT INTO public.user_behavior_metric (customerid, amount_spent)
SELECT 'é' || customer_id, foo
FROM spectrum.user_purchase_staging;
