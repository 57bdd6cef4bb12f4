-- hit.sql — one row per task (tests/e2e/test_setup_race.sh)
INSERT INTO race.hits VALUES (pg_backend_pid()::text, 1);
INSERT INTO race.seen VALUES (txid_current()::text);
