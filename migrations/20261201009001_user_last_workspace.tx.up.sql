-- The workspace a person opened last, kept with the person rather than the session, so that a
-- log-in on any device lands there. It is written only when it changes (opening another
-- workspace), never on every request; a deleted workspace leaves nothing behind.
ALTER TABLE users ADD COLUMN last_workspace_id uuid REFERENCES workspaces (id) ON DELETE SET NULL;
CREATE INDEX users_last_workspace_idx ON users (last_workspace_id) WHERE last_workspace_id IS NOT NULL;
