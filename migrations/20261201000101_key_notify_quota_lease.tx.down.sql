DROP FUNCTION IF EXISTS atrium_lease_api_calls(uuid, timestamptz, bigint, bigint);
DROP TRIGGER IF EXISTS users_notify ON users;
DROP TRIGGER IF EXISTS workspaces_notify ON workspaces;
DROP TRIGGER IF EXISTS workspace_members_notify ON workspace_members;
DROP TRIGGER IF EXISTS api_keys_notify ON api_keys;
DROP FUNCTION IF EXISTS atrium_notify_keys();
