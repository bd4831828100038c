-- Webhooks (issue 11 item 5): a workspace's endpoints, and one delivery per (endpoint, event)
-- made from the event outbox. The relay that publishes an outbox row to Redis also fans it out
-- to the workspace's enabled endpoints subscribed to its type, in the transaction that deletes
-- the row, so each event yields each delivery exactly once. Each delivery is sent by a
-- `webhooks.deliver` job (retried with backoff like any job); the delivery keeps the log of its
-- attempts. The endpoint's secret is stored encrypted (AES-GCM, key from the server's
-- configuration); the circuit columns let workers stop calling an endpoint that keeps failing.
-- migrate:up
CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url text NOT NULL CONSTRAINT webhook_endpoints_url_check CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- Event types (`agent.created`), `<resource>.*`, or `*`.
    events text[] NOT NULL CONSTRAINT webhook_endpoints_events_check CHECK (cardinality(events) BETWEEN 1 AND 100),
    description text CONSTRAINT webhook_endpoints_description_check CHECK (char_length(description) <= 1000),
    enabled boolean NOT NULL DEFAULT true,
    -- The scopes of the credential that made (or last changed) the endpoint: it receives only
    -- events of resources those scopes may read, as that credential's event stream would.
    scopes text[] NOT NULL,
    -- nonce || ciphertext || tag of the signing secret, sealed with the endpoint's id as
    -- associated data (a ciphertext copied to another row does not open).
    secret_sealed bytea NOT NULL,
    -- Deliveries that failed in a row; reset by a success.
    failure_streak integer NOT NULL DEFAULT 0,
    -- Set when the streak reached the threshold: no calls until the cool-down has passed, then
    -- one probe (circuit_probe_at) whose success closes the circuit and whose failure reopens it.
    circuit_opened_at timestamptz,
    circuit_probe_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_workspace_idx ON webhook_endpoints (workspace_id, id);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    -- The event as the endpoint receives it (the request body).
    payload text NOT NULL,
    -- pending (to send, or retrying), succeeded, failed (no attempts left).
    state text NOT NULL DEFAULT 'pending' CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'succeeded', 'failed')),
    -- The job sending it (the latest, after a redelivery).
    job_id uuid NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    -- One object per attempt, newest last, at most 50: {"attempt","at","status","latency_ms","error"}.
    log jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_event_key UNIQUE (endpoint_id, event_id)
);

-- Retention sweeps of finished deliveries.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (updated_at) WHERE state <> 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_workspace_idx ON webhook_deliveries (workspace_id, id);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;

CREATE POLICY webhook_endpoints_workspace_isolation ON webhook_endpoints
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

CREATE POLICY webhook_deliveries_workspace_isolation ON webhook_deliveries
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- The relay's fan-out of outbox rows it is about to delete: one delivery per enabled endpoint
-- of the row's workspace subscribed to the event's type (exactly, by `<resource>.*`, or by
-- `*`) whose scopes may read the event's topic (p_topics[i] needs p_topic_scopes[i]; a topic
-- not listed reaches no endpoint), and one `webhooks.deliver` job per delivery. Returns how
-- many deliveries it made.
CREATE FUNCTION trellis_webhooks_fan_out(p_seqs bigint[], p_topics text[], p_topic_scopes text[], p_queue text,
                                         p_max_attempts integer, p_timeout_seconds integer,
                                         p_backoff_base_seconds integer, p_backoff_cap_seconds integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE made integer;
BEGIN
    WITH events AS (
        SELECT o.workspace_id, o.event_id, o.payload, o.payload::jsonb ->> 'type' AS type, t.scope
        FROM event_outbox o
        JOIN unnest(p_topics, p_topic_scopes) AS t (topic, scope) ON t.topic = o.payload::jsonb ->> 'resource'
        WHERE o.seq = ANY (p_seqs)
    ), deliveries AS (
        INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, event_id, event_type, payload, job_id)
        SELECT trellis_uuid_v7(), e.workspace_id, w.id, e.event_id, e.type, e.payload, trellis_uuid_v7()
        FROM events e
        JOIN webhook_endpoints w ON w.workspace_id = e.workspace_id AND w.enabled
            AND w.events && ARRAY[e.type, split_part(e.type, '.', 1) || '.*', '*']
            AND (e.scope = ANY (w.scopes) OR (e.scope <> 'admin' AND '*' = ANY (w.scopes)))
        ON CONFLICT ON CONSTRAINT webhook_deliveries_event_key DO NOTHING
        RETURNING id, workspace_id, job_id
    )
    INSERT INTO jobs (id, workspace_id, type, queue, state, priority, payload, max_attempts, timeout_seconds,
                      backoff_base_seconds, backoff_cap_seconds, scopes, created_by)
    SELECT d.job_id, d.workspace_id, 'webhooks.deliver', p_queue, 'available', 0, jsonb_build_object('delivery_id', d.id),
           p_max_attempts, p_timeout_seconds, p_backoff_base_seconds, p_backoff_cap_seconds, '{}', 'webhooks'
    FROM deliveries d;
    GET DIAGNOSTICS made = ROW_COUNT;
    IF made > 0 THEN
        PERFORM pg_notify('trellis_jobs', p_queue);
    END IF;
    RETURN made;
END
$$;

-- A running job put back to wait p_seconds without counting its attempt (a webhook whose
-- endpoint's circuit is open), or cancelled if that was asked meanwhile; null when this worker
-- no longer holds it.
CREATE FUNCTION trellis_jobs_snooze(p_id uuid, p_worker text, p_seconds double precision)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE jobs j SET state = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'scheduled' END,
        attempts = greatest(j.attempts - 1, 0), worker = NULL, lease_expires_at = NULL,
        run_at = now() + make_interval(secs => greatest(p_seconds, 0)), updated_at = now(),
        finished_at = CASE WHEN j.cancel_requested THEN now() END
    WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
    RETURNING true
$$;

-- Deletes up to p_limit deliveries that finished (succeeded or failed) more than
-- p_older_than_seconds ago, as the job retention does for jobs. Returns how many.
CREATE FUNCTION trellis_webhooks_prune(p_older_than_seconds integer, p_limit integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE pruned integer;
BEGIN
    DELETE FROM webhook_deliveries d USING (
        SELECT f.id FROM webhook_deliveries f WHERE f.state <> 'pending'
            AND f.updated_at < now() - make_interval(secs => p_older_than_seconds)
        ORDER BY f.updated_at LIMIT least(greatest(p_limit, 1), 10000) FOR UPDATE SKIP LOCKED) old
    WHERE d.id = old.id;
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END
$$;

-- migrate:down
DROP FUNCTION trellis_webhooks_prune(integer, integer);
DROP FUNCTION trellis_jobs_snooze(uuid, text, double precision);
DROP FUNCTION trellis_webhooks_fan_out(bigint[], text[], text[], text, integer, integer, integer, integer);
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
