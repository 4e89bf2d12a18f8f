-- A tamper-evident audit log: each workspace's audit events form a hash chain.
--
-- Every event gets seq (1, 2, 3, … per workspace, in the order the events were committed),
-- prev_hash (the hash of the event before it; '' for the first event of a chain) and hash, the
-- SHA-256 (lowercase hex) of the event's canonical form (atrium_audit_canonical below, documented
-- in docs/audit-chain.md). A BEFORE INSERT trigger assigns all three: it takes the workspace's
-- chain head (audit_chain_heads) with a row lock, so concurrent inserts into one workspace line up
-- one after the other, each linked to the one committed before it, and an insert costs no extra
-- round trip. Nothing the inserter says about seq, prev_hash or hash is kept.

-- The canonical JSON text of a jsonb value: objects with their keys in byte order, no whitespace,
-- strings and numbers as PostgreSQL's jsonb writes them.
CREATE FUNCTION atrium_canonical_json(j jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, public AS $$
BEGIN
  CASE jsonb_typeof(j)
  WHEN 'object' THEN
    RETURN '{' || coalesce((SELECT string_agg(to_jsonb(e.key)::text || ':' || atrium_canonical_json(e.value), ',' ORDER BY e.key COLLATE "C")
                            FROM jsonb_each(j) AS e), '') || '}';
  WHEN 'array' THEN
    RETURN '[' || coalesce((SELECT string_agg(atrium_canonical_json(a.v), ',' ORDER BY a.n)
                            FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n)), '') || ']';
  ELSE
    RETURN j::text;
  END CASE;
END
$$;

-- The canonical form of an event (version 1): a JSON object with exactly these keys, in this
-- order (byte order), no whitespace:
--   action, actor_key_id, actor_user_id, created_at, details, id, ip, prev_hash, seq, target, v,
--   workspace_id
-- ids are lowercase UUID strings or null; created_at is UTC with six fractional digits
-- (2026-12-01T09:30:00.123456Z); details is atrium_canonical_json(details); seq a number; v is 1.
CREATE FUNCTION atrium_audit_canonical(p_seq bigint, p_id uuid, p_ws uuid, p_actor_user uuid, p_actor_key uuid,
  p_action text, p_target text, p_details jsonb, p_ip text, p_created_at timestamptz, p_prev_hash text)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
  SELECT '{"action":' || to_jsonb(p_action)::text
    || ',"actor_key_id":' || coalesce(to_jsonb(p_actor_key::text)::text, 'null')
    || ',"actor_user_id":' || coalesce(to_jsonb(p_actor_user::text)::text, 'null')
    || ',"created_at":' || to_jsonb(to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    || ',"details":' || atrium_canonical_json(p_details)
    || ',"id":' || to_jsonb(p_id::text)::text
    || ',"ip":' || to_jsonb(p_ip)::text
    || ',"prev_hash":' || to_jsonb(p_prev_hash)::text
    || ',"seq":' || p_seq::text
    || ',"target":' || to_jsonb(p_target)::text
    || ',"v":1'
    || ',"workspace_id":' || to_jsonb(p_ws::text)::text
    || '}'
$$;

CREATE FUNCTION atrium_audit_hash(p_seq bigint, p_id uuid, p_ws uuid, p_actor_user uuid, p_actor_key uuid,
  p_action text, p_target text, p_details jsonb, p_ip text, p_created_at timestamptz, p_prev_hash text)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
  SELECT encode(sha256(convert_to(atrium_audit_canonical(p_seq, p_id, p_ws, p_actor_user, p_actor_key,
    p_action, p_target, p_details, p_ip, p_created_at, p_prev_hash), 'UTF8')), 'hex')
$$;

-- Each workspace's chain head: the last event's seq and hash.
CREATE TABLE audit_chain_heads (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  seq          bigint NOT NULL,
  hash         text NOT NULL
);

-- The last checkpoint of each workspace: the newest event retention pruned (its seq and hash),
-- signed by the server's audit key (HMAC-SHA256, see models/auditchain.go), so verification
-- starts from it.
CREATE TABLE audit_checkpoints (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  seq          bigint NOT NULL,
  hash         text NOT NULL,
  pruned_at    timestamptz NOT NULL,
  signature    text NOT NULL
);

ALTER TABLE audit_events ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text,
  -- Account erasure rewrites a deleted person's events (atrium_erase_user). Such a rewrite keeps
  -- the event's place in the chain (seq, prev_hash, hash stay) and marks it redacted; the server
  -- then signs the rewritten content against the original hash (redaction_sig), and verification
  -- checks that signature instead of the hash for that event.
  ADD COLUMN redacted boolean NOT NULL DEFAULT false, ADD COLUMN redaction_sig text;

-- Chain the events already there: per workspace, in (created_at, id) order.
DO $$
DECLARE
  r      record;
  v_ws   uuid := NULL;
  v_seq  bigint;
  v_prev text;
  v_hash text;
BEGIN
  FOR r IN SELECT e.workspace_id, e.id, e.actor_user_id, e.actor_key_id, e.action, e.target, e.details, e.ip, e.created_at
           FROM audit_events AS e ORDER BY e.workspace_id, e.created_at, e.id LOOP
    IF v_ws IS DISTINCT FROM r.workspace_id THEN
      IF v_ws IS NOT NULL THEN
        INSERT INTO audit_chain_heads (workspace_id, seq, hash) VALUES (v_ws, v_seq, v_prev);
      END IF;
      v_ws := r.workspace_id;
      v_seq := 0;
      v_prev := '';
    END IF;
    v_seq := v_seq + 1;
    v_hash := atrium_audit_hash(v_seq, r.id, r.workspace_id, r.actor_user_id, r.actor_key_id, r.action, r.target,
      r.details, r.ip, r.created_at, v_prev);
    UPDATE audit_events SET seq = v_seq, prev_hash = v_prev, hash = v_hash WHERE workspace_id = r.workspace_id AND id = r.id;
    v_prev := v_hash;
  END LOOP;
  IF v_ws IS NOT NULL THEN
    INSERT INTO audit_chain_heads (workspace_id, seq, hash) VALUES (v_ws, v_seq, v_prev);
  END IF;
END $$;

ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_seq_key UNIQUE (workspace_id, seq);

-- The chain's link, taken under the head's row lock. A quota refusal that is already audited for
-- its hour (audit_events_refusal_once_idx) is skipped here, before it takes a place in the chain:
-- under the lock, the earlier one is committed and visible.
CREATE FUNCTION atrium_audit_link()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_seq  bigint;
  v_prev text;
BEGIN
  INSERT INTO audit_chain_heads AS h (workspace_id, seq, hash) VALUES (NEW.workspace_id, 0, '')
    ON CONFLICT (workspace_id) DO UPDATE SET seq = h.seq
    RETURNING h.seq, h.hash INTO v_seq, v_prev;
  IF NEW.action IN ('api.rate_limited', 'task.concurrent_limit', 'task.quota_exceeded')
     AND EXISTS (SELECT 1 FROM audit_events AS e WHERE e.workspace_id = NEW.workspace_id AND e.action = NEW.action
                 AND e.details->>'hour' = NEW.details->>'hour') THEN
    RETURN NULL;
  END IF;
  NEW.seq := v_seq + 1;
  NEW.prev_hash := v_prev;
  NEW.redacted := false;
  NEW.redaction_sig := NULL;
  NEW.hash := atrium_audit_hash(NEW.seq, NEW.id, NEW.workspace_id, NEW.actor_user_id, NEW.actor_key_id, NEW.action,
    NEW.target, NEW.details, NEW.ip, NEW.created_at, NEW.prev_hash);
  UPDATE audit_chain_heads SET seq = NEW.seq, hash = NEW.hash WHERE workspace_id = NEW.workspace_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_link BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION atrium_audit_link();

-- An update of an event's content (only account erasure makes one) keeps its place in the chain
-- and marks it redacted, awaiting the server's signature.
CREATE FUNCTION atrium_audit_redact()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.workspace_id := OLD.workspace_id;
  NEW.id := OLD.id;
  NEW.seq := OLD.seq;
  NEW.prev_hash := OLD.prev_hash;
  NEW.hash := OLD.hash;
  NEW.created_at := OLD.created_at;
  IF (NEW.actor_user_id, NEW.actor_key_id, NEW.action, NEW.target, NEW.details, NEW.ip)
     IS DISTINCT FROM (OLD.actor_user_id, OLD.actor_key_id, OLD.action, OLD.target, OLD.details, OLD.ip) THEN
    NEW.redacted := true;
    NEW.redaction_sig := NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_redact BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION atrium_audit_redact();

-- The redactions the server has not signed yet (across workspaces: erasure spans them), and the
-- signing of one. Only the signature of an unsigned redaction can be set.
CREATE FUNCTION atrium_audit_unsigned_redactions(p_limit integer)
RETURNS TABLE (workspace_id uuid, id uuid, seq bigint, hash text, prev_hash text, actor_user_id uuid, actor_key_id uuid,
  action text, target text, details text, ip text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT e.workspace_id, e.id, e.seq, e.hash, e.prev_hash, e.actor_user_id, e.actor_key_id, e.action, e.target,
    e.details::text, e.ip, e.created_at
  FROM audit_events AS e WHERE e.redacted AND e.redaction_sig IS NULL ORDER BY e.workspace_id, e.seq LIMIT p_limit
$$;
CREATE FUNCTION atrium_audit_sign_redactions(p_ws uuid[], p_id uuid[], p_sig text[])
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH s AS (UPDATE audit_events AS e SET redaction_sig = x.sig
             FROM unnest(p_ws, p_id, p_sig) AS x(ws, id, sig)
             WHERE e.workspace_id = x.ws AND e.id = x.id AND e.redacted AND e.redaction_sig IS NULL RETURNING 1)
  SELECT count(*) FROM s
$$;
REVOKE ALL ON FUNCTION atrium_audit_unsigned_redactions(integer), atrium_audit_sign_redactions(uuid[], uuid[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_audit_unsigned_redactions(integer), atrium_audit_sign_redactions(uuid[], uuid[], text[]) TO atrium_app;

-- Row-level security as on every tenant table; the runtime role reads its workspace's head and
-- checkpoint and writes neither (the trigger and the pruning function, SECURITY DEFINER, do).
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['audit_chain_heads', 'audit_checkpoints'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
      WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)$p$, t);
    EXECUTE format($p$CREATE POLICY support_read ON %I FOR SELECT
      USING (current_setting('app.cross_tenant', true) = 'read')$p$, t);
    EXECUTE format('CREATE POLICY owner_all ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
    EXECUTE format('GRANT SELECT ON %I TO atrium_app', t);
  END LOOP;
END $$;
