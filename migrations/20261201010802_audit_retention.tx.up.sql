-- Audit retention per tier: the retention job (models.RunRetention) removes each workspace's oldest
-- audit events once they are older than the tier keeps them (models.AuditRetention), after
-- verifying them, and records a signed checkpoint of the last one removed (audit_checkpoints) so
-- the rest of the chain still verifies.
--
-- An enterprise workspace's retention is configurable: audit_retention_days (NULL: the default,
-- 365 days; 0: kept forever). Other tiers ignore it.
ALTER TABLE workspaces ADD COLUMN audit_retention_days integer CHECK (audit_retention_days >= 0);

-- The workspaces with audit events older than their tier's retention. Only ids; the pruning itself
-- happens in each workspace's own transaction.
CREATE FUNCTION atrium_audit_retention_workspaces(p_now timestamptz, p_free integer, p_starter integer, p_pro integer,
  p_enterprise integer, p_limit integer)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT w.id FROM workspaces AS w
  CROSS JOIN LATERAL (SELECT CASE w.tier WHEN 'free' THEN p_free WHEN 'starter' THEN p_starter WHEN 'pro' THEN p_pro
                             ELSE coalesce(w.audit_retention_days, p_enterprise) END AS days) AS r
  WHERE r.days > 0
    AND EXISTS (SELECT 1 FROM audit_events AS e WHERE e.workspace_id = w.id AND e.created_at < p_now - make_interval(days => r.days))
  ORDER BY w.id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION atrium_audit_retention_workspaces(timestamptz, integer, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_audit_retention_workspaces(timestamptz, integer, integer, integer, integer, integer) TO atrium_app;

-- Removing a workspace's events up to p_seq (whose hash must be p_hash) and recording the signed
-- checkpoint, at once. Only inside the workspace's own transaction; the runtime role still has no
-- DELETE on audit_events.
DO $$ BEGIN
  EXECUTE format('CREATE POLICY owner_prune ON audit_events FOR DELETE TO %I USING (true)', current_user);
END $$;
CREATE FUNCTION atrium_audit_prune(p_ws uuid, p_seq bigint, p_hash text, p_signature text, p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_n bigint;
BEGIN
  IF p_ws IS DISTINCT FROM nullif(current_setting('app.workspace_id', true), '')::uuid THEN
    RAISE EXCEPTION 'atrium_audit_prune: not in the workspace''s transaction' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM audit_events WHERE workspace_id = p_ws AND seq = p_seq AND hash = p_hash) THEN
    RAISE EXCEPTION 'atrium_audit_prune: no event % with that hash', p_seq USING ERRCODE = 'no_data_found';
  END IF;
  DELETE FROM audit_events WHERE workspace_id = p_ws AND seq <= p_seq;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO audit_checkpoints AS c (workspace_id, seq, hash, pruned_at, signature)
    VALUES (p_ws, p_seq, p_hash, p_at, p_signature)
    ON CONFLICT (workspace_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, pruned_at = EXCLUDED.pruned_at,
      signature = EXCLUDED.signature
    WHERE c.seq < EXCLUDED.seq;
  RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION atrium_audit_prune(uuid, bigint, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_audit_prune(uuid, bigint, text, text, timestamptz) TO atrium_app;
