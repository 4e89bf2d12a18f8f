-- Support with a reason: before support staff open a workspace they give a reason and a ticket
-- reference, which grants them access to that workspace for a time-box (ATRIUM_SUPPORT_ACCESS_WINDOW,
-- 60 minutes by default). The grant is kept here, server-side, with the caller's clock; each look
-- within it is recorded in the workspace's audit log with the grant's reason and ticket.
CREATE TABLE support_access_grants (
  workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id              uuid NOT NULL,
  support_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  reason          text NOT NULL,
  ticket          text NOT NULL,
  granted_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, id),
  CHECK (expires_at > granted_at)
);
CREATE INDEX support_access_grants_user_idx ON support_access_grants (workspace_id, support_user_id, expires_at DESC);
CREATE INDEX support_access_grants_support_user_idx ON support_access_grants (support_user_id);

ALTER TABLE support_access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON support_access_grants
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON support_access_grants FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON support_access_grants FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT ON support_access_grants TO atrium_app;

-- Owners may ask to be mailed at every grant (one mail per grant, not per page view). The
-- membership lookup (20261201010901_reversible_deletion) also answers the setting, so the settings
-- page reads it with the request's frame.
ALTER TABLE workspaces ADD COLUMN notify_support_access boolean NOT NULL DEFAULT false;
DROP FUNCTION atrium_member_workspace(text, uuid);
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz,
               require_two_factor boolean, notify_support_access boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at, w.require_two_factor, w.notify_support_access
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user AND w.deleted_at IS NULL;
END
$$;
REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid) TO atrium_app;

-- Before support opens a workspace: the workspace with that slug (also one scheduled for
-- deletion) and the caller's grant in force at p_now, if any. It answers only for support staff
-- whose account is not disabled, and only the grant's own fields.
CREATE FUNCTION atrium_support_access(p_slug text, p_user uuid, p_now timestamptz)
RETURNS TABLE (workspace_id uuid, name text, slug text, tier workspace_tier, created_at timestamptz, deleted_at timestamptz,
               grant_id uuid, reason text, ticket text, expires_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user AND u.staff_role = 'support' AND u.disabled_at IS NULL) THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, w.created_at, w.deleted_at, g.id, g.reason, g.ticket, g.expires_at
  FROM workspaces w
  LEFT JOIN LATERAL (
    SELECT g.id, g.reason, g.ticket, g.expires_at FROM support_access_grants g
    WHERE g.workspace_id = w.id AND g.support_user_id = p_user AND g.granted_at <= p_now AND g.expires_at > p_now
    ORDER BY g.expires_at DESC LIMIT 1) g ON true
  WHERE w.slug = p_slug;
END
$$;
REVOKE ALL ON FUNCTION atrium_support_access(text, uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_support_access(text, uuid, timestamptz) TO atrium_app;
