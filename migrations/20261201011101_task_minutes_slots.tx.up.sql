-- A task's completion on a tier without an agent-minute limit adds its minutes to one of 64 slot
-- rows of its hour, chosen at random, rather than to the hour's usage_hourly row. Every completion
-- in a workspace used to update the same three rows (the hour, and the day and month rollups its
-- triggers keep) and held their locks until its commit had reached the disk, so a workspace's
-- completions ran one at a time, each waiting for the one before it to flush. Spread over slots,
-- concurrent completions rarely touch the same row and their commits are flushed together.
--
-- The slots are part of the use: every reader of a workspace's agent-minutes reads them too,
-- through the *_total views below, so usage pages, the API and exports stay exact. The retention
-- sweep folds the slots of past hours into usage_hourly (atrium_fold_task_minutes; its triggers
-- keep the rollups), so a workspace holds at most a couple of hours of slots. Tiers with an
-- agent-minute limit keep adding to usage_hourly directly, so the limit and its alerts see each
-- completion's minutes in the order they commit, as before, and a workspace that moves to such a
-- tier has its slots folded by the tier change (below).
CREATE TABLE usage_minutes_slots (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  hour          timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
  slot          smallint NOT NULL CHECK (slot >= 0 AND slot < 64),
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, hour, slot)
);

ALTER TABLE usage_minutes_slots ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_minutes_slots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_minutes_slots
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON usage_minutes_slots FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON usage_minutes_slots FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_minutes_slots TO atrium_app;

-- The use including the slots not folded yet: what readers read. security_invoker, so the base
-- tables' row-level security applies to the reader, as when it reads them directly.
CREATE VIEW usage_hourly_total WITH (security_invoker = true) AS
  SELECT u.workspace_id, u.hour, sum(u.api_calls)::bigint AS api_calls, sum(u.agent_minutes)::bigint AS agent_minutes
  FROM (SELECT h.workspace_id, h.hour, h.api_calls, h.agent_minutes FROM usage_hourly AS h
        UNION ALL
        SELECT s.workspace_id, s.hour, 0, s.agent_minutes FROM usage_minutes_slots AS s) AS u
  GROUP BY u.workspace_id, u.hour;

CREATE VIEW usage_daily_total WITH (security_invoker = true) AS
  SELECT u.workspace_id, u.day, sum(u.api_calls)::bigint AS api_calls, sum(u.agent_minutes)::bigint AS agent_minutes,
         max(u.peak_hour) AS peak_hour, max(u.peak_calls)::bigint AS peak_calls
  FROM (SELECT d.workspace_id, d.day, d.api_calls, d.agent_minutes, d.peak_hour, d.peak_calls FROM usage_daily AS d
        UNION ALL
        SELECT s.workspace_id, date_trunc('day', s.hour, 'UTC'), 0, s.agent_minutes, NULL::timestamptz, 0
        FROM usage_minutes_slots AS s) AS u
  GROUP BY u.workspace_id, u.day;

CREATE VIEW usage_monthly_total WITH (security_invoker = true) AS
  SELECT u.workspace_id, u.month, sum(u.agent_minutes)::bigint AS agent_minutes
  FROM (SELECT m.workspace_id, m.month, m.agent_minutes FROM usage_monthly AS m
        UNION ALL
        SELECT s.workspace_id, date_trunc('month', s.hour, 'UTC'), s.agent_minutes FROM usage_minutes_slots AS s) AS u
  GROUP BY u.workspace_id, u.month;

GRANT SELECT ON usage_hourly_total, usage_daily_total, usage_monthly_total TO atrium_app;

-- atrium_month_minutes is the workspace's agent-minutes in the month starting p_month: the
-- monthly rollup's row and the month's slots, two index lookups.
CREATE FUNCTION atrium_month_minutes(p_ws uuid, p_month timestamptz) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT m.agent_minutes FROM usage_monthly AS m WHERE m.workspace_id = p_ws AND m.month = p_month), 0)
       + coalesce((SELECT sum(s.agent_minutes) FROM usage_minutes_slots AS s
                   WHERE s.workspace_id = p_ws AND s.hour >= p_month AND s.hour < p_month + interval '1 month'), 0)::bigint
$$;
REVOKE ALL ON FUNCTION atrium_month_minutes(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_month_minutes(uuid, timestamptz) TO atrium_app;

-- atrium_fold_task_minutes moves the slots of workspace p_ws's hours before p_before into
-- usage_hourly (whose triggers keep the day and month), in one statement: a reader sees the
-- minutes in the slots or in the hour, never both nor neither. Returns the slot rows folded.
CREATE FUNCTION atrium_fold_task_minutes(p_ws uuid, p_before timestamptz) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, public AS $$
  WITH moved AS (
    DELETE FROM usage_minutes_slots AS s WHERE s.workspace_id = p_ws AND s.hour < p_before
    RETURNING s.hour, s.agent_minutes
  ), hours AS (
    SELECT m.hour, sum(m.agent_minutes)::bigint AS agent_minutes FROM moved AS m GROUP BY m.hour
  ), added AS (
    INSERT INTO usage_hourly AS u (workspace_id, hour, agent_minutes)
      SELECT p_ws, h.hour, h.agent_minutes FROM hours AS h WHERE h.agent_minutes <> 0
      ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes
    RETURNING 1
  )
  SELECT count(*) FROM moved
$$;
REVOKE ALL ON FUNCTION atrium_fold_task_minutes(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_fold_task_minutes(uuid, timestamptz) TO atrium_app;

-- atrium_slot_workspaces names up to p_limit workspaces with slots of hours before p_before (for
-- the retention sweep, which folds each in the workspace's own transaction).
CREATE FUNCTION atrium_slot_workspaces(p_before timestamptz, p_limit integer) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT s.workspace_id FROM usage_minutes_slots AS s WHERE s.hour < p_before LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_slot_workspaces(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_slot_workspaces(timestamptz, integer) TO atrium_app;

-- A workspace on a tier with an agent-minute limit has no slots, so the start's month check (a
-- sum of usage_hourly) and the alerts see every minute: a completion spreads only while it holds
-- the workspace's slot lock in shared mode (an advisory lock, which completions share without
-- waiting for each other) and has read, after taking it, that the workspace is still on the tier
-- the caller spreads for; a tier change takes the lock exclusively, so it waits for the
-- completions under way, and folds every slot of the workspace before it commits
-- (atrium_fold_all_task_minutes). A completion after it reads the new tier.
CREATE FUNCTION atrium_fold_all_task_minutes(p_ws uuid) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, public AS $$
  SELECT pg_advisory_xact_lock(7274, hashtext(p_ws::text));
  SELECT atrium_fold_task_minutes(p_ws, 'infinity');
$$;
REVOKE ALL ON FUNCTION atrium_fold_all_task_minutes(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_fold_all_task_minutes(uuid) TO atrium_app;

-- atrium_complete_task as before (20261201010702); with p_spread_tier (the caller's tier, given
-- when it has no agent-minute limit), the minutes go to a slot of the hour instead of the hour's
-- row, if the workspace is on that tier under the slot lock (above).
DROP FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz);
CREATE FUNCTION atrium_complete_task(p_ws uuid, p_id uuid, p_status task_status, p_now timestamptz, p_hour timestamptz,
  p_spread_tier workspace_tier DEFAULT NULL)
RETURNS TABLE (changed boolean, agent_id uuid, status task_status, input text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, agent_minutes bigint, key_id uuid, key_name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r tasks%ROWTYPE;
  spread boolean := false;
BEGIN
  PERFORM set_config('app.workspace_id', p_ws::text, true);
  IF p_spread_tier IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock_shared(7274, hashtext(p_ws::text));
    spread := EXISTS (SELECT 1 FROM workspaces w WHERE w.id = p_ws AND w.tier = p_spread_tier);
  END IF;
  UPDATE tasks k SET status = p_status, finished_at = p_now,
      agent_minutes = greatest(0, ceil(extract(epoch FROM (p_now - k.started_at)) / 60))::bigint
    WHERE k.workspace_id = p_ws AND k.id = p_id AND k.status IN ('running', 'queued')
    RETURNING k.* INTO r;
  IF FOUND THEN
    IF r.agent_minutes > 0 AND spread THEN
      INSERT INTO usage_minutes_slots AS s (workspace_id, hour, slot, agent_minutes)
        VALUES (p_ws, p_hour, floor(random() * 64)::smallint, r.agent_minutes)
        ON CONFLICT (workspace_id, hour, slot) DO UPDATE SET agent_minutes = s.agent_minutes + EXCLUDED.agent_minutes;
    ELSIF r.agent_minutes > 0 THEN
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
REVOKE ALL ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz, workspace_tier) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz, workspace_tier) TO atrium_app;

-- atrium_quota_use_alert as before (20261201010601), the month's agent-minutes with the slots.
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

-- atrium_support_workspaces as before (baseline), the month's agent-minutes with the slots.
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
         coalesce(mc.n, 0), coalesce(ic.n, 0), coalesce(um.agent_minutes, 0) + coalesce(sl.agent_minutes, 0),
         coalesce(uh.api_calls, 0)
  FROM workspaces AS w
  LEFT JOIN (SELECT m.workspace_id, count(*) AS n FROM workspace_members AS m GROUP BY m.workspace_id) AS mc
    ON mc.workspace_id = w.id
  LEFT JOIN (SELECT i.workspace_id, count(*) AS n FROM invitations AS i
             WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > p_now
             GROUP BY i.workspace_id) AS ic
    ON ic.workspace_id = w.id
  LEFT JOIN usage_monthly AS um ON um.workspace_id = w.id AND um.month = date_trunc('month', p_now, 'UTC')
  LEFT JOIN (SELECT s.workspace_id, sum(s.agent_minutes)::bigint AS agent_minutes FROM usage_minutes_slots AS s
             WHERE s.hour >= date_trunc('month', p_now, 'UTC') AND s.hour < date_trunc('month', p_now, 'UTC') + interval '1 month'
             GROUP BY s.workspace_id) AS sl
    ON sl.workspace_id = w.id
  LEFT JOIN usage_hourly AS uh ON uh.workspace_id = w.id AND uh.hour = date_trunc('hour', p_now, 'UTC');
END
$$;
