-- migrate:up
-- Error tracking (issue 12): every 5xx and every failed job attempt, grouped by fingerprint
-- (kind, error type, route template or job type, the first frame of our code, and the error's
-- code such as a SQLSTATE). Never a value of the request or the row: no message text, no
-- workspace's data. A platform table: the server's role records through
-- trellis_errors_record() and reads and resolves only as a platform admin (the
-- `trellis.platform_admin` setting, as for workspaces); `trellis errors` runs as the owner.
CREATE TABLE error_events (
    -- Lowercase hex SHA-256 of kind, error type, location, frame and detail.
    fingerprint text PRIMARY KEY CONSTRAINT error_events_fingerprint_check CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    kind text NOT NULL CONSTRAINT error_events_kind_check CHECK (kind IN ('request', 'job')),
    error_type text NOT NULL CONSTRAINT error_events_error_type_check CHECK (char_length(error_type) <= 200),
    -- The route template (`/v1/agents/{id}`) or the job type.
    location text NOT NULL CONSTRAINT error_events_location_check CHECK (char_length(location) <= 300),
    -- Where in our code it was raised (`TrellisRuntime/AuditLog.swift:31`), when the error says.
    frame text NOT NULL DEFAULT '' CONSTRAINT error_events_frame_check CHECK (char_length(frame) <= 300),
    -- The error's code (a SQLSTATE, a problem code), never its message.
    detail text NOT NULL DEFAULT '' CONSTRAINT error_events_detail_check CHECK (char_length(detail) <= 300),
    occurrences bigint NOT NULL DEFAULT 1,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    sample_request_id text CONSTRAINT error_events_request_check CHECK (char_length(sample_request_id) <= 100),
    sample_trace_id text CONSTRAINT error_events_trace_check CHECK (char_length(sample_trace_id) <= 100),
    -- Set by `trellis errors resolve` / the admin API; cleared when the error happens again.
    resolved_at timestamptz,
    reopened integer NOT NULL DEFAULT 0
);
CREATE INDEX error_events_last_seen_idx ON error_events (last_seen DESC, fingerprint);

ALTER TABLE error_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY error_events_platform_admin ON error_events
    USING (current_setting('trellis.platform_admin', true) = 'on')
    WITH CHECK (current_setting('trellis.platform_admin', true) = 'on');

-- One batch of occurrences, at most one per fingerprint: each new fingerprint is inserted, each
-- known one counted, its last sample kept, and re-opened if it was resolved.
CREATE FUNCTION trellis_errors_record(p_events jsonb)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO error_events AS e (fingerprint, kind, error_type, location, frame, detail, occurrences, first_seen, last_seen,
                                   sample_request_id, sample_trace_id)
    SELECT x.fingerprint, x.kind, left(x.error_type, 200), left(x.location, 300), left(coalesce(x.frame, ''), 300),
           left(coalesce(x.detail, ''), 300), greatest(x.occurrences, 1), x.first_seen, x.last_seen,
           left(x.request_id, 100), left(x.trace_id, 100)
    FROM jsonb_to_recordset(p_events) AS x(fingerprint text, kind text, error_type text, location text, frame text, detail text,
                                           occurrences bigint, first_seen timestamptz, last_seen timestamptz, request_id text,
                                           trace_id text)
    ON CONFLICT (fingerprint) DO UPDATE SET
        occurrences = e.occurrences + excluded.occurrences,
        last_seen = greatest(e.last_seen, excluded.last_seen),
        sample_request_id = coalesce(excluded.sample_request_id, e.sample_request_id),
        sample_trace_id = coalesce(excluded.sample_trace_id, e.sample_trace_id),
        resolved_at = NULL,
        reopened = e.reopened + (e.resolved_at IS NOT NULL)::integer
$$;

-- migrate:down
DROP FUNCTION trellis_errors_record(jsonb);
DROP TABLE error_events;
