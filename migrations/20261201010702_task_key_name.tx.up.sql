-- atrium_complete_task as before (20261201000102), also answering the key that started the task
-- and its name, so the API's task carries them from the same statement.
DROP FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz);
CREATE FUNCTION atrium_complete_task(p_ws uuid, p_id uuid, p_status task_status, p_now timestamptz, p_hour timestamptz)
RETURNS TABLE (changed boolean, agent_id uuid, status task_status, input text, created_at timestamptz,
               started_at timestamptz, finished_at timestamptz, agent_minutes bigint, key_id uuid, key_name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r tasks%ROWTYPE;
BEGIN
  PERFORM set_config('app.workspace_id', p_ws::text, true);
  UPDATE tasks k SET status = p_status, finished_at = p_now,
      agent_minutes = greatest(0, ceil(extract(epoch FROM (p_now - k.started_at)) / 60))::bigint
    WHERE k.workspace_id = p_ws AND k.id = p_id AND k.status IN ('running', 'queued')
    RETURNING k.* INTO r;
  IF FOUND THEN
    IF r.agent_minutes > 0 THEN
      INSERT INTO usage_hourly AS u (workspace_id, hour, agent_minutes) VALUES (p_ws, p_hour, r.agent_minutes)
        ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes;
    END IF;
    RETURN QUERY SELECT true, r.agent_id, r.status, r.input, r.created_at, r.started_at, r.finished_at, r.agent_minutes,
      r.key_id, (SELECT ak.name FROM api_keys ak WHERE ak.workspace_id = p_ws AND ak.id = r.key_id);
    RETURN;
  END IF;
  RETURN QUERY SELECT false, k.agent_id, k.status, k.input, k.created_at, k.started_at, k.finished_at, k.agent_minutes,
      k.key_id, ak.name
    FROM tasks k LEFT JOIN api_keys ak ON ak.workspace_id = k.workspace_id AND ak.id = k.key_id
    WHERE k.workspace_id = p_ws AND k.id = p_id;
END
$$;
REVOKE ALL ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_complete_task(uuid, uuid, task_status, timestamptz, timestamptz) TO atrium_app;
