-- Every audit log line is also the webhook event audit.event, for endpoints subscribed to it
-- (or to audit.*): emitted by a trigger in the insert's own statement, like the task events, so
-- recording an event costs no round trip more. The data is the event with its place in the hash
-- chain; its time is the event's own (the caller's clock). A quota refusal skipped as already
-- audited inserts no row and emits nothing.
CREATE FUNCTION atrium_audit_webhook_event() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM atrium_emit_event(NEW.workspace_id, NULL, 'audit.event',
    jsonb_build_object('id', NEW.id, 'seq', NEW.seq, 'action', NEW.action, 'actor_user_id', NEW.actor_user_id,
                       'actor_key_id', NEW.actor_key_id, 'target', NEW.target, 'details', NEW.details, 'ip', NEW.ip,
                       'created_at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'prev_hash', NEW.prev_hash, 'hash', NEW.hash),
    NEW.created_at);
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_webhook AFTER INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION atrium_audit_webhook_event();
