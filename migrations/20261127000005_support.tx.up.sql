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

-- The support table's numbers for every workspace at once. Under the runtime role, row-level
-- security's OR of policies hides the row counts from the planner (it expects 50 of 10,000 rows
-- and probes usage tables 20,000 times: 150 ms at 10,000 workspaces); as the owner the same joins
-- are hashed in one pass. It answers only inside the read-only cross-tenant transaction that
-- models.ReadAcrossTenants opens, the same condition as the support_read policies, and returns
-- counts only, nothing of what is inside a workspace.
CREATE FUNCTION atrium_support_workspaces(p_now timestamptz)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, created_at timestamptz,
               members bigint, pending bigint, agent_minutes bigint, api_calls bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  IF current_setting('app.cross_tenant', true) IS DISTINCT FROM 'read'
     OR current_setting('transaction_read_only') <> 'on' THEN
    RAISE EXCEPTION 'atrium_support_workspaces answers only in a read-only cross-tenant transaction'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, w.created_at,
         coalesce(mc.n, 0), coalesce(ic.n, 0), coalesce(um.agent_minutes, 0), coalesce(uh.api_calls, 0)
  FROM workspaces AS w
  LEFT JOIN (SELECT m.workspace_id, count(*) AS n FROM workspace_members AS m GROUP BY m.workspace_id) AS mc
    ON mc.workspace_id = w.id
  LEFT JOIN (SELECT i.workspace_id, count(*) AS n FROM invitations AS i
             WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > p_now
             GROUP BY i.workspace_id) AS ic
    ON ic.workspace_id = w.id
  LEFT JOIN usage_monthly AS um ON um.workspace_id = w.id AND um.month = date_trunc('month', p_now, 'UTC')
  LEFT JOIN usage_hourly AS uh ON uh.workspace_id = w.id AND uh.hour = date_trunc('hour', p_now, 'UTC');
END
$$;

REVOKE ALL ON FUNCTION atrium_support_workspaces(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_support_workspaces(timestamptz) TO atrium_app;
