-- Retention of the tables added since the sweep began: quota alerts, webhook events and their
-- deliveries, and the per-key hourly counters grew without bound. The hourly sweep (RunRetention)
-- now prunes them too, inside each workspace's own transaction; this function names the workspaces
-- with something to prune, as atrium_retention_workspaces does for the older tables. Each cutoff is
-- the caller's clock minus the retention (models/retention.go):
--   quota alerts whose period began before p_alert_before;
--   webhook deliveries that are finished (succeeded or given up, never pending) and whose last
--   attempt (or, never attempted, creation) was before p_delivery_before, and webhook events made
--   before it that have no delivery left;
--   per-key hourly counters of hours before p_key_hour_before.
CREATE FUNCTION atrium_retention_event_workspaces(p_alert_before timestamptz, p_delivery_before timestamptz,
  p_key_hour_before timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.workspace_id FROM (
    SELECT DISTINCT workspace_id FROM quota_alerts WHERE period_start < p_alert_before
    UNION
    SELECT DISTINCT workspace_id FROM webhook_deliveries
      WHERE status <> 'pending' AND coalesce(last_attempt_at, created_at) < p_delivery_before
    UNION
    SELECT DISTINCT e.workspace_id FROM webhook_events AS e
      WHERE e.created_at < p_delivery_before
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.workspace_id = e.workspace_id AND d.event_id = e.id)
    UNION
    SELECT DISTINCT workspace_id FROM api_key_usage_hourly WHERE hour < p_key_hour_before
  ) AS w ORDER BY w.workspace_id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_retention_event_workspaces(timestamptz, timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_retention_event_workspaces(timestamptz, timestamptz, timestamptz, integer) TO atrium_app;

-- The sweep deletes quota alerts (the runtime role could only add and mark them).
GRANT DELETE ON quota_alerts TO atrium_app;

-- The sweeps' lookups, across workspaces and within one.
CREATE INDEX quota_alerts_period_idx ON quota_alerts (period_start);
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries ((coalesce(last_attempt_at, created_at)))
  WHERE status <> 'pending';
CREATE INDEX webhook_events_created_at_idx ON webhook_events (created_at);
CREATE INDEX api_key_usage_hourly_hour_idx ON api_key_usage_hourly (hour);
