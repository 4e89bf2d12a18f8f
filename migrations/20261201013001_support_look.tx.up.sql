-- Support's look at a workspace in one statement: atrium_support_access's answer (the workspace
-- that p_slug names and the caller's grant in force at p_now), and, when there is a grant, the
-- look written into that workspace's audit log (support.view, with the grant's own reason, ticket
-- and id, the page and its range) in the same statement, so the look is recorded, committed,
-- before anything of the workspace is read, and a look without a grant in force records and opens
-- nothing. It runs as the caller: the lookup is atrium_support_access's (support staff only), and
-- the audit line is written under the workspace's own binding (set_config of app.workspace_id,
-- transaction-local, as the task functions do), which row-level security checks as for any
-- audit line; the caller's binding is put back afterwards.
CREATE FUNCTION atrium_support_look(p_slug text, p_user uuid, p_now timestamptz, p_event uuid, p_page text,
  p_range_days integer, p_ip text)
RETURNS TABLE (workspace_id uuid, name text, slug text, tier workspace_tier, created_at timestamptz, deleted_at timestamptz,
               grant_id uuid, reason text, ticket text, expires_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  a record;
  bound text := coalesce(current_setting('app.workspace_id', true), '');
BEGIN
  SELECT * INTO a FROM atrium_support_access(p_slug, p_user, p_now);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF a.grant_id IS NOT NULL THEN
    PERFORM set_config('app.workspace_id', a.workspace_id::text, true);
    INSERT INTO audit_events (workspace_id, id, actor_user_id, action, target, details, ip, created_at)
      VALUES (a.workspace_id, p_event, p_user, 'support.view', a.slug,
              jsonb_build_object('page', p_page, 'range_days', p_range_days, 'reason', a.reason, 'ticket', a.ticket,
                                 'grant_id', a.grant_id::text),
              p_ip, p_now);
    PERFORM set_config('app.workspace_id', bound, true);
  END IF;
  RETURN QUERY SELECT a.workspace_id, a.name, a.slug, a.tier, a.created_at, a.deleted_at, a.grant_id, a.reason, a.ticket, a.expires_at;
END
$$;
REVOKE ALL ON FUNCTION atrium_support_look(text, uuid, timestamptz, uuid, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_support_look(text, uuid, timestamptz, uuid, text, integer, text) TO atrium_app;
