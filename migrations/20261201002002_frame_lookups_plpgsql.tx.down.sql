CREATE OR REPLACE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user
$$;

CREATE OR REPLACE FUNCTION atrium_user_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, joined_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.created_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user
  ORDER BY lower(w.name), w.slug
$$;
