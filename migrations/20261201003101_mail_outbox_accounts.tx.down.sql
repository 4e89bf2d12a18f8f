DELETE FROM login_failures WHERE scope IN ('reset_account', 'reset_ip');
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip'));
DROP TABLE IF EXISTS account_tokens;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
DROP TABLE IF EXISTS mail_outbox;
REVOKE ALL ON river_job, river_queue, river_leader, river_notification, river_migration FROM atrium_app;
REVOKE ALL ON SEQUENCE river_job_id_seq, river_notification_id_seq FROM atrium_app;
