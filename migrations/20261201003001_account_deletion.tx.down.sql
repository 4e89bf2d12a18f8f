DROP FUNCTION IF EXISTS atrium_sole_owned_shared(uuid);
DROP FUNCTION IF EXISTS atrium_erase_user(uuid);
DROP FUNCTION IF EXISTS atrium_scrub_jsonb(jsonb, text, text, text, text);
DROP POLICY IF EXISTS owner_erase ON audit_events;
-- Events of deleted users keep actor ids that name nobody: the key comes back for new rows only.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_user_id_fkey
  FOREIGN KEY (actor_user_id) REFERENCES users (id) ON DELETE SET NULL NOT VALID;
