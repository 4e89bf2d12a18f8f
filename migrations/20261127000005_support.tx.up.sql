-- The support console's table of all workspaces shows, and sorts by, each workspace's API calls
-- this hour and agent-minutes this month. Both must be cheap for every workspace at once.

-- This hour's row of every workspace: one index range instead of a scan of all hourly rows.
-- The metering upsert never changes `hour`, so its updates stay HOT-eligible.
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);

-- Agent-minutes per workspace and calendar month (UTC), kept by triggers on usage_hourly, so that
-- "this month" for 10,000 workspaces is 10,000 rows rather than millions of hourly ones. The
-- hourly rows stay the source of truth: the usage page and the quota checks read them.
CREATE TABLE usage_monthly (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  month         timestamptz NOT NULL CHECK (date_trunc('month', month, 'UTC') = month),
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, month)
);

-- The triggers fire only when agent_minutes moves (a task's completion), never for the API-call
-- increments on the hot path: an insert of a new hour by an API call carries 0 minutes, and its
-- upsert sets api_calls only, which an UPDATE OF agent_minutes trigger does not see.
CREATE FUNCTION atrium_usage_monthly_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    -- An UPDATE, never an insert: on a workspace's deletion the cascade reaches usage_hourly
    -- while the workspace row is already gone, and a new rollup row could not reference it.
    UPDATE usage_monthly SET agent_minutes = agent_minutes - OLD.agent_minutes
    WHERE workspace_id = OLD.workspace_id AND month = date_trunc('month', OLD.hour, 'UTC');
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_monthly AS m (workspace_id, month, agent_minutes)
    VALUES (NEW.workspace_id, date_trunc('month', NEW.hour, 'UTC'), NEW.agent_minutes)
    ON CONFLICT (workspace_id, month) DO UPDATE SET agent_minutes = m.agent_minutes + EXCLUDED.agent_minutes;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER usage_hourly_monthly_insert AFTER INSERT ON usage_hourly
  FOR EACH ROW WHEN (NEW.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_monthly_sync();
CREATE TRIGGER usage_hourly_monthly_update AFTER UPDATE OF agent_minutes, hour, workspace_id ON usage_hourly
  FOR EACH ROW WHEN (NEW.agent_minutes IS DISTINCT FROM OLD.agent_minutes OR NEW.hour IS DISTINCT FROM OLD.hour
                     OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id)
  EXECUTE FUNCTION atrium_usage_monthly_sync();
CREATE TRIGGER usage_hourly_monthly_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_monthly_sync();

-- What is there already, before row-level security closes the table to the owner's writes.
INSERT INTO usage_monthly (workspace_id, month, agent_minutes)
SELECT workspace_id, date_trunc('month', hour, 'UTC'), sum(agent_minutes)
FROM usage_hourly
GROUP BY 1, 2
HAVING sum(agent_minutes) <> 0;

ALTER TABLE usage_monthly ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_monthly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_monthly
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON usage_monthly FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON usage_monthly FOR SELECT TO %I USING (true)', current_user);
END $$;

GRANT SELECT, INSERT, UPDATE ON usage_monthly TO atrium_app;
