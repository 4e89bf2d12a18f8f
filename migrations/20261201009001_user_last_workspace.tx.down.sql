ALTER TABLE users DROP COLUMN last_workspace_id;
