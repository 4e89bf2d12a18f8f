-- An expired export leaves a tombstone: the retention sweep deletes its zip (the chunks) when the
-- link expires and marks the row 'expired', so the link keeps answering "expired" (410) instead of
-- "not found"; the row itself goes 30 days after the expiry (models.ExportTombstoneRetention).
ALTER TABLE workspace_exports DROP CONSTRAINT workspace_exports_status_check,
  ADD CONSTRAINT workspace_exports_status_check CHECK (status IN ('queued', 'running', 'ready', 'failed', 'expired'));

-- The sweep's question, now with two cutoffs: exports whose link expired and are not yet
-- tombstones (their zip to delete, or a failed build's row), and tombstones older than
-- p_tombstone_before (the rows to delete).
CREATE FUNCTION atrium_expired_export_workspaces(p_now timestamptz, p_tombstone_before timestamptz, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT workspace_id FROM workspace_exports
  WHERE (status <> 'expired' AND expires_at < p_now) OR (status = 'expired' AND expires_at < p_tombstone_before)
  ORDER BY workspace_id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_expired_export_workspaces(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_expired_export_workspaces(timestamptz, timestamptz, integer) TO atrium_app;
DROP FUNCTION atrium_expired_export_workspaces(timestamptz, integer);
