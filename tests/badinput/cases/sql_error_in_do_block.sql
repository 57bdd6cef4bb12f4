DO $$
BEGIN
  INSERT INTO public.user_behavior_metric (customerid) SELECT no_such_column;
END $$;
