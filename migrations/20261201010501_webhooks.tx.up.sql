-- Webhooks: endpoints a workspace registers, the events it emits, and one delivery per event per
-- subscribed endpoint.
--
-- An event is written only when an enabled endpoint of its workspace takes its type
-- (atrium_emit_event), in the transaction of the change that causes it, together with its
-- deliveries and the background job that sends them: a workspace without endpoints pays one index
-- probe and writes nothing. Deliveries of one endpoint go out in seq order, one at a time (the
-- worker holds a transaction-level advisory lock per endpoint); the unique key
-- (workspace_id, endpoint_id, event_id) makes one delivery per event per endpoint.

CREATE TABLE webhook_endpoints (
  workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id              uuid NOT NULL,
  url             text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
  description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 200),
  -- Exact types ('member.added') or a family ('member.*').
  event_types     text[] NOT NULL,
  -- 'whsec_' + base64 of 24 random bytes: the deliveries are signed with it, so it is kept.
  secret          text NOT NULL,
  -- Rolling the secret: the previous one keeps signing (beside the new one) until
  -- previous_secret_until.
  previous_secret       text,
  previous_secret_until timestamptz,
  created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  -- Since when every attempt failed (NULL after a success); a day of it disables the endpoint.
  failing_since   timestamptz,
  disabled_at     timestamptz,
  disabled_reason text NOT NULL DEFAULT '',
  PRIMARY KEY (workspace_id, id),
  CONSTRAINT webhook_endpoints_previous_check CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);

CREATE SEQUENCE webhook_event_seq;

CREATE TABLE webhook_events (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL,
  -- Order of occurrence: deliveries of an endpoint go out in this order.
  seq          bigint NOT NULL DEFAULT nextval('webhook_event_seq'),
  type         text NOT NULL,
  data         jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX webhook_events_created_idx ON webhook_events (workspace_id, created_at);

CREATE TABLE webhook_deliveries (
  workspace_id     uuid NOT NULL,
  id               uuid NOT NULL,
  endpoint_id      uuid NOT NULL,
  event_id         uuid NOT NULL,
  seq              bigint NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  created_at       timestamptz NOT NULL,
  -- Retries run for a day from retry_from: the event's time, or a redelivery's.
  retry_from       timestamptz NOT NULL,
  next_attempt_at  timestamptz NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  last_attempt_at  timestamptz,
  last_status_code integer,
  last_latency_ms  integer,
  last_error       text NOT NULL DEFAULT '',
  delivered_at     timestamptz,
  PRIMARY KEY (workspace_id, id),
  UNIQUE (workspace_id, endpoint_id, event_id),
  FOREIGN KEY (workspace_id, endpoint_id) REFERENCES webhook_endpoints (workspace_id, id) ON DELETE CASCADE,
  FOREIGN KEY (workspace_id, event_id) REFERENCES webhook_events (workspace_id, id) ON DELETE CASCADE
);
-- The next delivery of an endpoint, and its recent ones for the endpoint's page.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (workspace_id, endpoint_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent_idx ON webhook_deliveries (workspace_id, endpoint_id, seq DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (workspace_id, event_id);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_events', 'webhook_deliveries']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)
      WITH CHECK (workspace_id = nullif(current_setting('app.workspace_id', true), '')::uuid)$p$, t);
    EXECUTE format($p$CREATE POLICY support_read ON %I FOR SELECT
      USING (current_setting('app.cross_tenant', true) = 'read')$p$, t);
    EXECUTE format('CREATE POLICY owner_read ON %I FOR SELECT TO %I USING (true)', t, current_user);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_events, webhook_deliveries TO atrium_app;
GRANT USAGE ON SEQUENCE webhook_event_seq TO atrium_app;

-- A UUIDv7 for the instant p_now (the caller's clock), for rows made inside SQL functions.
CREATE FUNCTION atrium_uuid7(p_now timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM p_now) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
    52, 1), 53, 1), 'hex')::uuid
$$;

-- atrium_emit_event records event p_id (NULL: a new id) of type p_type in the caller's transaction (bound to
-- workspace p_ws), with one pending delivery per enabled endpoint that takes the type, and one
-- webhook job per delivery (River's unique key over the delivery id, unique while the job waits or
-- runs, so a redelivery after it finished makes a new one). Without such an endpoint it writes
-- nothing. Returns the number of deliveries made.
CREATE FUNCTION atrium_emit_event(p_ws uuid, p_id uuid, p_type text, p_data jsonb, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  fam text := split_part(p_type, '.', 1) || '.*';
  s bigint;
  n integer;
BEGIN
  PERFORM 1 FROM webhook_endpoints e
    WHERE e.workspace_id = p_ws AND e.disabled_at IS NULL AND (p_type = ANY (e.event_types) OR fam = ANY (e.event_types))
    LIMIT 1;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  p_id := coalesce(p_id, atrium_uuid7(p_now));
  INSERT INTO webhook_events (workspace_id, id, type, data, created_at) VALUES (p_ws, p_id, p_type, p_data, p_now)
    RETURNING seq INTO s;
  WITH d AS (
    INSERT INTO webhook_deliveries (workspace_id, id, endpoint_id, event_id, seq, created_at, retry_from, next_attempt_at)
      SELECT p_ws, atrium_uuid7(p_now), e.id, p_id, s, p_now, p_now, p_now FROM webhook_endpoints e
      WHERE e.workspace_id = p_ws AND e.disabled_at IS NULL AND (p_type = ANY (e.event_types) OR fam = ANY (e.event_types))
      ON CONFLICT DO NOTHING
      RETURNING id
  ), j AS (
    SELECT atrium_queue_webhook(p_ws, d.id) FROM d
  )
  SELECT count(*) INTO n FROM j;
  RETURN n;
END
$$;

-- atrium_queue_webhook adds the job that sends delivery p_id, unless one for it waits or runs.
CREATE FUNCTION atrium_queue_webhook(p_ws uuid, p_id uuid) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, unique_key, unique_states)
    VALUES (jsonb_build_object('workspace_id', p_ws, 'delivery_id', p_id), 'webhook_delivery', 25, 1, 'webhooks',
            'available', sha256(convert_to('atrium-webhook-delivery:' || p_id::text, 'UTF8')), B'11110001')
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL
      AND river_job_state_in_bitmask(unique_states, state) DO NOTHING
$$;

REVOKE ALL ON FUNCTION atrium_emit_event(uuid, uuid, text, jsonb, timestamptz), atrium_uuid7(timestamptz),
  atrium_queue_webhook(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_emit_event(uuid, uuid, text, jsonb, timestamptz), atrium_uuid7(timestamptz),
  atrium_queue_webhook(uuid, uuid) TO atrium_app;

-- Task events come from triggers on tasks, so every way a task starts or ends (the one-statement
-- API functions, the transaction fallback, a cancel from the console) emits them in its own
-- statement, without a round trip more; the event's time is the task's own (the caller's clock).
CREATE FUNCTION atrium_task_events() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM atrium_emit_event(NEW.workspace_id, NULL, 'task.started',
      jsonb_build_object('id', NEW.id, 'agent_id', NEW.agent_id, 'status', NEW.status, 'started_at', NEW.started_at),
      coalesce(NEW.started_at, NEW.created_at));
  ELSE
    PERFORM atrium_emit_event(NEW.workspace_id, NULL,
      CASE WHEN NEW.status = 'cancelled' THEN 'task.cancelled' ELSE 'task.completed' END,
      jsonb_build_object('id', NEW.id, 'agent_id', NEW.agent_id, 'status', NEW.status, 'started_at', NEW.started_at,
                         'finished_at', NEW.finished_at, 'agent_minutes', NEW.agent_minutes),
      coalesce(NEW.finished_at, NEW.created_at));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_webhook_started AFTER INSERT ON tasks
  FOR EACH ROW WHEN (NEW.status = 'running') EXECUTE FUNCTION atrium_task_events();
CREATE TRIGGER tasks_webhook_finished AFTER UPDATE OF status ON tasks
  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('succeeded', 'failed', 'cancelled'))
  EXECUTE FUNCTION atrium_task_events();
