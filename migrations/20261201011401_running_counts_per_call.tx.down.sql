-- The running tasks' counts back to static statements (cached plans after five calls).
-- atrium_start_task as in 20261201011201.
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
    SELECT count(*) INTO n FROM tasks k WHERE k.workspace_id = p_ws AND k.status = 'running';
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

-- atrium_quota_use_alert as in 20261201011101.
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
    SELECT count(*) INTO used FROM tasks k WHERE k.workspace_id = p_ws AND k.status = 'running';
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
