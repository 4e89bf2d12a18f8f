-- Failed log-ins, for throttling per account and per client IP. Kept in the database so that any
-- number of app processes share one count.
CREATE TABLE login_failures (
  scope text NOT NULL CHECK (scope IN ('account', 'ip')),
  key   text NOT NULL,
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at_idx ON login_failures (scope, key, at);

-- A user's signed-in sessions, so /account can list them and end any one. The token is scs's
-- session token (the sessions table holds it too); ending a session deletes both rows.
CREATE TABLE user_sessions (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token        text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  user_agent   text NOT NULL DEFAULT '',
  ip           text NOT NULL DEFAULT ''
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id, last_seen_at DESC);

GRANT SELECT, INSERT, DELETE ON login_failures TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON user_sessions TO atrium_app;
