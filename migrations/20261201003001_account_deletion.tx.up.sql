-- Deleting an account. The audit log keeps its events, but a deleted person is no longer named in
-- them: atrium_erase_user rewrites that person's events (the only UPDATE the append-only table
-- ever sees, and only through this function) and deletes the user row.
--
-- The actor of an event of a deleted person becomes a pseudonym: a fresh random id, the same for all
-- of that person's events (so the log still reads "the same deleted user did this and that") and
-- unlinked to the id the person had anywhere else. The foreign key from actor_user_id to users goes:
-- an actor id that names no user is shown as "deleted user".
ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_actor_user_id_fkey;

-- The owner runs atrium_erase_user (SECURITY DEFINER); FORCE ROW LEVEL SECURITY holds it to the
-- policies too, and the runtime role still has no UPDATE grant on the table.
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_erase ON audit_events FOR UPDATE TO %I USING (true) WITH CHECK (true)', current_user);
END $$;

-- atrium_scrub_jsonb rewrites every string of a jsonb value: the person's old id becomes the
-- pseudonym, their exact name becomes 'deleted user', and their email, wherever it appears in a
-- string, becomes 'deleted user'. Keys are kept.
CREATE FUNCTION atrium_scrub_jsonb(j jsonb, p_old text, p_new text, p_email text, p_name text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public AS $$
DECLARE
  s text;
BEGIN
  CASE jsonb_typeof(j)
  WHEN 'object' THEN
    RETURN (SELECT coalesce(jsonb_object_agg(e.key, atrium_scrub_jsonb(e.value, p_old, p_new, p_email, p_name)), '{}'::jsonb)
            FROM jsonb_each(j) AS e);
  WHEN 'array' THEN
    RETURN (SELECT coalesce(jsonb_agg(atrium_scrub_jsonb(a.value, p_old, p_new, p_email, p_name) ORDER BY a.n), '[]'::jsonb)
            FROM jsonb_array_elements(j) WITH ORDINALITY AS a(value, n));
  WHEN 'string' THEN
    s := j #>> '{}';
    IF s = p_old THEN
      RETURN to_jsonb(p_new);
    END IF;
    IF p_name <> '' AND s = p_name THEN
      RETURN to_jsonb('deleted user'::text);
    END IF;
    IF p_email <> '' AND strpos(lower(s), p_email) > 0 THEN
      RETURN to_jsonb(replace(lower(s), p_email, 'deleted user'));
    END IF;
    RETURN j;
  ELSE
    RETURN j;
  END CASE;
END
$$;

-- atrium_erase_user deletes a user who no longer belongs to any workspace and has no session,
-- after anonymising the audit events that name them: those they acted in (actor id to the
-- pseudonym, the client IP erased) and those about them (their email in the target or the details,
-- their id in the details). It returns how many events it rewrote. The caller ends the
-- memberships and sessions first, in the same transaction.
CREATE FUNCTION atrium_erase_user(p_user uuid)
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

-- The workspaces a user is the only owner of while others are members: what stops the user from
-- deleting their account. A lookup across the user's own memberships, like atrium_user_workspaces.
CREATE FUNCTION atrium_sole_owned_shared(p_user uuid)
RETURNS TABLE (id uuid, name text, slug text, members bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id, w.name, w.slug, (SELECT count(*) FROM workspace_members a WHERE a.workspace_id = w.id)
  FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
  WHERE m.user_id = p_user AND m.role = 'owner'
    AND NOT EXISTS (SELECT 1 FROM workspace_members o
                    WHERE o.workspace_id = w.id AND o.role = 'owner' AND o.user_id <> p_user)
    AND EXISTS (SELECT 1 FROM workspace_members x WHERE x.workspace_id = w.id AND x.user_id <> p_user)
  ORDER BY lower(w.name), w.slug
$$;

REVOKE ALL ON FUNCTION atrium_scrub_jsonb(jsonb, text, text, text, text), atrium_erase_user(uuid),
  atrium_sole_owned_shared(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_erase_user(uuid), atrium_sole_owned_shared(uuid) TO atrium_app;
