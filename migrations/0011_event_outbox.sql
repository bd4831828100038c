-- Realtime events (issue 10 item 5) through a transactional outbox: each committed write of
-- a resource with `events: true` leaves one row here, written in the write's own transaction,
-- so an event exists if and only if its write committed. A relay on every server instance
-- (one at a time, under an advisory lock) moves the rows to Redis — each workspace's stream
-- `{workspace}:ev`, from which clients read and resume — and deletes them. A relay that dies
-- after publishing and before deleting leaves the rows for the next one, whose publication is
-- refused by Redis as a duplicate (the event id), so nothing is lost and nothing doubles.
-- migrate:up
CREATE TABLE event_outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id uuid NOT NULL,
    event_id uuid NOT NULL,
    -- The event as clients receive it (JSON text), written once by the writing transaction.
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE event_outbox ENABLE ROW LEVEL SECURITY;

CREATE POLICY event_outbox_workspace_isolation ON event_outbox
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- The relay's view across workspaces: the oldest unpublished events, locked for the calling
-- transaction so that two relays never take the same row.
CREATE FUNCTION trellis_outbox_claim(p_limit integer)
RETURNS TABLE (seq bigint, workspace_id uuid, event_id uuid, payload text)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT o.seq, o.workspace_id, o.event_id, o.payload FROM event_outbox o
    ORDER BY o.seq LIMIT least(greatest(p_limit, 1), 1000)
    FOR UPDATE SKIP LOCKED
$$;

-- Forgets events the relay has published.
CREATE FUNCTION trellis_outbox_done(p_seqs bigint[])
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DELETE FROM event_outbox WHERE seq = ANY (p_seqs)
$$;

-- Events waiting and the age of the oldest, for /metrics and /health/ready.
CREATE FUNCTION trellis_outbox_backlog()
RETURNS TABLE (waiting bigint, oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::double precision FROM event_outbox
$$;

-- migrate:down
DROP FUNCTION trellis_outbox_backlog();
DROP FUNCTION trellis_outbox_done(bigint[]);
DROP FUNCTION trellis_outbox_claim(integer);
DROP TABLE event_outbox;
