-- Passkeys (WebAuthn credentials). A person's own, never a workspace's, so no row-level security:
-- every statement on the table names the user it acts for. The credential column is the verified
-- credential record (public key, flags, transports, attestation) as the WebAuthn library encodes
-- it; sign_count and clone_warning repeat what log-ins update, for the account page and queries.
CREATE TABLE passkeys (
  id            uuid PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  credential_id bytea NOT NULL UNIQUE,
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
  credential    jsonb NOT NULL,
  sign_count    bigint NOT NULL DEFAULT 0,
  clone_warning boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON passkeys TO atrium_app;
