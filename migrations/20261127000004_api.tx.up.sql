-- Rolling a key: the new secret takes over at once, the previous one keeps working until
-- previous_valid_until (the grace period the owner chose), so clients can move without an outage.
-- Both are SHA-256 hashes; neither secret is stored.
ALTER TABLE api_keys
  ADD COLUMN previous_secret_hash bytea,
  ADD COLUMN previous_valid_until timestamptz,
  ADD COLUMN rolled_at timestamptz,
  ADD CONSTRAINT api_keys_previous_check
    CHECK ((previous_secret_hash IS NULL) = (previous_valid_until IS NULL));

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

-- Quota refusals are audited once per workspace, refusal and hour: a client hammering a full
-- quota must not flood the audit log. The insert says ON CONFLICT DO NOTHING against this index.
CREATE UNIQUE INDEX audit_events_refusal_once_idx
  ON audit_events (workspace_id, action, (details->>'hour'))
  WHERE action IN ('api.rate_limited', 'task.concurrent_limit', 'task.quota_exceeded');
