-- The members list sorts by name, by the date a member joined and by their last activity here,
-- each way round, and the invitations list shows open invitations (neither accepted nor revoked),
-- pending and expired apart. Each order has an index in its own order after workspace_id, ending
-- in a unique tie-break, so a page reads the rows up to its end and no more; the other direction
-- reads the same index backwards. Under row-level security the index's only condition is
-- workspace_id (a leakproof comparison); the order comes from the index.
CREATE INDEX workspace_members_name_idx ON workspace_members (workspace_id, sort_name, sort_email);
CREATE INDEX workspace_members_joined_idx ON workspace_members (workspace_id, created_at, user_id);
-- Most recent first, never active last; read backwards: never active first, then longest ago.
-- last_seen_at is written at most once a minute per member (TouchMember), so the index costs
-- little on that path.
CREATE INDEX workspace_members_active_idx ON workspace_members (workspace_id, last_seen_at DESC NULLS LAST, user_id DESC);

-- Open invitations, newest first: accepted and revoked ones pile up over the years and are
-- never listed, so they stay out of the index.
CREATE INDEX invitations_open_idx ON invitations (workspace_id, created_at DESC)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
