DROP FUNCTION IF EXISTS atrium_queue_webhook(uuid, uuid, text);
