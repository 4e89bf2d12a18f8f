DELETE FROM login_failures WHERE scope IN ('second_user', 'second_ip');
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip'));

DROP FUNCTION atrium_member_workspace(text, uuid);
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user;
END
$$;
REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid) TO atrium_app;

ALTER TABLE workspaces DROP COLUMN require_two_factor;
DROP FUNCTION atrium_has_second_factor(uuid);
DROP TABLE user_recovery_codes;
DROP TABLE user_totp;
