-- Per-key controls: a description, an hourly call limit of the key's own (a slice of the
-- workspace's; NULL = the workspace's limit alone), an allowlist of client addresses and CIDR
-- ranges (empty = any address), and the address of the key's last use.
ALTER TABLE api_keys
  ADD COLUMN description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
  ADD COLUMN rate_limit_per_hour bigint CHECK (rate_limit_per_hour > 0),
  ADD COLUMN allowed_ips text[] NOT NULL DEFAULT '{}' CHECK (cardinality(allowed_ips) <= 100),
  ADD COLUMN last_used_ip text NOT NULL DEFAULT '';

-- Each key's calls and refusals per hour. For a key with a limit of its own, calls counts the
-- calls leased to processes (as usage_hourly.api_calls does for the workspace), handed back when
-- unused; for the others, the calls admitted, written by each process at most once a second.
CREATE TABLE api_key_usage_hourly (
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key_id            uuid NOT NULL,
  hour              timestamptz NOT NULL,
  calls             bigint NOT NULL DEFAULT 0,
  ip_refused        bigint NOT NULL DEFAULT 0,
  key_limited       bigint NOT NULL DEFAULT 0,
  workspace_limited bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, key_id, hour),
  FOREIGN KEY (workspace_id, key_id) REFERENCES api_keys (workspace_id, id) ON DELETE CASCADE
);
ALTER TABLE api_key_usage_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_usage_hourly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_usage_hourly
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON api_key_usage_hourly FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON api_key_usage_hourly FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON api_key_usage_hourly TO atrium_app;

-- A key's slice, leased to processes in blocks exactly as atrium_lease_api_calls leases the
-- workspace's hour: min(p_max, (limit - leased) / 16), at least one while any is left, never past
-- the key's limit. Runs in the workspace's transaction (row-level security applies).
CREATE FUNCTION atrium_lease_key_calls(p_ws uuid, p_key uuid, p_hour timestamptz, p_limit bigint, p_max bigint)
RETURNS TABLE (granted bigint, leased bigint)
LANGUAGE plpgsql AS $$
DECLARE
  cur bigint;
  n bigint;
BEGIN
  INSERT INTO api_key_usage_hourly (workspace_id, key_id, hour) VALUES (p_ws, p_key, p_hour)
    ON CONFLICT (workspace_id, key_id, hour) DO NOTHING;
  SELECT u.calls INTO cur FROM api_key_usage_hourly u
    WHERE u.workspace_id = p_ws AND u.key_id = p_key AND u.hour = p_hour FOR NO KEY UPDATE;
  n := least(p_max, greatest(1, (p_limit - cur) / 16), greatest(0, p_limit - cur));
  IF n > 0 THEN
    UPDATE api_key_usage_hourly u SET calls = u.calls + n
      WHERE u.workspace_id = p_ws AND u.key_id = p_key AND u.hour = p_hour;
  END IF;
  RETURN QUERY SELECT n, cur + n;
END
$$;
REVOKE ALL ON FUNCTION atrium_lease_key_calls(uuid, uuid, timestamptz, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_lease_key_calls(uuid, uuid, timestamptz, bigint, bigint) TO atrium_app;

-- The key lookup also answers what the per-key checks need (limit, allowlist), the key's name
-- (tasks carry it) and the workspace's slug (refusals link to the console), so a call still
-- needs no other statement. It is atrium_api_key_by_prefix_v2 with those columns added: it reads
-- the key through v2, so whatever v2 decides about a key (which workspaces' keys answer at all)
-- holds for v3 too.
CREATE FUNCTION atrium_api_key_by_prefix_v3(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, previous_secret_hash bytea,
               previous_valid_until timestamptz, scope key_scope, expires_at timestamptz,
               revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier,
               creator_role member_role, creator_disabled boolean, workspace_slug text,
               name text, rate_limit_per_hour bigint, allowed_ips text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT v.id, v.workspace_id, v.secret_hash, v.previous_secret_hash, v.previous_valid_until,
         v.scope, v.expires_at, v.revoked_at, v.last_used_at, v.tier, v.creator_role,
         v.creator_disabled, w.slug::text, k.name, k.rate_limit_per_hour, k.allowed_ips
  FROM atrium_api_key_by_prefix_v2(p_prefix) AS v
  JOIN api_keys k ON k.workspace_id = v.workspace_id AND k.id = v.id
  JOIN workspaces w ON w.id = v.workspace_id;
END
$$;
REVOKE ALL ON FUNCTION atrium_api_key_by_prefix_v3(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_key_by_prefix_v3(text) TO atrium_app;

-- Processes cache what the lookup answers: a change of the new fields, the name or the slug
-- reaches them at once (triggers of their own, beside the ones for the other columns).
CREATE TRIGGER api_keys_controls_notify AFTER UPDATE OF name, rate_limit_per_hour, allowed_ips ON api_keys
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
CREATE TRIGGER workspaces_slug_notify AFTER UPDATE OF slug ON workspaces
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();

-- A key's refusals are audited once per key, refusal and hour.
CREATE UNIQUE INDEX audit_events_key_refusal_once_idx
  ON audit_events (workspace_id, action, (details->>'key'), (details->>'hour'))
  WHERE action IN ('api.key_rate_limited', 'api.ip_not_allowed');
