DROP FUNCTION IF EXISTS atrium_task_events() CASCADE;
DROP FUNCTION IF EXISTS atrium_emit_event(uuid, uuid, text, jsonb, timestamptz);
DROP FUNCTION IF EXISTS atrium_queue_webhook(uuid, uuid);
DROP FUNCTION IF EXISTS atrium_uuid7(timestamptz);
DELETE FROM river_job WHERE kind = 'webhook_delivery';
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_events;
DROP TABLE IF EXISTS webhook_endpoints;
DROP SEQUENCE IF EXISTS webhook_event_seq;
