-- Each agent's agent-minutes per UTC month, kept by triggers on tasks in the transaction that
-- finishes a task (atrium_complete_task, for a completion and a cancel alike), so that the agent
-- list and an agent's page read one row per agent rather than every task the agent finished this
-- month. The triggers fire only when a task's finish or minutes move: a start (finished_at NULL)
-- and the conditional UPDATE that already lost a race (it changes no row) pay nothing, and the
-- one UPDATE that finishes a task counts its minutes once. Tasks stay the source of truth.
CREATE TABLE agent_minutes_monthly (
  workspace_id  uuid NOT NULL,
  agent_id      uuid NOT NULL,
  month         timestamptz NOT NULL CHECK (date_trunc('month', month, 'UTC') = month),
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, agent_id, month),
  FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE CASCADE
);

INSERT INTO agent_minutes_monthly (workspace_id, agent_id, month, agent_minutes)
SELECT workspace_id, agent_id, date_trunc('month', finished_at, 'UTC'), sum(agent_minutes)
FROM tasks WHERE finished_at IS NOT NULL GROUP BY 1, 2, 3;

CREATE FUNCTION atrium_agent_minutes_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.finished_at IS NOT NULL THEN
    -- An UPDATE, never an insert: on an agent's or a workspace's deletion the cascade reaches
    -- tasks while the agent row is already gone, and a new rollup row could not reference it.
    UPDATE agent_minutes_monthly SET agent_minutes = agent_minutes - OLD.agent_minutes
    WHERE workspace_id = OLD.workspace_id AND agent_id = OLD.agent_id AND month = date_trunc('month', OLD.finished_at, 'UTC');
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.finished_at IS NOT NULL THEN
    INSERT INTO agent_minutes_monthly AS m (workspace_id, agent_id, month, agent_minutes)
    VALUES (NEW.workspace_id, NEW.agent_id, date_trunc('month', NEW.finished_at, 'UTC'), NEW.agent_minutes)
    ON CONFLICT (workspace_id, agent_id, month) DO UPDATE SET agent_minutes = m.agent_minutes + EXCLUDED.agent_minutes;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_agent_minutes_insert AFTER INSERT ON tasks
  FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL) EXECUTE FUNCTION atrium_agent_minutes_sync();
CREATE TRIGGER tasks_agent_minutes_update AFTER UPDATE OF finished_at, agent_minutes, agent_id, workspace_id ON tasks
  FOR EACH ROW WHEN (NEW.finished_at IS DISTINCT FROM OLD.finished_at OR NEW.agent_minutes IS DISTINCT FROM OLD.agent_minutes
                     OR NEW.agent_id IS DISTINCT FROM OLD.agent_id OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id)
  EXECUTE FUNCTION atrium_agent_minutes_sync();
CREATE TRIGGER tasks_agent_minutes_delete AFTER DELETE ON tasks
  FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL) EXECUTE FUNCTION atrium_agent_minutes_sync();

ALTER TABLE agent_minutes_monthly ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_minutes_monthly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_minutes_monthly
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON agent_minutes_monthly FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON agent_minutes_monthly FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE ON agent_minutes_monthly TO atrium_app;
