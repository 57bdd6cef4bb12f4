-- setup.sql — idempotent DDL shared by the eight tasks of race.yaml (tests/e2e/test_setup_race.sh)
CREATE SCHEMA IF NOT EXISTS race;
CREATE TABLE IF NOT EXISTS race.hits (task text, n int);
CREATE TABLE IF NOT EXISTS race.seen (task text PRIMARY KEY);
CREATE INDEX IF NOT EXISTS hits_task ON race.hits (task);
CREATE OR REPLACE VIEW race.summary AS SELECT count(*) AS n FROM race.hits;
