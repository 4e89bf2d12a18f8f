DROP FUNCTION IF EXISTS atrium_running_tasks_count();
