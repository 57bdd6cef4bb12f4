CREATE TABLE IF NOT EXISTS public.badinput_setup (id int);
CREATE INDEX ON public.badinput_setup (no_such_column);
