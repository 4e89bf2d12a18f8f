-- Starting and completing a task, each in one statement (one round trip): the function binds the
-- transaction to the workspace itself (set_config of app.workspace_id, transaction-local) and
-- runs as the caller, so row-level security applies to everything it reads and writes.

-- atrium_start_task takes the workspace row's lock (FOR NO KEY UPDATE; FOR SHARE for a tier
-- without task limits), checks that the tier is
-- the one the caller's limits are for, that the agent is the workspace's, the month's
-- agent-minutes (p_minutes, NULL: unlimited) and the running tasks (p_concurrent, NULL:
-- unlimited), and inserts the running task. outcome says which: started, no_workspace,
-- tier_changed, no_agent, quota_exceeded, concurrent_limit; used is the count that refused.
CREATE FUNCTION atrium_start_task(p_ws uuid, p_id uuid, p_agent uuid, p_input text, p_now timestamptz,
  p_tier workspace_tier, p_minutes bigint, p_concurrent bigint, p_month timestamptz, p_next_month timestamptz)
RETURNS TABLE (outcome text, used bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  t workspace_tier;
  n bigint;
  made timestamptz;
BEGIN
  PERFORM set_config('app.workspace_id', p_ws::text, true);
  IF p_minutes IS NULL AND p_concurrent IS NULL THEN
    -- Nothing to count: starts need not wait for each other, only a tier change must wait for
    -- them (it updates the row), so they share the row.
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
  INSERT INTO tasks AS k (workspace_id, id, agent_id, status, input, started_at)
    VALUES (p_ws, p_id, p_agent, 'running', p_input, p_now)
    RETURNING k.created_at INTO made;
  RETURN QUERY SELECT 'started'::text, 0::bigint, made;
END
$$;

-- atrium_complete_task finishes a running (or queued) task as p_status, once: the conditional
-- UPDATE lets one completion through however many race, and only that one adds the task's
-- agent-minutes to the hour p_hour. changed is false when the task was already finished (the
-- task is answered as it is); no row when there is no such task.
CREATE FUNCTION atrium_complete_task(p_ws uuid, p_id uuid, p_status task_status, p_now timestamptz, p_hour timestamptz)
RETURNS TABLE (changed boolean, agent_id uuid, status task_status, input text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, agent_minutes bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r tasks%ROWTYPE;
BEGIN
  PERFORM set_config('app.workspace_id', p_ws::text, true);
  UPDATE tasks k SET status = p_status, finished_at = p_now,
      agent_minutes = greatest(0, ceil(extract(epoch FROM (p_now - k.started_at)) / 60))::bigint
    WHERE k.workspace_id = p_ws AND k.id = p_id AND k.status IN ('running', 'queued')
    RETURNING k.* INTO r;
  IF FOUND THEN
    IF r.agent_minutes > 0 THEN
      INSERT INTO usage_hourly AS u (workspace_id, hour, agent_minutes) VALUES (p_ws, p_hour, r.agent_minutes)
        ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes;
    END IF;
    RETURN QUERY SELECT true, r.agent_id, r.status, r.input, r.created_at, r.started_at, r.finished_at, r.agent_minutes;
    RETURN;
  END IF;
  RETURN QUERY SELECT false, k.agent_id, k.status, k.input, k.created_at, k.started_at, k.finished_at, k.agent_minutes
    FROM tasks k WHERE k.workspace_id = p_ws AND k.id = p_id;
END
$$;

REVOKE ALL ON FUNCTION atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz),
  atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz),
  atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) TO atrium_app;
