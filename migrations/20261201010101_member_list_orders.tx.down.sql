DROP INDEX IF EXISTS invitations_open_idx;
DROP INDEX IF EXISTS workspace_members_active_idx;
DROP INDEX IF EXISTS workspace_members_joined_idx;
DROP INDEX IF EXISTS workspace_members_name_idx;
