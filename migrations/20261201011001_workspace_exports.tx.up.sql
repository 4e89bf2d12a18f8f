-- Workspace exports: an owner asks for a zip of the workspace's data; a background job builds it
-- and stores it here, in chunks, under row-level security like every tenant table. Storing it in
-- the database (not on a disk of one server) lets any process of a fleet serve the download, keeps
-- it behind the same tenant walls as the rows it was made from, and lets the retention sweep drop
-- it with one delete when its link expires.
CREATE TABLE workspace_exports (
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id            uuid NOT NULL,
  requested_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'ready', 'failed')),
  -- Progress: rows written of the rows counted when the build began.
  rows_done     bigint NOT NULL DEFAULT 0,
  rows_total    bigint NOT NULL DEFAULT 0,
  -- The download link's random part (32 bytes, base64url): the link is unguessable, and works
  -- only for an owner of this workspace, and only until expires_at.
  token         text NOT NULL,
  file_name     text NOT NULL DEFAULT '',
  size_bytes    bigint NOT NULL DEFAULT 0,
  sha256        text NOT NULL DEFAULT '',
  error         text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  expires_at    timestamptz,
  PRIMARY KEY (workspace_id, id),
  CONSTRAINT workspace_exports_token_key UNIQUE (workspace_id, token)
);
CREATE INDEX workspace_exports_created_idx ON workspace_exports (workspace_id, created_at DESC);
CREATE INDEX workspace_exports_expires_idx ON workspace_exports (expires_at);

CREATE TABLE workspace_export_chunks (
  workspace_id uuid NOT NULL,
  export_id    uuid NOT NULL,
  seq          integer NOT NULL,
  data         bytea NOT NULL,
  PRIMARY KEY (workspace_id, export_id, seq),
  FOREIGN KEY (workspace_id, export_id) REFERENCES workspace_exports (workspace_id, id) ON DELETE CASCADE
);
-- The chunks are already compressed.
ALTER TABLE workspace_export_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['workspace_exports', 'workspace_export_chunks'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
      WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)$p$, t);
    EXECUTE format('CREATE POLICY owner_read ON %I FOR SELECT TO %I USING (true)', t, current_user);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON workspace_exports, workspace_export_chunks TO atrium_app;

-- The retention sweep's question: which workspaces have an export whose link expired (or a build
-- that failed and is a day old). Only the ids; the deletes run inside each workspace's own
-- transaction, under row-level security.
CREATE FUNCTION atrium_expired_export_workspaces(p_now timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT workspace_id FROM workspace_exports
  WHERE expires_at < p_now ORDER BY workspace_id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_expired_export_workspaces(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_expired_export_workspaces(timestamptz, integer) TO atrium_app;
