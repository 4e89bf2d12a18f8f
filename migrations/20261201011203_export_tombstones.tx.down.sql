CREATE FUNCTION atrium_expired_export_workspaces(p_now timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT workspace_id FROM workspace_exports
  WHERE expires_at < p_now ORDER BY workspace_id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_expired_export_workspaces(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_expired_export_workspaces(timestamptz, integer) TO atrium_app;
DROP FUNCTION atrium_expired_export_workspaces(timestamptz, timestamptz, integer);

-- Tombstones go (row-level security binds the owner too: lift it for the delete).
ALTER TABLE workspace_exports NO FORCE ROW LEVEL SECURITY;
DELETE FROM workspace_exports WHERE status = 'expired';
ALTER TABLE workspace_exports FORCE ROW LEVEL SECURITY;
ALTER TABLE workspace_exports DROP CONSTRAINT workspace_exports_status_check,
  ADD CONSTRAINT workspace_exports_status_check CHECK (status IN ('queued', 'running', 'ready', 'failed'));
