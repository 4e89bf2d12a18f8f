DROP FUNCTION atrium_support_access(text, uuid, timestamptz);
DROP FUNCTION atrium_member_workspace(text, uuid);
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
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
REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid) TO atrium_app;
ALTER TABLE workspaces DROP COLUMN notify_support_access;
DROP TABLE support_access_grants;
