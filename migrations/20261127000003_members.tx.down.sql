DROP INDEX IF EXISTS invitations_workspace_created_idx;
DROP FUNCTION IF EXISTS atrium_invitation_by_token(text);
