-- the daily total
SELECT sum(amount)
  FROM sales WHERE day = {{ sql.literal(dss) }}
