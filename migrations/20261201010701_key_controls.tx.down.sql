DROP INDEX IF EXISTS audit_events_key_refusal_once_idx;
DROP TRIGGER IF EXISTS workspaces_slug_notify ON workspaces;
DROP TRIGGER IF EXISTS api_keys_controls_notify ON api_keys;
DROP FUNCTION IF EXISTS atrium_api_key_by_prefix_v3(text);
DROP FUNCTION IF EXISTS atrium_lease_key_calls(uuid, uuid, timestamptz, bigint, bigint);
DROP TABLE IF EXISTS api_key_usage_hourly;
ALTER TABLE api_keys DROP COLUMN last_used_ip, DROP COLUMN allowed_ips, DROP COLUMN rate_limit_per_hour,
  DROP COLUMN description;
