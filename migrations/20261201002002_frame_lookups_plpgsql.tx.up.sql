-- The two lookups every console page's frame makes (the membership of the workspace in the URL,
-- the switcher's list) are SECURITY DEFINER, which keeps PostgreSQL from inlining an SQL function:
-- as LANGUAGE sql each call parsed and planned its query again. As PL/pgSQL the query's plan is
-- kept for the connection's life. Same signatures, same rows.
CREATE OR REPLACE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user;
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
