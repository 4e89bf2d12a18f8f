-- Baseline: the whole schema as it stood before the first deployment. Like every migration, once
-- applied it is never edited again; a change to the schema goes in a new, later-numbered file.
--
-- The data model. Every tenant-owned table leads its primary key with workspace_id and every
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
-- The members page lists a workspace's invitations newest first.
CREATE INDEX invitations_workspace_created_idx ON invitations (workspace_id, created_at DESC);

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
  -- Rolling a key: the new secret takes over at once, the previous one keeps working until
  -- previous_valid_until (the grace period the owner chose), so clients can move without an
  -- outage. Both are SHA-256 hashes; neither secret is stored.
  previous_secret_hash bytea,
  previous_valid_until timestamptz,
  rolled_at            timestamptz,
  PRIMARY KEY (workspace_id, id),
  CONSTRAINT api_keys_previous_check CHECK ((previous_secret_hash IS NULL) = (previous_valid_until IS NULL))
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
-- This hour's row of every workspace (the support console's table): one index range instead of a
-- scan of all hourly rows. The metering upsert never changes `hour`, so its updates stay
-- HOT-eligible.
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);

-- Agent-minutes per workspace and calendar month (UTC), kept by triggers on usage_hourly, so that
-- "this month" for 10,000 workspaces is 10,000 rows rather than millions of hourly ones. The
-- hourly rows stay the source of truth: the usage page and the quota checks read them.
CREATE TABLE usage_monthly (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  month         timestamptz NOT NULL CHECK (date_trunc('month', month, 'UTC') = month),
  agent_minutes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, month)
);

-- The triggers fire only when agent_minutes moves (a task's completion), never for the API-call
-- increments on the hot path: an insert of a new hour by an API call carries 0 minutes, and its
-- upsert sets api_calls only, which an UPDATE OF agent_minutes trigger does not see.
CREATE FUNCTION atrium_usage_monthly_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    -- An UPDATE, never an insert: on a workspace's deletion the cascade reaches usage_hourly
    -- while the workspace row is already gone, and a new rollup row could not reference it.
    UPDATE usage_monthly SET agent_minutes = agent_minutes - OLD.agent_minutes
    WHERE workspace_id = OLD.workspace_id AND month = date_trunc('month', OLD.hour, 'UTC');
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_monthly AS m (workspace_id, month, agent_minutes)
    VALUES (NEW.workspace_id, date_trunc('month', NEW.hour, 'UTC'), NEW.agent_minutes)
    ON CONFLICT (workspace_id, month) DO UPDATE SET agent_minutes = m.agent_minutes + EXCLUDED.agent_minutes;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER usage_hourly_monthly_insert AFTER INSERT ON usage_hourly
  FOR EACH ROW WHEN (NEW.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_monthly_sync();
CREATE TRIGGER usage_hourly_monthly_update AFTER UPDATE OF agent_minutes, hour, workspace_id ON usage_hourly
  FOR EACH ROW WHEN (NEW.agent_minutes IS DISTINCT FROM OLD.agent_minutes OR NEW.hour IS DISTINCT FROM OLD.hour
                     OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id)
  EXECUTE FUNCTION atrium_usage_monthly_sync();
CREATE TRIGGER usage_hourly_monthly_delete AFTER DELETE ON usage_hourly
  FOR EACH ROW WHEN (OLD.agent_minutes <> 0) EXECUTE FUNCTION atrium_usage_monthly_sync();

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
-- Quota refusals are audited once per workspace, refusal and hour: a client hammering a full
-- quota must not flood the audit log. The insert says ON CONFLICT DO NOTHING against this index.
CREATE UNIQUE INDEX audit_events_refusal_once_idx
  ON audit_events (workspace_id, action, (details->>'hour'))
  WHERE action IN ('api.rate_limited', 'task.concurrent_limit', 'task.quota_exceeded');

-- scs's PostgreSQL store.
CREATE TABLE sessions (
  token  text PRIMARY KEY,
  data   bytea NOT NULL,
  expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Failed log-ins, for throttling per account and per client IP. Kept in the database so that any
-- number of app processes share one count.
CREATE TABLE login_failures (
  scope text NOT NULL CHECK (scope IN ('account', 'ip')),
  key   text NOT NULL,
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at_idx ON login_failures (scope, key, at);

-- A user's signed-in sessions, so /account can list them and end any one. The token is scs's
-- session token (the sessions table holds it too); ending a session deletes both rows.
CREATE TABLE user_sessions (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token        text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  user_agent   text NOT NULL DEFAULT '',
  ip           text NOT NULL DEFAULT ''
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id, last_seen_at DESC);

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
                           'messages', 'usage_hourly', 'usage_monthly', 'audit_events']
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
--
-- The membership lookup also says when the member was last seen in the workspace, so the request
-- that resolves it knows whether that time needs moving without another query.
CREATE FUNCTION atrium_member_workspace(p_slug text, p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, role member_role, last_seen_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, w.tier, m.role, m.last_seen_at
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

-- Key authentication crosses tenants by nature: the workspace is what the key tells. The lookup
-- answers only for one exact public prefix, and also says whether the key's creator may still hold
-- keys there (a member removed, demoted to viewer or disabled takes their keys' access along).
CREATE FUNCTION atrium_api_key_by_prefix_v2(p_prefix text)
RETURNS TABLE (id uuid, workspace_id uuid, secret_hash bytea, previous_secret_hash bytea,
               previous_valid_until timestamptz, scope key_scope, expires_at timestamptz,
               revoked_at timestamptz, last_used_at timestamptz, tier workspace_tier,
               creator_role member_role, creator_disabled boolean)
-- plpgsql rather than sql: it runs on every API request, and plpgsql keeps the plan of its query
-- for the connection's life, where a SECURITY DEFINER sql function is planned on every call.
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
  WHERE k.prefix = p_prefix;
END
$$;

-- The support table's numbers for every workspace at once. Under the runtime role, row-level
-- security's OR of policies hides the row counts from the planner (it expects 50 of 10,000 rows
-- and probes usage tables 20,000 times: 150 ms at 10,000 workspaces); as the owner the same joins
-- are hashed in one pass. It answers only inside the read-only cross-tenant transaction that
-- models.ReadAcrossTenants opens, the same condition as the support_read policies, and returns
-- counts only, nothing of what is inside a workspace.
CREATE FUNCTION atrium_support_workspaces(p_now timestamptz)
RETURNS TABLE (id uuid, name text, slug text, tier workspace_tier, created_at timestamptz,
               members bigint, pending bigint, agent_minutes bigint, api_calls bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  IF current_setting('app.cross_tenant', true) IS DISTINCT FROM 'read'
     OR current_setting('transaction_read_only') <> 'on' THEN
    RAISE EXCEPTION 'atrium_support_workspaces answers only in a read-only cross-tenant transaction'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
  SELECT w.id, w.name, w.slug, w.tier, w.created_at,
         coalesce(mc.n, 0), coalesce(ic.n, 0), coalesce(um.agent_minutes, 0), coalesce(uh.api_calls, 0)
  FROM workspaces AS w
  LEFT JOIN (SELECT m.workspace_id, count(*) AS n FROM workspace_members AS m GROUP BY m.workspace_id) AS mc
    ON mc.workspace_id = w.id
  LEFT JOIN (SELECT i.workspace_id, count(*) AS n FROM invitations AS i
             WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > p_now
             GROUP BY i.workspace_id) AS ic
    ON ic.workspace_id = w.id
  LEFT JOIN usage_monthly AS um ON um.workspace_id = w.id AND um.month = date_trunc('month', p_now, 'UTC')
  LEFT JOIN usage_hourly AS uh ON uh.workspace_id = w.id AND uh.hour = date_trunc('hour', p_now, 'UTC');
END
$$;

REVOKE ALL ON FUNCTION atrium_member_workspace(text, uuid), atrium_user_workspaces(uuid),
  atrium_slug_taken(text), atrium_api_key_by_prefix(text), atrium_invitation_by_token(text),
  atrium_api_key_by_prefix_v2(text), atrium_support_workspaces(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_member_workspace(text, uuid), atrium_user_workspaces(uuid),
  atrium_slug_taken(text), atrium_api_key_by_prefix(text), atrium_invitation_by_token(text),
  atrium_api_key_by_prefix_v2(text), atrium_support_workspaces(timestamptz) TO atrium_app;

GRANT USAGE ON SCHEMA public TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, workspaces, workspace_members, invitations, api_keys,
  agents, tasks, messages, usage_hourly, sessions TO atrium_app;
GRANT SELECT, INSERT ON audit_events TO atrium_app;
GRANT SELECT, INSERT, DELETE ON login_failures TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_sessions TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON usage_monthly TO atrium_app;
