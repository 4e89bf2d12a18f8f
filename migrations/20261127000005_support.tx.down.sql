DROP FUNCTION IF EXISTS atrium_support_workspaces(timestamptz);
DROP TRIGGER IF EXISTS usage_hourly_monthly_delete ON usage_hourly;
DROP TRIGGER IF EXISTS usage_hourly_monthly_update ON usage_hourly;
DROP TRIGGER IF EXISTS usage_hourly_monthly_insert ON usage_hourly;
DROP FUNCTION IF EXISTS atrium_usage_monthly_sync();
DROP TABLE IF EXISTS usage_monthly;
DROP INDEX IF EXISTS usage_hourly_hour_idx;
