-- Two-factor authentication: a TOTP authenticator per user, its recovery codes, the workspace's
-- "require two-factor" setting, and the second step's own throttle counts.

-- One authenticator per user. enabled_at is NULL while enrolment waits for its first code.
-- last_step is the last 30-second step a code was accepted for: a code is accepted only for a
-- later step, by one conditional UPDATE, so the same code never passes twice.
CREATE TABLE user_totp (
  user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret     text NOT NULL,
  enabled_at timestamptz,
  last_step  bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes: only their SHA-256 is kept (each is 50 random bits, so no slow hash is needed);
-- used_at marks one spent.
CREATE TABLE user_recovery_codes (
  user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  used_at   timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- Whether the user has a second factor. Every check (log-in, the request frame, the members page,
-- the workspace requirement) asks this one function, so another kind of factor is added here.
CREATE FUNCTION atrium_has_second_factor(p_user uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM user_totp WHERE user_id = p_user AND enabled_at IS NOT NULL);
END
$$;

ALTER TABLE workspaces ADD COLUMN require_two_factor boolean NOT NULL DEFAULT false;

-- The membership lookup also says whether the workspace requires a second factor.
DROP FUNCTION atrium_member_workspace(text, uuid);
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
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

-- Failed second steps count apart from failed passwords, per user and per IP.
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
  CHECK (scope IN ('account', 'ip', 'second_user', 'second_ip'));

REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid), atrium_has_second_factor(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid), atrium_has_second_factor(uuid) TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_totp, user_recovery_codes TO atrium_app;
