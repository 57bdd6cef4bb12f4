SELECT 'a;b' AS "c;d";  -- a ';' in a literal, an identifier and a comment
/* the server gives no position for this one: the start of the statement is named */
CREATE INDEX ON public.user_behavior_metric (no_such_column);
