CREATE FUNCTION atrium_api_key_by_prefix(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, scope key_scope, created_by uuid,
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT k.id, k.workspace_id, k.secret_hash, k.scope, k.created_by, k.expires_at, k.revoked_at,
         k.last_used_at, w.tier
  FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
  WHERE k.prefix = p_prefix
$$;

REVOKE ALL ON FUNCTION atrium_api_key_by_prefix(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_key_by_prefix(text) TO atrium_app;
