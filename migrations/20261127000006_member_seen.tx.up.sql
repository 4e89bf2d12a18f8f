-- The membership lookup also says when the member was last seen in the workspace, so the request
-- that resolves it knows whether that time needs moving without another query.
DROP FUNCTION atrium_member_workspace(text, uuid);
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user
$$;
REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid) TO atrium_app;
