DROP INDEX IF EXISTS workspace_members_owners_idx;
DROP INDEX IF EXISTS workspace_members_page_idx;
DROP TRIGGER IF EXISTS users_sort_keys ON users;
DROP FUNCTION IF EXISTS atrium_user_sort_keys();
DROP TRIGGER IF EXISTS workspace_members_sort_keys ON workspace_members;
DROP FUNCTION IF EXISTS atrium_member_sort_keys();
DROP POLICY IF EXISTS owner_sort_keys ON workspace_members;
ALTER TABLE workspace_members DROP COLUMN IF EXISTS sort_email, DROP COLUMN IF EXISTS sort_name;
