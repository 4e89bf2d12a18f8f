-- The members page shows one page of a workspace's members, owners first, then by name and email.
-- Name and email live in users, so no index could give that order and every view joined and
-- sorted all the workspace's members to show 50. Each membership now keeps its member's sort keys
-- (the lower-cased name, and the email, the same type as in users so they sort alike), kept by
-- triggers in the transaction of every change; an index in the page's order reads only the rows
-- of the page. Under row-level security this works because the index's only condition is
-- workspace_id (a leakproof uuid comparison); the order comes from the index itself.
ALTER TABLE workspace_members
  ADD COLUMN sort_name  text   NOT NULL DEFAULT '',
  ADD COLUMN sort_email citext NOT NULL DEFAULT '';

-- A user's new name or email reaches all their memberships, whichever workspace is bound (or none):
-- the update runs as the tables' owner, which this policy lets update memberships. The owner
-- already reads every row (owner_read); the application's role gains nothing.
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_sort_keys ON workspace_members FOR UPDATE TO %I USING (true) WITH CHECK (true)', current_user);
END $$;

UPDATE workspace_members AS m SET sort_name = lower(u.name), sort_email = u.email FROM users AS u WHERE u.id = m.user_id;

CREATE FUNCTION atrium_member_sort_keys() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  SELECT lower(u.name), u.email INTO NEW.sort_name, NEW.sort_email FROM users AS u WHERE u.id = NEW.user_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER workspace_members_sort_keys BEFORE INSERT OR UPDATE OF user_id ON workspace_members
  FOR EACH ROW EXECUTE FUNCTION atrium_member_sort_keys();

CREATE FUNCTION atrium_user_sort_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE workspace_members SET sort_name = lower(NEW.name), sort_email = NEW.email WHERE user_id = NEW.id;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION atrium_user_sort_keys() FROM PUBLIC;
CREATE TRIGGER users_sort_keys AFTER UPDATE OF name, email ON users
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
  EXECUTE FUNCTION atrium_user_sort_keys();

-- The members page's order. Other orders of the list each want an index of their own in the same
-- shape, (workspace_id, key…, a unique tie-break): by name (sort_name, sort_email), by date joined
-- (created_at, user_id).
CREATE INDEX workspace_members_page_idx ON workspace_members (workspace_id, role, sort_name, sort_email);

-- The owner count: `role = 'owner'` compares an enum, not leakproof, so under row-level security
-- it is a filter over every member; a partial index whose predicate the query implies reads the
-- owners only.
CREATE INDEX workspace_members_owners_idx ON workspace_members (workspace_id) WHERE role = 'owner';
