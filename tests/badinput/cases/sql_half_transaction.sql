-- the first statement succeeds; the second fails: neither may stay
DELETE FROM public.user_behavior_metric WHERE insert_date = {{ sql.literal(ds) }};
INSERT INTO public.user_behavior_metric (customerid) VALUES ('not a number');
