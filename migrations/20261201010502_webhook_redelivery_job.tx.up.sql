-- A redelivery's job: unique per delivery and redelivery (p_round, the redelivery's time), not per
-- delivery alone. The delivery's first job may still be running (River marks it completed a moment
-- after the attempt) when the delivery is redelivered; a key per delivery would then skip the new
-- job and leave the delivery pending with no job. Two jobs for one delivery are harmless: a job
-- sends only under its endpoint's turn and only a pending delivery.
CREATE FUNCTION atrium_queue_webhook(p_ws uuid, p_id uuid, p_round text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, unique_key, unique_states)
    VALUES (jsonb_build_object('workspace_id', p_ws, 'delivery_id', p_id), 'webhook_delivery', 25, 1, 'webhooks',
            'available', sha256(convert_to('atrium-webhook-delivery:' || p_id::text || ':' || p_round, 'UTF8')), B'11110001')
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL
      AND river_job_state_in_bitmask(unique_states, state) DO NOTHING
$$;
REVOKE ALL ON FUNCTION atrium_queue_webhook(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_queue_webhook(uuid, uuid, text) TO atrium_app;
