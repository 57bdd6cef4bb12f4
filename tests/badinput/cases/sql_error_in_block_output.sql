-- the value a block rendered is the bad one
SELECT 1 + {{ sql.literal(ds) }}::int;
