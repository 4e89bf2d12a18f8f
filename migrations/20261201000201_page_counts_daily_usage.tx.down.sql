DROP TABLE IF EXISTS usage_daily;
DROP FUNCTION IF EXISTS atrium_usage_daily_sync() CASCADE;
DROP INDEX IF EXISTS tasks_running_idx;
