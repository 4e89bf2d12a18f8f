-- Quota alerts. An owner chooses, per limit, the shares of the tier's limit (percent) that alert and
-- who is told; a limit without a row (or with enabled off) alerts nobody.
CREATE TABLE quota_alert_settings (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  limit_kind   text NOT NULL CHECK (limit_kind IN ('agent_minutes', 'api_calls', 'concurrent_tasks', 'members')),
  enabled      boolean NOT NULL DEFAULT true,
  thresholds   smallint[] NOT NULL CHECK (cardinality(thresholds) BETWEEN 1 AND 5 AND 1 <= ALL (thresholds) AND 100 >= ALL (thresholds)),
  recipients   text NOT NULL CHECK (recipients IN ('owners', 'admins', 'list')),
  addresses    text[] NOT NULL DEFAULT '{}',
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, limit_kind)
);

-- One row per threshold crossed per period: the primary key is what makes an alert happen exactly
-- once however many processes and calls cross it together (INSERT … ON CONFLICT DO NOTHING).
-- period_start is the hour (API calls), the UTC month (agent-minutes) or the UTC day (concurrent
-- tasks, seats). notified_at is set by the job that queues the mail and the webhook event, in the
-- same transaction, so they too happen once.
CREATE TABLE quota_alerts (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  limit_kind   text NOT NULL,
  threshold    smallint NOT NULL,
  period_start timestamptz NOT NULL,
  used         bigint NOT NULL,
  limit_value  bigint NOT NULL,
  crossed_at   timestamptz NOT NULL,
  notified_at  timestamptz,
  PRIMARY KEY (workspace_id, limit_kind, threshold, period_start)
);
-- The console reads a workspace's recent alerts newest first.
CREATE INDEX quota_alerts_recent_idx ON quota_alerts (workspace_id, crossed_at DESC);

ALTER TABLE quota_alert_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_alert_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_alert_settings
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON quota_alert_settings FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
ALTER TABLE quota_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_alerts
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON quota_alerts FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON quota_alert_settings FOR SELECT TO %I USING (true)', current_user);
  EXECUTE format('CREATE POLICY owner_read ON quota_alerts FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON quota_alert_settings TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON quota_alerts TO atrium_app;

-- atrium_quota_alert records the thresholds of p_kind that a change of the use from p_before to
-- p_after crossed in period p_period, and queues a quota_alert job for each one recorded, in the
-- caller's transaction (the one whose statement counted the use). With p_before NULL, any
-- threshold p_after has reached counts (the primary key keeps it to once per period). It reads one
-- settings row and does nothing else when the limit has no alerts. It runs in the workspace's
-- transaction: row-level security applies.
CREATE FUNCTION atrium_quota_alert(p_ws uuid, p_kind text, p_period timestamptz, p_limit bigint,
  p_before bigint, p_after bigint, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  th smallint[];
  t smallint;
  mark bigint;
  n integer := 0;
BEGIN
  IF p_limit IS NULL OR p_limit <= 0 OR p_after IS NULL OR p_after <= coalesce(p_before, -1) THEN
    RETURN 0;
  END IF;
  SELECT a.thresholds INTO th FROM quota_alert_settings a
    WHERE a.workspace_id = p_ws AND a.limit_kind = p_kind AND a.enabled;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  FOREACH t IN ARRAY th LOOP
    mark := greatest(1, ceil(p_limit * t / 100.0)::bigint);
    IF p_after >= mark AND (p_before IS NULL OR p_before < mark) THEN
      INSERT INTO quota_alerts (workspace_id, limit_kind, threshold, period_start, used, limit_value, crossed_at)
        VALUES (p_ws, p_kind, t, p_period, p_after, p_limit, p_now)
        ON CONFLICT (workspace_id, limit_kind, threshold, period_start) DO NOTHING;
      IF FOUND THEN
        INSERT INTO river_job (kind, args, queue, max_attempts)
          VALUES ('quota_alert', jsonb_build_object('workspace_id', p_ws, 'limit_kind', p_kind, 'threshold', t,
            'period_start', to_char(p_period AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')), 'mail', 30);
        n := n + 1;
      END IF;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION atrium_quota_alert(uuid, text, timestamptz, bigint, bigint, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_quota_alert(uuid, text, timestamptz, bigint, bigint, bigint, timestamptz) TO atrium_app;

-- atrium_quota_use_alert is atrium_quota_alert for the limits whose use is a state rather than a
-- counter the caller just moved: the month's agent-minutes (after a task's completion added them),
-- the running tasks (after a start), the seats (members and pending invitations, after an
-- invitation or an acceptance). It reads the use only when the limit has alerts on.
CREATE FUNCTION atrium_quota_use_alert(p_ws uuid, p_kind text, p_period timestamptz, p_limit bigint, p_now timestamptz)
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
REVOKE ALL ON FUNCTION atrium_quota_use_alert(uuid, text, timestamptz, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_quota_use_alert(uuid, text, timestamptz, bigint, timestamptz) TO atrium_app;
