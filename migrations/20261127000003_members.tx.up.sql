-- Invitation links are opened before anyone knows which workspace they belong to (often by
-- someone without an account yet), so the lookup by token crosses tenants by nature. It answers
-- only for the exact hash of a token, and only what the acceptance page shows.
CREATE FUNCTION atrium_invitation_by_token(p_hash text)
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

REVOKE ALL ON FUNCTION atrium_invitation_by_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_invitation_by_token(text) TO atrium_app;

-- The members page lists a workspace's invitations newest first.
CREATE INDEX invitations_workspace_created_idx ON invitations (workspace_id, created_at DESC);
