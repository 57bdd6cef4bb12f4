SELECT g, 1 / (3000 - g) AS boom FROM generate_series(1, 5000) AS g
