-- Processes cache authenticated API keys for at most a second. Every change that can make a key
-- stop working (revoke, roll, expiry moved, scope changed, the creator removed, demoted or
-- disabled, the workspace's tier changed or the workspace deleted) tells them at once on channel
-- atrium_keys: the payload is the workspace's id, or '*' for every workspace. The notification is
-- delivered at commit, so no process can reload the old row after it.
CREATE FUNCTION atrium_notify_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    r := OLD;
  ELSE
    r := NEW;
  END IF;
  IF TG_TABLE_NAME = 'users' THEN
    PERFORM pg_notify('atrium_keys', '*');
  ELSIF TG_TABLE_NAME = 'workspaces' THEN
    PERFORM pg_notify('atrium_keys', r.id::text);
  ELSE
    PERFORM pg_notify('atrium_keys', r.workspace_id::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_notify AFTER UPDATE OF secret_hash, previous_secret_hash, previous_valid_until,
  scope, expires_at, revoked_at, workspace_id, prefix OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
CREATE TRIGGER workspace_members_notify AFTER UPDATE OF role, user_id, workspace_id OR DELETE ON workspace_members
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
CREATE TRIGGER workspaces_notify AFTER UPDATE OF tier OR DELETE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
CREATE TRIGGER users_notify AFTER UPDATE OF disabled_at OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();

-- Leases a block of this hour's API calls to one process: min(p_max, (limit - leased) / 16), at
-- least one while any is left, never past the limit. The row's lock makes concurrent leases of
-- all processes add up to at most the limit. It runs in the workspace's transaction (row-level
-- security applies) and answers the calls granted and the hour's leased total after the lease.
CREATE FUNCTION atrium_lease_api_calls(p_ws uuid, p_hour timestamptz, p_limit bigint, p_max bigint)
RETURNS TABLE (granted bigint, leased bigint)
LANGUAGE plpgsql AS $$
DECLARE
  cur bigint;
  n bigint;
BEGIN
  INSERT INTO usage_hourly (workspace_id, hour) VALUES (p_ws, p_hour)
    ON CONFLICT (workspace_id, hour) DO NOTHING;
  SELECT u.api_calls INTO cur FROM usage_hourly u
    WHERE u.workspace_id = p_ws AND u.hour = p_hour FOR NO KEY UPDATE;
  n := least(p_max, greatest(1, (p_limit - cur) / 16), greatest(0, p_limit - cur));
  IF n > 0 THEN
    UPDATE usage_hourly u SET api_calls = u.api_calls + n WHERE u.workspace_id = p_ws AND u.hour = p_hour;
  END IF;
  RETURN QUERY SELECT n, cur + n;
END
$$;
REVOKE ALL ON FUNCTION atrium_lease_api_calls(uuid, timestamptz, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_lease_api_calls(uuid, timestamptz, bigint, bigint) TO atrium_app;
