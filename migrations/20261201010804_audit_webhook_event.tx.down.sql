DROP TRIGGER audit_events_webhook ON audit_events;
DROP FUNCTION atrium_audit_webhook_event();
