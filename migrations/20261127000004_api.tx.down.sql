DROP INDEX IF EXISTS audit_events_refusal_once_idx;
DROP FUNCTION IF EXISTS atrium_api_key_by_prefix_v2(text);
ALTER TABLE api_keys
  DROP CONSTRAINT IF EXISTS api_keys_previous_check,
  DROP COLUMN IF EXISTS rolled_at,
  DROP COLUMN IF EXISTS previous_valid_until,
  DROP COLUMN IF EXISTS previous_secret_hash;
