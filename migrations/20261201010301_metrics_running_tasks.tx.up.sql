-- The metrics' running-tasks gauge: every workspace's running tasks, counted from the partial
-- index tasks_running_id_idx. It runs with the caller's rights (no SECURITY DEFINER): inside the
-- support console's read-only cross-tenant read (app.cross_tenant = 'read') row-level security
-- lets it see every workspace's rows; anywhere else it sees what the caller may see.
CREATE FUNCTION atrium_running_tasks_count() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM tasks WHERE status = 'running'
$$;

REVOKE ALL ON FUNCTION atrium_running_tasks_count() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_running_tasks_count() TO atrium_app;
