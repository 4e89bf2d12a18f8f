DROP FUNCTION atrium_expired_export_workspaces(timestamptz, integer);
DROP TABLE workspace_export_chunks;
DROP TABLE workspace_exports;
