DROP INDEX login_failures_at_idx;
DROP INDEX mail_outbox_sent_idx;
DROP INDEX invitations_expired_idx;
DROP TRIGGER usage_hourly_daily_delete ON usage_hourly;
CREATE TRIGGER usage_hourly_daily_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.api_calls <> 0 OR OLD.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_daily_sync();
DROP TRIGGER usage_hourly_monthly_delete ON usage_hourly;
CREATE TRIGGER usage_hourly_monthly_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_monthly_sync();
DROP FUNCTION atrium_retention_workspaces(timestamptz, timestamptz, integer);
