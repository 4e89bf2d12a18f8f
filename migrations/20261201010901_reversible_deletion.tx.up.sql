-- Reversible workspace deletion: deleting a workspace schedules it. deleted_at (the caller's
-- clock) hides it from its members at once, its API keys stop working at once, its slug stays
-- taken (the row, and so the unique slug, stays), owners may restore it for 30 days, and the
-- retention job erases it for good after that (models.EraseDeletedWorkspaces).
ALTER TABLE workspaces ADD COLUMN deleted_at timestamptz, ADD COLUMN deleted_by uuid;
CREATE INDEX workspaces_deleted_idx ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;

-- The membership lookup and the switcher's list no longer see a scheduled workspace (same
-- signatures and rows as 20261201002201_two_factor and 20261201002002_frame_lookups_plpgsql).
CREATE OR REPLACE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz,
               require_two_factor boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at, w.require_two_factor
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user AND w.deleted_at IS NULL;
END
$$;

CREATE OR REPLACE FUNCTION atrium_user_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, joined_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.created_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user AND w.deleted_at IS NULL
  ORDER BY lower(w.name), w.slug;
END
$$;

-- A key of a scheduled workspace is no key at all (the baseline's lookup, one condition more).
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
  WHERE k.prefix = p_prefix AND w.deleted_at IS NULL;
END
$$;

-- Nor can an invitation to it be opened or accepted.
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
  WHERE i.token_hash = p_hash AND w.deleted_at IS NULL
$$;

-- Scheduling (and restoring) tells every process's key cache at once, as a tier change does.
DROP TRIGGER workspaces_notify ON workspaces;
CREATE TRIGGER workspaces_notify AFTER UPDATE OF tier, deleted_at OR DELETE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION atrium_notify_keys();

-- The scheduled workspaces a person owns: their workspace list offers to restore them. Only
-- owners' rows: nobody else may restore, and for everybody else the workspace is gone.
CREATE FUNCTION atrium_user_deleted_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, deleted_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, w.deleted_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user AND m.role = 'owner' AND w.deleted_at IS NOT NULL
  ORDER BY w.deleted_at DESC, w.slug;
END
$$;

-- The workspaces the retention job erases: scheduled before p_before, oldest first.
CREATE FUNCTION atrium_workspaces_to_erase(p_before timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id FROM workspaces w WHERE w.deleted_at < p_before ORDER BY w.deleted_at, w.id LIMIT p_limit;
END
$$;

REVOKE ALL ON FUNCTION atrium_user_deleted_workspaces(uuid), atrium_workspaces_to_erase(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_user_deleted_workspaces(uuid), atrium_workspaces_to_erase(timestamptz, integer) TO atrium_app;
