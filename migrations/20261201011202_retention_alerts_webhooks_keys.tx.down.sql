DROP INDEX api_key_usage_hourly_hour_idx;
DROP INDEX webhook_events_created_at_idx;
DROP INDEX webhook_deliveries_finished_idx;
DROP INDEX quota_alerts_period_idx;
REVOKE DELETE ON quota_alerts FROM atrium_app;
DROP FUNCTION atrium_retention_event_workspaces(timestamptz, timestamptz, timestamptz, integer);
