-- Mail that never blocks a request, password reset and verified email addresses.
--
-- River's own tables (river_job, river_queue, river_leader, river_notification, river_migration)
-- are created by River's versioned migrations, which the migration runner applies just before
-- these files (see migrations.go). Here the runtime role gets exactly what River's client needs:
-- to insert jobs in the transaction of the change that causes them, and to fetch, finish and
-- clean them up in the worker.
GRANT SELECT, INSERT, UPDATE, DELETE ON river_job, river_queue, river_leader, river_notification TO atrium_app;
GRANT SELECT ON river_migration TO atrium_app;
GRANT USAGE, SELECT ON SEQUENCE river_job_id_seq, river_notification_id_seq TO atrium_app;

-- The outbox: one row per email, written in the transaction of the change that causes it. event_key
-- names the event and the recipient ("password-reset:<id>", "invitation:<id>:<token hash>"), so one
-- event mails one person once. The worker records every attempt; sent_at is set once the SMTP
-- server accepted the message (or, with no SMTP server in development, once it was logged).
-- given_up_at is set when the retries ran out: the row stays, with its last error, for support.
-- A delivered message's body is erased when it went out through SMTP (it may hold a one-time link);
-- the development mailbox keeps it.
CREATE TABLE mail_outbox (
  id              uuid PRIMARY KEY,
  event_key       text NOT NULL UNIQUE,
  to_address      text NOT NULL,
  subject         text NOT NULL,
  body            text NOT NULL,
  created_at      timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  last_attempt_at timestamptz,
  last_error      text NOT NULL DEFAULT '',
  sent_at         timestamptz,
  given_up_at     timestamptz
);
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at DESC);
CREATE INDEX mail_outbox_unsent_idx ON mail_outbox (created_at) WHERE sent_at IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_outbox TO atrium_app;

-- Verified email addresses. Everyone who had an account before verification existed counts as
-- verified: their address already received their invitations, or an operator created them.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- One-time links sent by mail: password resets, email verification and email change. Only the
-- SHA-256 of the token is stored. email is the address the link was sent to (for a change, the new
-- address, which takes effect when the link is opened).
CREATE TABLE account_tokens (
  token_hash text PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'email_verify', 'email_change')),
  email      citext NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
GRANT SELECT, INSERT, UPDATE, DELETE ON account_tokens TO atrium_app;

-- Password reset requests count against the address and the client IP, like failed log-ins.
ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check;
ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check
  CHECK (scope IN ('account', 'ip', 'reset_account', 'reset_ip'));
