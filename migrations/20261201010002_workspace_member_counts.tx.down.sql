DROP TABLE IF EXISTS workspace_member_counts;
DROP FUNCTION IF EXISTS atrium_member_count_sync() CASCADE;
DROP FUNCTION IF EXISTS atrium_member_count_move() CASCADE;
