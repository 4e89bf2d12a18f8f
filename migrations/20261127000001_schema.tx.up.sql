-- The whole data model. Every tenant-owned table leads its primary key with workspace_id and every
-- foreign key between tenant tables carries it, so a row can never point into another workspace.

CREATE EXTENSION IF NOT EXISTS citext;

-- The runtime role: not the owner, not superuser, no BYPASSRLS. Roles are cluster-wide, so several
-- databases in one cluster (tests) may race to create it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atrium_app') THEN
    CREATE ROLE atrium_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- The owner connects and switches to atrium_app when no separate runtime URL is configured.
DO $$
BEGIN
  EXECUTE format('GRANT atrium_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN NULL;
END $$;

CREATE TYPE workspace_tier AS ENUM ('free', 'starter', 'pro', 'enterprise');
CREATE TYPE member_role AS ENUM ('owner', 'admin', 'member', 'viewer');
CREATE TYPE task_status AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');
CREATE TYPE key_scope AS ENUM ('read', 'read_write');

CREATE TABLE users (
  id            uuid PRIMARY KEY,
  email         citext NOT NULL UNIQUE,
  password_hash text NOT NULL,
  name          text NOT NULL DEFAULT '',
  staff_role    text NOT NULL DEFAULT '' CHECK (staff_role IN ('', 'support')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  disabled_at   timestamptz
);

CREATE TABLE workspaces (
  id         uuid PRIMARY KEY,
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
  slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
  tier       workspace_tier NOT NULL DEFAULT 'free',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_members (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role         member_role NOT NULL DEFAULT 'member',
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz,
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);

CREATE TABLE invitations (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL,
  email        citext NOT NULL,
  role         member_role NOT NULL,
  token_hash   text NOT NULL UNIQUE,
  invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  accepted_at  timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX invitations_pending_email_idx ON invitations (workspace_id, email)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;

CREATE TABLE api_keys (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
  prefix       text NOT NULL UNIQUE,
  secret_hash  bytea NOT NULL,
  scope        key_scope NOT NULL DEFAULT 'read',
  created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX api_keys_created_by_idx ON api_keys (workspace_id, created_by);

CREATE TABLE agents (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
  status       text NOT NULL DEFAULT 'active',
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX agents_workspace_created_idx ON agents (workspace_id, created_at);

CREATE TABLE tasks (
  workspace_id  uuid NOT NULL,
  id            uuid NOT NULL,
  agent_id      uuid NOT NULL,
  status        task_status NOT NULL DEFAULT 'queued',
  input         text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, id),
  FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX tasks_workspace_status_idx ON tasks (workspace_id, status);
CREATE INDEX tasks_workspace_created_idx ON tasks (workspace_id, created_at);

CREATE TABLE messages (
  workspace_id uuid NOT NULL,
  id           uuid NOT NULL,
  task_id      uuid NOT NULL,
  role         text NOT NULL,
  body         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id),
  FOREIGN KEY (workspace_id, task_id) REFERENCES tasks (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_workspace_task_created_idx ON messages (workspace_id, task_id, created_at);

CREATE TABLE usage_hourly (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  hour          timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
  api_calls     bigint NOT NULL DEFAULT 0,
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, hour)
);

-- Append-only: the runtime role may insert and read, never update or delete.
CREATE TABLE audit_events (
  id            uuid PRIMARY KEY,
  workspace_id  uuid REFERENCES workspaces (id) ON DELETE CASCADE,
  actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  actor_key_id  uuid,
  action        text NOT NULL,
  target        text NOT NULL DEFAULT '',
  details       jsonb NOT NULL DEFAULT '{}',
  ip            text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_workspace_created_idx ON audit_events (workspace_id, created_at DESC, id DESC);

-- scs's PostgreSQL store.
CREATE TABLE sessions (
  token  text PRIMARY KEY,
  data   bytea NOT NULL,
  expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Row-level security. A request binds its transaction to one workspace with
-- set_config('app.workspace_id', id, true); without it the comparison is with NULL and nothing
-- matches, so a forgotten binding fails closed. Support's read-only look across workspaces sets
-- app.cross_tenant = 'read' in a READ ONLY transaction. The owner keeps read access for the
-- SECURITY DEFINER lookups below (FORCE would otherwise hide every row from them too).
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['workspace_members', 'invitations', 'api_keys', 'agents', 'tasks',
                           'messages', 'usage_hourly', 'audit_events']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
      WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)$p$, t);
    EXECUTE format($p$CREATE POLICY support_read ON %I FOR SELECT
      USING (current_setting('app.cross_tenant', true) = 'read')$p$, t);
    EXECUTE format('CREATE POLICY owner_read ON %I FOR SELECT TO %I USING (true)', t, current_user);
  END LOOP;
END $$;

-- The workspace row itself belongs to its tenant.
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspaces
  USING (id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON workspaces FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON workspaces FOR SELECT TO %I USING (true)', current_user);
END $$;

-- Platform events (no workspace) may be written by anyone signed in, and read by nobody but the owner.
CREATE POLICY platform_insert ON audit_events FOR INSERT WITH CHECK (workspace_id IS NULL);

-- Lookups that cross tenants by nature. Each returns only what its caller must know.
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE w.slug = p_slug AND m.user_id = p_user
$$;

CREATE FUNCTION atrium_user_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, joined_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.created_at
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user
  ORDER BY lower(w.name), w.slug
$$;

CREATE FUNCTION atrium_slug_taken(p_slug text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM workspaces WHERE slug = p_slug)
$$;

CREATE FUNCTION atrium_api_key_by_prefix(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, scope key_scope, created_by uuid,
               expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT k.id, k.workspace_id, k.secret_hash, k.scope, k.created_by, k.expires_at, k.revoked_at,
         k.last_used_at, w.tier
  FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
  WHERE k.prefix = p_prefix
$$;

REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid), atrium_user_workspaces(uuid),
  atrium_slug_taken(text), atrium_api_key_by_prefix(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid), atrium_user_workspaces(uuid),
  atrium_slug_taken(text), atrium_api_key_by_prefix(text) TO atrium_app;

GRANT USAGE ON SCHEMA public TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, workspaces, workspace_members, invitations, api_keys,
  agents, tasks, messages, usage_hourly, sessions TO atrium_app;
GRANT SELECT, INSERT ON audit_events TO atrium_app;
