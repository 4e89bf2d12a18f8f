-- Back to the hour's row for every completion: the slots not folded yet go into usage_hourly first.
-- Row-level security is forced on the owner too: each workspace's slots are folded bound to it.
DO $$
DECLARE
  ws uuid;
BEGIN
  FOR ws IN SELECT DISTINCT s.workspace_id FROM usage_minutes_slots AS s LOOP
    PERFORM set_config('app.workspace_id', ws::text, true);
    PERFORM atrium_fold_task_minutes(ws, 'infinity');
  END LOOP;
  PERFORM set_config('app.workspace_id', '', true);
END $$;
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
    SELECT coalesce(sum(m.agent_minutes), 0) INTO used FROM usage_monthly m
      WHERE m.workspace_id = p_ws AND m.month = p_period;
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
DROP FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz, workspace_tier);
DROP FUNCTION atrium_fold_all_task_minutes(uuid);
CREATE FUNCTION atrium_complete_task(p_ws uuid, p_id uuid, p_status task_status, p_now timestamptz, p_hour timestamptz)
RETURNS TABLE (changed boolean, agent_id uuid, status task_status, input text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, agent_minutes bigint, key_id uuid, key_name text)
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
    RETURN QUERY SELECT true, r.agent_id, r.status, r.input, r.created_at, r.started_at, r.finished_at, r.agent_minutes,
      r.key_id, (SELECT ak.name FROM api_keys ak WHERE ak.workspace_id = p_ws AND ak.id = r.key_id);
    RETURN;
  END IF;
  RETURN QUERY SELECT false, k.agent_id, k.status, k.input, k.created_at, k.started_at, k.finished_at, k.agent_minutes,
      k.key_id, ak.name
    FROM tasks k LEFT JOIN api_keys ak ON ak.workspace_id = k.workspace_id AND ak.id = k.key_id
    WHERE k.workspace_id = p_ws AND k.id = p_id;
END
$$;
REVOKE ALL ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) TO atrium_app;
CREATE OR REPLACE FUNCTION atrium_support_workspaces(p_now timestamptz)
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
DROP FUNCTION atrium_slot_workspaces(timestamptz, integer);
DROP FUNCTION atrium_fold_task_minutes(uuid, timestamptz);
DROP FUNCTION atrium_month_minutes(uuid, timestamptz);
DROP VIEW usage_monthly_total;
DROP VIEW usage_daily_total;
DROP VIEW usage_hourly_total;
DROP TABLE usage_minutes_slots;
