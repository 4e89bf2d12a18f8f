-- Every tenant table's primary key and unique constraints lead with workspace_id, so the schema
-- can be distributed by workspace_id (Citus-style: every tenant table sharded on it and
-- co-located, users and workspaces reference tables). Three keys did not:
--
-- 1. audit_events was keyed by id alone, because platform events (sign-ups, password changes, a
--    workspace's deletion) had no workspace. They move to platform_events, a table of their own
--    that belongs to no workspace, and audit_events gets workspace_id NOT NULL and the primary key
--    (workspace_id, id).
-- 2. invitations.token_hash was unique on its own. It becomes unique per workspace; the token is
--    256 random bits, so the lookup by token (atrium_invitation_by_token, which crosses tenants by
--    nature) keeps a plain index.
-- 3. api_keys.prefix was unique on its own, and there the uniqueness matters: a presented key is
--    found by its public prefix alone. The prefixes are reserved in api_key_prefixes, a global table
--    (a reference table once distributed) written by a trigger on each new key, whose primary key
--    keeps them unique across workspaces; a collision is the same unique violation as before, which
--    key creation retries. A reserved prefix is never given again, also after its key is gone.

-- 1. Platform events.
CREATE TABLE platform_events (
  id            uuid PRIMARY KEY,
  actor_user_id uuid,
  action        text NOT NULL,
  target        text NOT NULL DEFAULT '',
  details       jsonb NOT NULL DEFAULT '{}',
  ip            text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_events_created_idx ON platform_events (created_at DESC, id DESC);
CREATE INDEX platform_events_actor_idx ON platform_events (actor_user_id);
-- Written by anyone signed in, read by nobody but the owner (as the platform rows of audit_events
-- were).
GRANT INSERT ON platform_events TO atrium_app;

INSERT INTO platform_events (id, actor_user_id, action, target, details, ip, created_at)
  SELECT id, actor_user_id, action, target, details, ip, created_at FROM audit_events WHERE workspace_id IS NULL;
-- The table is append-only under row-level security, for its owner too: lift that for the move.
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;
DELETE FROM audit_events WHERE workspace_id IS NULL;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
DROP POLICY platform_insert ON audit_events;
ALTER TABLE audit_events ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (workspace_id, id);

-- Erasing a person rewrites their platform events as it does their workspaces' events. Based on
-- 20261201003001_account_deletion; only the platform_events update is new.
CREATE OR REPLACE FUNCTION atrium_erase_user(p_user uuid)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_email text;
  v_name  text;
  v_pseud uuid := gen_random_uuid();
  v_n     bigint;
  v_p     bigint;
BEGIN
  SELECT lower(u.email::text), u.name INTO v_email, v_name FROM users u WHERE u.id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'atrium_erase_user: no such user' USING ERRCODE = 'no_data_found';
  END IF;
  IF EXISTS (SELECT 1 FROM workspace_members m WHERE m.user_id = p_user)
     OR EXISTS (SELECT 1 FROM user_sessions s WHERE s.user_id = p_user) THEN
    RAISE EXCEPTION 'atrium_erase_user: the user still has memberships or sessions'
      USING ERRCODE = 'object_in_use';
  END IF;
  UPDATE audit_events AS e SET
    actor_user_id = CASE WHEN e.actor_user_id = p_user THEN v_pseud ELSE e.actor_user_id END,
    ip = CASE WHEN e.actor_user_id = p_user THEN '' ELSE e.ip END,
    target = CASE WHEN strpos(lower(e.target), v_email) > 0 THEN replace(lower(e.target), v_email, 'deleted user')
                  WHEN e.target = p_user::text THEN v_pseud::text ELSE e.target END,
    details = atrium_scrub_jsonb(e.details, p_user::text, v_pseud::text, v_email, v_name)
  WHERE e.actor_user_id = p_user
     OR strpos(lower(e.target), v_email) > 0
     OR e.target = p_user::text
     OR strpos(lower(e.details::text), v_email) > 0
     OR strpos(e.details::text, p_user::text) > 0;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  UPDATE platform_events AS e SET
    actor_user_id = CASE WHEN e.actor_user_id = p_user THEN v_pseud ELSE e.actor_user_id END,
    ip = CASE WHEN e.actor_user_id = p_user THEN '' ELSE e.ip END,
    target = CASE WHEN strpos(lower(e.target), v_email) > 0 THEN replace(lower(e.target), v_email, 'deleted user')
                  WHEN e.target = p_user::text THEN v_pseud::text ELSE e.target END,
    details = atrium_scrub_jsonb(e.details, p_user::text, v_pseud::text, v_email, v_name)
  WHERE e.actor_user_id = p_user
     OR strpos(lower(e.target), v_email) > 0
     OR e.target = p_user::text
     OR strpos(lower(e.details::text), v_email) > 0
     OR strpos(e.details::text, p_user::text) > 0;
  GET DIAGNOSTICS v_p = ROW_COUNT;
  DELETE FROM login_failures WHERE scope = 'account' AND key = v_email;
  DELETE FROM users WHERE id = p_user;
  RETURN v_n + v_p;
END
$$;

-- 2. Invitation tokens.
ALTER TABLE invitations DROP CONSTRAINT invitations_token_hash_key;
ALTER TABLE invitations ADD CONSTRAINT invitations_token_hash_key UNIQUE (workspace_id, token_hash);
CREATE INDEX invitations_token_hash_idx ON invitations (token_hash);

-- 3. Key prefixes.
-- key_workspace_id says where the key lives (it is not named workspace_id: the table belongs to no
-- workspace, and once distributed it routes a lookup by prefix to the key's shard).
CREATE TABLE api_key_prefixes (
  prefix           text PRIMARY KEY,
  key_workspace_id uuid NOT NULL
);
INSERT INTO api_key_prefixes (prefix, key_workspace_id) SELECT prefix, workspace_id FROM api_keys;
CREATE FUNCTION atrium_reserve_key_prefix()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO api_key_prefixes (prefix, key_workspace_id) VALUES (NEW.prefix, NEW.workspace_id);
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION atrium_reserve_key_prefix() FROM PUBLIC;
CREATE TRIGGER api_keys_reserve_prefix BEFORE INSERT ON api_keys
  FOR EACH ROW EXECUTE FUNCTION atrium_reserve_key_prefix();
CREATE TRIGGER api_keys_reserve_new_prefix BEFORE UPDATE OF prefix ON api_keys
  FOR EACH ROW WHEN (OLD.prefix IS DISTINCT FROM NEW.prefix) EXECUTE FUNCTION atrium_reserve_key_prefix();
ALTER TABLE api_keys DROP CONSTRAINT api_keys_prefix_key;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_prefix_key UNIQUE (workspace_id, prefix);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);
