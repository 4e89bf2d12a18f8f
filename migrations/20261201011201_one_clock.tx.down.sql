ALTER TABLE users ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE workspaces ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE workspace_members ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE invitations ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE api_keys ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE agents ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE tasks ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE messages ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE audit_events ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE platform_events ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE login_failures ALTER COLUMN at SET DEFAULT now();
ALTER TABLE user_sessions ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN last_seen_at SET DEFAULT now();
ALTER TABLE passkeys ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE user_totp ALTER COLUMN created_at SET DEFAULT now();

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
  INSERT INTO tasks AS k (workspace_id, id, agent_id, status, input, started_at, key_id)
    VALUES (p_ws, p_id, p_agent, 'running', p_input, p_now, p_key)
    RETURNING k.created_at INTO made;
  RETURN QUERY SELECT 'started'::text, 0::bigint, made;
END
$$;
