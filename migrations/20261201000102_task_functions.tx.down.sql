DROP FUNCTION IF EXISTS atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS atrium_start_task(uuid, uuid, uuid, text, timestamptz, workspace_tier, bigint, bigint, timestamptz, timestamptz);
