DROP FUNCTION atrium_audit_prune(uuid, bigint, text, text, timestamptz);
DROP POLICY owner_prune ON audit_events;
DROP FUNCTION atrium_audit_retention_workspaces(timestamptz, integer, integer, integer, integer, integer);
ALTER TABLE workspaces DROP COLUMN audit_retention_days;
