CREATE TABLE IF NOT EXISTS public.badinput_setup (id int);
CREATE TABEL public.badinput_setup2 (id int);
