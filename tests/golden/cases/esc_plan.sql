-- from a vendor: [31mred[0m and café
SELECT 1; -- {{ params.note }}
