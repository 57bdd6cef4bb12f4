-- part_setup.sql — the partitioned tables of part.yaml, named as only quoting allows
CREATE SCHEMA IF NOT EXISTS qp;
CREATE TABLE IF NOT EXISTS qp."Odd ""Table""" (id int, name text, "Load ""Day""" date NOT NULL)
  PARTITION BY LIST ("Load ""Day""");
CREATE TABLE IF NOT EXISTS qp."Orders" (id int, name text, "order" date NOT NULL) PARTITION BY LIST ("order");
