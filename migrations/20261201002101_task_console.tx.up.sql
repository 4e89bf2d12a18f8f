-- The console's agents and tasks pages, and cancelling a task.
--
-- Which key started a task: the console shows it by name and prefix. NULL for tasks started
-- before this column, or not through a key. Keys are never deleted apart from their workspace,
-- so no foreign key is needed (and a start pays for no extra lookup).
ALTER TABLE tasks ADD COLUMN key_id uuid;

-- One partial index per status, each in id order (ids are UUIDv7, so newest first is id order).
-- Under row-level security an enum comparison is not leakproof and cannot be an index condition,
-- but a partial index whose predicate the query's own condition implies needs none: the running
-- tasks come first in one index range, and a status filter reads one page of its index, however
-- long the history. The running index also answers the running count (it replaces
-- tasks_running_idx).
CREATE INDEX tasks_running_id_idx ON tasks (workspace_id, id) WHERE status = 'running';
DROP INDEX tasks_running_idx;
CREATE INDEX tasks_queued_id_idx ON tasks (workspace_id, id) WHERE status = 'queued';
CREATE INDEX tasks_succeeded_id_idx ON tasks (workspace_id, id) WHERE status = 'succeeded';
CREATE INDEX tasks_failed_id_idx ON tasks (workspace_id, id) WHERE status = 'failed';
CREATE INDEX tasks_cancelled_id_idx ON tasks (workspace_id, id) WHERE status = 'cancelled';
-- An agent's running tasks (its running count and last start), among the running ones only.
CREATE INDEX tasks_running_agent_idx ON tasks (workspace_id, agent_id) INCLUDE (started_at) WHERE status = 'running';
-- An agent's tasks, newest first (the agent filter and the agent's page).
CREATE INDEX tasks_agent_id_idx ON tasks (workspace_id, agent_id, id);
-- An agent's finished tasks by when they finished, with their minutes: minutes this month and the
-- last finish are one index range each, read from the index alone.
CREATE INDEX tasks_agent_finished_idx ON tasks (workspace_id, agent_id, finished_at) INCLUDE (agent_minutes)
  WHERE finished_at IS NOT NULL;

-- atrium_start_task as before (20261201000102), with the key that starts the task recorded.
DROP FUNCTION atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz);
CREATE FUNCTION atrium_start_task(p_ws uuid, p_id uuid, p_agent uuid, p_input text, p_now timestamptz,
  p_tier workspace_tier, p_minutes bigint, p_concurrent bigint, p_month timestamptz, p_next_month timestamptz, p_key uuid)
RETURNS TABLE (outcome text, used bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  t workspace_tier;
  n bigint;
  made timestamptz;
BEGIN
  PERFORM set_config('app.workspace_id', p_ws::text, true);
  IF p_minutes IS NULL AND p_concurrent IS NULL THEN
    SELECT w.tier INTO t FROM workspaces w WHERE w.id = p_ws FOR SHARE;
  ELSE
    SELECT w.tier INTO t FROM workspaces w WHERE w.id = p_ws FOR NO KEY UPDATE;
  END IF;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'no_workspace'::text, 0::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  IF t IS DISTINCT FROM p_tier THEN
    RETURN QUERY SELECT 'tier_changed'::text, 0::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  PERFORM 1 FROM agents a WHERE a.workspace_id = p_ws AND a.id = p_agent;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'no_agent'::text, 0::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  IF p_minutes IS NOT NULL THEN
    SELECT coalesce(sum(u.agent_minutes), 0) INTO n FROM usage_hourly u
      WHERE u.workspace_id = p_ws AND u.hour >= p_month AND u.hour < p_next_month;
    IF n >= p_minutes THEN
      RETURN QUERY SELECT 'quota_exceeded'::text, n, NULL::timestamptz;
      RETURN;
    END IF;
  END IF;
  IF p_concurrent IS NOT NULL THEN
    SELECT count(*) INTO n FROM tasks k WHERE k.workspace_id = p_ws AND k.status = 'running';
    IF n >= p_concurrent THEN
      RETURN QUERY SELECT 'concurrent_limit'::text, n, NULL::timestamptz;
      RETURN;
    END IF;
  END IF;
  INSERT INTO tasks AS k (workspace_id, id, agent_id, status, input, started_at, key_id)
    VALUES (p_ws, p_id, p_agent, 'running', p_input, p_now, p_key)
    RETURNING k.created_at INTO made;
  RETURN QUERY SELECT 'started'::text, 0::bigint, made;
END
$$;

REVOKE ALL ON FUNCTION atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz, uuid) TO atrium_app;
