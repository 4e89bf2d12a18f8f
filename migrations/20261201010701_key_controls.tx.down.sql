DROP INDEX IF EXISTS audit_events_key_refusal_once_idx;
DROP TRIGGER workspaces_notify ON workspaces;
CREATE TRIGGER workspaces_notify AFTER UPDATE OF tier OR DELETE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
DROP TRIGGER api_keys_notify ON api_keys;
CREATE TRIGGER api_keys_notify AFTER UPDATE OF secret_hash, previous_secret_hash, previous_valid_until,
  scope, expires_at, revoked_at, workspace_id, prefix OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();
-- Restores atrium_api_key_by_prefix_v2 as the baseline made it.
-- Key authentication crosses tenants by nature: the workspace is what the key tells. The lookup
-- answers only for one exact public prefix, and also says whether the key's creator may still hold
-- keys there (a member removed, demoted to viewer or disabled takes their keys' access along).
CREATE FUNCTION atrium_api_key_by_prefix_v2(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, previous_secret_hash bytea,
               previous_valid_until timestamptz, scope key_scope, expires_at timestamptz,
               revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier,
               creator_role member_role, creator_disabled boolean)
-- plpgsql rather than sql: it runs on every API request, and plpgsql keeps the plan of its query
-- for the connection's life, where a SECURITY DEFINER sql function is planned on every call.
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT k.id, k.workspace_id, k.secret_hash, k.previous_secret_hash, k.previous_valid_until,
         k.scope, k.expires_at, k.revoked_at, k.last_used_at, w.tier, m.role,
         coalesce(u.disabled_at IS NOT NULL, true)
  FROM api_keys k
  JOIN workspaces w ON w.id = k.workspace_id
  LEFT JOIN workspace_members m ON m.workspace_id = k.workspace_id AND m.user_id = k.created_by
  LEFT JOIN users u ON u.id = k.created_by
  WHERE k.prefix = p_prefix;
END
$$;
REVOKE ALL ON FUNCTION atrium_api_key_by_prefix_v2(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_key_by_prefix_v2(text) TO atrium_app;
DROP FUNCTION IF EXISTS atrium_api_key_by_prefix_v3(text);
DROP FUNCTION IF EXISTS atrium_lease_key_calls(uuid, uuid, timestamptz, bigint, bigint);
DROP TABLE IF EXISTS api_key_usage_hourly;
ALTER TABLE api_keys DROP COLUMN last_used_ip, DROP COLUMN allowed_ips, DROP COLUMN rate_limit_per_hour,
  DROP COLUMN description;
