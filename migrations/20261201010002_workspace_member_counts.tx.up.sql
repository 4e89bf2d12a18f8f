-- Each workspace's member count, kept by triggers on workspace_members in the transaction of every
-- change, so that the pages that show it (overview, members, usage, settings) read one row rather
-- than counting every member through row-level security's policy, however many members there are.
-- The memberships stay the source of truth.
CREATE TABLE workspace_member_counts (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  members      bigint NOT NULL DEFAULT 0
);

INSERT INTO workspace_member_counts (workspace_id, members)
SELECT workspace_id, count(*) FROM workspace_members GROUP BY workspace_id;

-- Statement-level, with the statement's rows as a transition table: one upsert per workspace a
-- statement touches, however many memberships it adds or removes.
CREATE FUNCTION atrium_member_count_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO workspace_member_counts AS c (workspace_id, members)
    SELECT workspace_id, count(*) FROM added GROUP BY workspace_id
    ON CONFLICT (workspace_id) DO UPDATE SET members = c.members + EXCLUDED.members;
  ELSE
    -- An UPDATE, never an insert: on a workspace's deletion the cascade reaches its memberships
    -- while the workspace row is already gone, and a new count row could not reference it.
    UPDATE workspace_member_counts AS c SET members = c.members - d.n
    FROM (SELECT workspace_id, count(*) AS n FROM removed GROUP BY workspace_id) AS d
    WHERE c.workspace_id = d.workspace_id;
  END IF;
  RETURN NULL;
END
$$;

-- A membership that moves to another workspace (the application never does it) is counted out
-- of one and into the other.
CREATE FUNCTION atrium_member_count_move() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE workspace_member_counts SET members = members - 1 WHERE workspace_id = OLD.workspace_id;
  INSERT INTO workspace_member_counts AS c (workspace_id, members) VALUES (NEW.workspace_id, 1)
  ON CONFLICT (workspace_id) DO UPDATE SET members = c.members + 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER workspace_members_count_insert AFTER INSERT ON workspace_members
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION atrium_member_count_sync();
CREATE TRIGGER workspace_members_count_delete AFTER DELETE ON workspace_members
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION atrium_member_count_sync();
CREATE TRIGGER workspace_members_count_move AFTER UPDATE OF workspace_id ON workspace_members
  FOR EACH ROW WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id) EXECUTE FUNCTION atrium_member_count_move();

ALTER TABLE workspace_member_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspace_member_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspace_member_counts
  USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
  WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid);
CREATE POLICY support_read ON workspace_member_counts FOR SELECT
  USING (current_setting('app.cross_tenant', true) = 'read');
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_read ON workspace_member_counts FOR SELECT TO %I USING (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE ON workspace_member_counts TO atrium_app;
