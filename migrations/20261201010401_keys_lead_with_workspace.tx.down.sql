-- Key prefixes unique on their own again.
DROP INDEX api_keys_prefix_idx;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_prefix_key;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);
DROP TRIGGER api_keys_reserve_new_prefix ON api_keys;
DROP TRIGGER api_keys_reserve_prefix ON api_keys;
DROP FUNCTION atrium_reserve_key_prefix();
DROP TABLE api_key_prefixes;

-- Invitation tokens unique on their own again.
DROP INDEX invitations_token_hash_idx;
ALTER TABLE invitations DROP CONSTRAINT invitations_token_hash_key;
ALTER TABLE invitations ADD CONSTRAINT invitations_token_hash_key UNIQUE (token_hash);

-- Platform events back into audit_events, with a NULL workspace.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);
ALTER TABLE audit_events ALTER COLUMN workspace_id DROP NOT NULL;
CREATE POLICY platform_insert ON audit_events FOR INSERT WITH CHECK (workspace_id IS NULL);
INSERT INTO audit_events (id, workspace_id, actor_user_id, action, target, details, ip, created_at)
  SELECT id, NULL, actor_user_id, action, target, details, ip, created_at FROM platform_events;

-- atrium_erase_user as 20261201003001_account_deletion made it.
CREATE OR REPLACE FUNCTION atrium_erase_user(p_user uuid)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_email text;
  v_name  text;
  v_pseud uuid := gen_random_uuid();
  v_n     bigint;
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
  DELETE FROM login_failures WHERE scope = 'account' AND key = v_email;
  DELETE FROM users WHERE id = p_user;
  RETURN v_n;
END
$$;
DROP TABLE platform_events;
