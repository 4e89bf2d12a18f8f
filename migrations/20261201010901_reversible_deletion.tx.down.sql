DROP FUNCTION atrium_workspaces_to_erase(timestamptz, integer);
DROP FUNCTION atrium_user_deleted_workspaces(uuid);

DROP TRIGGER workspaces_notify ON workspaces;
CREATE TRIGGER workspaces_notify AFTER UPDATE OF tier OR DELETE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();

CREATE OR REPLACE FUNCTION atrium_invitation_by_token(p_hash text)
RETURNS TABLE (id uuid, workspace_id uuid, email text, role member_role, expires_at timestamptz,
               accepted_at timestamptz, revoked_at timestamptz, workspace_name text,
               workspace_slug text, inviter_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.id, i.workspace_id, i.email::text, i.role, i.expires_at, i.accepted_at, i.revoked_at,
         w.name, w.slug, coalesce(nullif(u.name, ''), u.email::text, '')
  FROM invitations i
  JOIN workspaces w ON w.id = i.workspace_id
  LEFT JOIN users u ON u.id = i.invited_by
  WHERE i.token_hash = p_hash
$$;

CREATE OR REPLACE FUNCTION atrium_api_key_by_prefix_v2(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, previous_secret_hash bytea,
               previous_valid_until timestamptz, scope key_scope, expires_at timestamptz,
               revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier,
               creator_role member_role, creator_disabled boolean)
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

CREATE OR REPLACE FUNCTION atrium_user_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, joined_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.created_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user
  ORDER BY lower(w.name), w.slug;
END
$$;

CREATE OR REPLACE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz,
               require_two_factor boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at, w.require_two_factor
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user;
END
$$;

-- Scheduled workspaces are erased on the way down: without the column they would come back.
DELETE FROM workspaces WHERE deleted_at IS NOT NULL;
DROP INDEX workspaces_deleted_idx;
ALTER TABLE workspaces DROP COLUMN deleted_by, DROP COLUMN deleted_at;
