-- The running tasks' counts inside the task functions are planned with their workspace at every
-- call. Under row-level security `status = 'running'` (an enum comparison, not leakproof) is no
-- index condition; the count reads the partial index tasks_running_id_idx (or
-- tasks_running_agent_idx) only because the planner sees that the query implies its predicate and
-- finds it cheapest. PL/pgSQL's static statements get cached generic plans after five calls
-- (plan_cache_mode auto), and a generic plan is made for an average workspace: once a churned
-- tasks table has been vacuumed and analyzed, the running indexes hold many emptied pages for few
-- entries, and that plan prefers a full index of the workspace's tasks with a filter, which for a
-- busy workspace reads every task it ever ran (20,002 entries for 2 running tasks), under the
-- workspace row's lock on a limited tier. A dynamic statement (EXECUTE ... USING) is planned with
-- its argument each time, as the application plans the same count (Tenant.queryRowWith).
-- Everything else in the functions is as before.

-- atrium_start_task as before (20261201011201), its concurrency check's count planned per call.
CREATE OR REPLACE FUNCTION atrium_start_task(p_ws uuid, p_id uuid, p_agent uuid, p_input text, p_now timestamptz,
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
    EXECUTE 'SELECT count(*) FROM tasks k WHERE k.workspace_id = $1 AND k.status = ''running''' INTO n USING p_ws;
    IF n >= p_concurrent THEN
      RETURN QUERY SELECT 'concurrent_limit'::text, n, NULL::timestamptz;
      RETURN;
    END IF;
  END IF;
  INSERT INTO tasks AS k (workspace_id, id, agent_id, status, input, created_at, started_at, key_id)
    VALUES (p_ws, p_id, p_agent, 'running', p_input, p_now, p_now, p_key)
    RETURNING k.created_at INTO made;
  RETURN QUERY SELECT 'started'::text, 0::bigint, made;
END
$$;

-- atrium_quota_use_alert as before (20261201011101), the concurrent tasks' count planned per call.
CREATE OR REPLACE FUNCTION atrium_quota_use_alert(p_ws uuid, p_kind text, p_period timestamptz, p_limit bigint, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  used bigint;
BEGIN
  IF p_limit IS NULL OR p_limit <= 0 THEN
    RETURN 0;
  END IF;
  PERFORM 1 FROM quota_alert_settings a WHERE a.workspace_id = p_ws AND a.limit_kind = p_kind AND a.enabled;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  IF p_kind = 'agent_minutes' THEN
    used := atrium_month_minutes(p_ws, p_period);
  ELSIF p_kind = 'concurrent_tasks' THEN
    EXECUTE 'SELECT count(*) FROM tasks k WHERE k.workspace_id = $1 AND k.status = ''running''' INTO used USING p_ws;
  ELSIF p_kind = 'members' THEN
    SELECT coalesce((SELECT c.members FROM workspace_member_counts c WHERE c.workspace_id = p_ws), 0)
         + (SELECT count(*) FROM invitations i WHERE i.workspace_id = p_ws AND i.accepted_at IS NULL
              AND i.revoked_at IS NULL AND i.expires_at > p_now)
      INTO used;
  ELSE
    RETURN 0;
  END IF;
  RETURN atrium_quota_alert(p_ws, p_kind, p_period, p_limit, NULL, used, p_now);
END
$$;
