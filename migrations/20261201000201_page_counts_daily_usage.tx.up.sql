-- Counts the console shows, by index under row-level security, and a daily usage rollup.
--
-- The running-task count: `status = 'running'` compares an enum, which is not leakproof, so under
-- row-level security it cannot be an index condition and the count read every task of the
-- workspace. A partial index whose predicate the query's own condition implies needs no leakproof
-- comparison: the count reads the running tasks only, however long the history grows. (Pending
-- invitations are counted through invitations_pending_email_idx the same way; members through the
-- primary key.)
CREATE INDEX tasks_running_idx ON tasks (workspace_id) WHERE status = 'running';

-- API calls and agent-minutes per workspace and UTC day, with the day's busiest hour of API calls,
-- kept by triggers on usage_hourly in the transaction of each change, so that a 90-day usage page
-- reads 90 rows rather than 2,160 hourly ones. The hourly rows stay the source of truth.
CREATE TABLE usage_daily (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  day           timestamptz NOT NULL CHECK (date_trunc('day', day, 'UTC') = day),
  api_calls     bigint NOT NULL DEFAULT 0,
  agent_minutes bigint NOT NULL DEFAULT 0,
  -- The day's first hour with the most API calls, and that count; NULL and 0 when the day had none.
  peak_hour     timestamptz,
  peak_calls    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day)
);

INSERT INTO usage_daily (workspace_id, day, api_calls, agent_minutes, peak_hour, peak_calls)
SELECT workspace_id, date_trunc('day', hour, 'UTC'), sum(api_calls), sum(agent_minutes),
       (array_agg(hour ORDER BY api_calls DESC, hour) FILTER (WHERE api_calls > 0))[1],
       coalesce(max(api_calls) FILTER (WHERE api_calls > 0), 0)
FROM usage_hourly GROUP BY 1, 2;

CREATE FUNCTION atrium_usage_daily_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  d timestamptz;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    -- An UPDATE, never an insert: on a workspace's deletion the cascade reaches usage_hourly
    -- while the workspace row is already gone, and a new rollup row could not reference it.
    UPDATE usage_daily SET api_calls = api_calls - OLD.api_calls, agent_minutes = agent_minutes - OLD.agent_minutes
    WHERE workspace_id = OLD.workspace_id AND day = date_trunc('day', OLD.hour, 'UTC');
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_daily AS u (workspace_id, day, api_calls, agent_minutes, peak_hour, peak_calls)
    VALUES (NEW.workspace_id, date_trunc('day', NEW.hour, 'UTC'), NEW.api_calls, NEW.agent_minutes,
            CASE WHEN NEW.api_calls > 0 THEN NEW.hour END, greatest(NEW.api_calls, 0))
    ON CONFLICT (workspace_id, day) DO UPDATE SET
      api_calls = u.api_calls + EXCLUDED.api_calls,
      agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes,
      peak_hour = CASE WHEN EXCLUDED.peak_calls > u.peak_calls
                         OR (EXCLUDED.peak_calls = u.peak_calls AND EXCLUDED.peak_calls > 0 AND EXCLUDED.peak_hour < u.peak_hour)
                       THEN EXCLUDED.peak_hour ELSE u.peak_hour END,
      peak_calls = greatest(EXCLUDED.peak_calls, u.peak_calls);
  END IF;
  -- The hour that was the day's peak lost calls or left the day: find the day's peak again among
  -- its (at most 24) hourly rows, which already hold this change.
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (NEW.api_calls < OLD.api_calls OR NEW.hour IS DISTINCT FROM OLD.hour
                                                 OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id)) THEN
    d := date_trunc('day', OLD.hour, 'UTC');
    UPDATE usage_daily AS u SET peak_hour = p.hour, peak_calls = coalesce(p.api_calls, 0)
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT h.hour, h.api_calls FROM usage_hourly AS h
      WHERE h.workspace_id = OLD.workspace_id AND h.hour >= d AND h.hour < d + interval '1 day' AND h.api_calls > 0
      ORDER BY h.api_calls DESC, h.hour LIMIT 1) AS p ON true
    WHERE u.workspace_id = OLD.workspace_id AND u.day = d AND u.peak_hour = OLD.hour;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER usage_hourly_daily_insert AFTER INSERT ON usage_hourly
  FOR EACH ROW WHEN (NEW.api_calls <> 0 OR NEW.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_daily_sync();
CREATE TRIGGER usage_hourly_daily_update AFTER UPDATE OF api_calls, agent_minutes, hour, workspace_id ON usage_hourly
  FOR EACH ROW WHEN (NEW.api_calls IS DISTINCT FROM OLD.api_calls OR NEW.agent_minutes IS DISTINCT FROM OLD.agent_minutes
                     OR NEW.hour IS DISTINCT FROM OLD.hour OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id)
  EXECUTE FUNCTION atrium_usage_daily_sync();
CREATE TRIGGER usage_hourly_daily_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.api_calls <> 0 OR OLD.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_daily_sync();

ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON usage_daily FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON usage_daily FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE ON usage_daily TO atrium_app;
