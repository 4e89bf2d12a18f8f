-- Retention: a background job (models.RunRetention) deletes rows nothing reads any more, in
-- bounded batches. The tenant tables among them (usage_hourly, invitations) are deleted from
-- inside each workspace's own transaction, under row-level security as ever; this function only
-- names the workspaces that have such rows, and nothing else.
CREATE FUNCTION atrium_retention_workspaces(p_hour_before timestamptz, p_invitation_before timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.workspace_id FROM (
    SELECT DISTINCT workspace_id FROM usage_hourly WHERE hour < p_hour_before
    UNION
    SELECT DISTINCT workspace_id FROM invitations WHERE accepted_at IS NULL AND expires_at < p_invitation_before
  ) AS w ORDER BY w.workspace_id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_retention_workspaces(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_retention_workspaces(timestamptz, timestamptz, integer) TO atrium_app;

-- The pages read old days from the daily and monthly rollups, so pruning old hourly rows must not
-- take them out of the rollups: the delete triggers stand aside in a transaction that says it is
-- pruning (set_config('atrium.retention', 'on', true), transaction-local). Any other delete of an
-- hourly row (a workspace's deletion) keeps the rollups in step as before.
DROP TRIGGER usage_hourly_monthly_delete ON usage_hourly;
CREATE TRIGGER usage_hourly_monthly_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.agent_minutes <> 0 AND current_setting('atrium.retention', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION atrium_usage_monthly_sync();
DROP TRIGGER usage_hourly_daily_delete ON usage_hourly;
CREATE TRIGGER usage_hourly_daily_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN ((OLD.api_calls <> 0 OR OLD.agent_minutes <> 0) AND current_setting('atrium.retention', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION atrium_usage_daily_sync();

-- The sweeps' lookups: expired invitations by expiry, delivered mail by when it went.
CREATE INDEX invitations_expired_idx ON invitations (expires_at) WHERE accepted_at IS NULL;
CREATE INDEX mail_outbox_sent_idx ON mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX login_failures_at_idx ON login_failures (at);
