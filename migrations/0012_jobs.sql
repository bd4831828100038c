-- Durable jobs (issue 11, DESIGN.md §7): one table is the queue, its history and its dead
-- letters. A job moves scheduled|retryable -> available (when its run_at is due) -> running
-- (claimed by one worker, under a lease the worker renews) -> completed | retryable | dead |
-- cancelled. Tenants see and change their own jobs through row-level security (the API:
-- get, list, cancel, retry); workers, which serve every workspace, go through the narrow
-- SECURITY DEFINER functions below and nothing else. Jobs that no tenant owns (cron schedules'
-- platform runs) have no workspace and are visible to no tenant.
-- migrate:up
CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
    type text NOT NULL CONSTRAINT jobs_type_check CHECK (char_length(type) BETWEEN 1 AND 200),
    queue text NOT NULL CONSTRAINT jobs_queue_check CHECK (char_length(queue) BETWEEN 1 AND 100),
    state text NOT NULL CONSTRAINT jobs_state_check
        CHECK (state IN ('scheduled', 'available', 'running', 'retryable', 'completed', 'cancelled', 'dead')),
    -- Lower runs first (0 is the default; negative is more urgent).
    priority integer NOT NULL DEFAULT 0,
    payload jsonb NOT NULL,
    -- When the job may run next: its delay, or its retry's backoff.
    run_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CONSTRAINT jobs_max_attempts_check CHECK (max_attempts >= 1),
    timeout_seconds integer NOT NULL CONSTRAINT jobs_timeout_check CHECK (timeout_seconds >= 1),
    backoff_base_seconds integer NOT NULL,
    backoff_cap_seconds integer NOT NULL,
    -- The scopes of the credential that enqueued it: a job never acts with more.
    scopes text[] NOT NULL DEFAULT '{}',
    -- type + payload digest, for jobs whose type is unique_for a window.
    unique_key text,
    progress double precision NOT NULL DEFAULT 0 CONSTRAINT jobs_progress_check CHECK (progress BETWEEN 0 AND 1),
    message text CONSTRAINT jobs_message_check CHECK (char_length(message) <= 2000),
    result jsonb,
    -- One object per failed attempt: {"attempt","at","error"}.
    errors jsonb NOT NULL DEFAULT '[]',
    worker text,
    lease_expires_at timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    attempted_at timestamptz,
    finished_at timestamptz
);

-- The fetch: the next available jobs of one queue in priority order. The claim function below
-- reads only through it (see there).
CREATE INDEX jobs_fetch_idx ON jobs (queue, priority, run_at, id) WHERE state = 'available';
-- Jobs whose time comes (delayed, retrying).
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state IN ('scheduled', 'retryable');
-- Leases to rescue.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
-- The API's pages (newest first) and its state filter.
CREATE INDEX jobs_workspace_idx ON jobs (workspace_id, created_at DESC, id DESC);
CREATE INDEX jobs_workspace_state_idx ON jobs (workspace_id, state, created_at DESC, id DESC);
CREATE INDEX jobs_unique_idx ON jobs (workspace_id, unique_key, created_at) WHERE unique_key IS NOT NULL;
-- Retention sweeps.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;

CREATE POLICY jobs_workspace_isolation ON jobs
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- Moves due delayed and retrying jobs to available; returns their queues (for NOTIFY).
CREATE FUNCTION trellis_jobs_stage(p_limit integer)
RETURNS TABLE (queue text)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE jobs j SET state = 'available', updated_at = now()
    FROM (SELECT d.id FROM jobs d WHERE d.state IN ('scheduled', 'retryable') AND d.run_at <= now()
          ORDER BY d.run_at LIMIT least(greatest(p_limit, 1), 10000) FOR UPDATE SKIP LOCKED) due
    WHERE j.id = due.id
    RETURNING j.queue
$$;

-- Takes up to p_limit available jobs of one queue for one worker, under a lease. The settings
-- pin the plan to jobs_fetch_idx: an index scan in (priority, run_at, id) order that stops
-- after p_limit unlocked rows, whatever the table's statistics say (a burst of jobs onto a
-- queue analysed while empty would otherwise get a scan and sort of every pending row).
CREATE FUNCTION trellis_jobs_claim(p_queue text, p_limit integer, p_worker text, p_lease_seconds integer)
RETURNS TABLE (id uuid, workspace_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
               timeout_seconds integer, backoff_base_seconds integer, backoff_cap_seconds integer, scopes text[],
               run_at timestamptz)
LANGUAGE sql SECURITY DEFINER
SET search_path = public, pg_temp SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off AS $$
    UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, worker = p_worker,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds), attempted_at = now(), updated_at = now()
    FROM (SELECT a.id FROM jobs a WHERE a.state = 'available' AND a.queue = p_queue
          ORDER BY a.priority, a.run_at, a.id LIMIT least(greatest(p_limit, 1), 1000) FOR UPDATE SKIP LOCKED) next
    WHERE j.id = next.id
    RETURNING j.id, j.workspace_id, j.type, j.payload, j.attempts, j.max_attempts, j.timeout_seconds,
        j.backoff_base_seconds, j.backoff_cap_seconds, j.scopes, j.run_at
$$;

-- Renews this worker's leases; returns the jobs it still holds and whether each was asked to
-- stop (a job missing from the answer was rescued: the worker must abandon it).
CREATE FUNCTION trellis_jobs_heartbeat(p_worker text, p_ids uuid[], p_lease_seconds integer)
RETURNS TABLE (id uuid, cancel_requested boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.worker = p_worker
    RETURNING j.id, j.cancel_requested
$$;

-- A running job's progress (0…1) and message; returns whether it was asked to stop, or null
-- when this worker no longer holds it.
CREATE FUNCTION trellis_jobs_progress(p_id uuid, p_worker text, p_progress double precision, p_message text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE jobs j SET progress = least(greatest(p_progress, 0), 1), message = left(p_message, 2000), updated_at = now()
    WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
    RETURNING j.cancel_requested
$$;

-- The end of one attempt, as the worker saw it: p_outcome is 'completed', 'failed' or
-- 'cancelled'. A failure with attempts left becomes retryable at now() + p_retry_in seconds,
-- otherwise dead; its error joins the history. A job this worker no longer holds is left alone
-- (false).
CREATE FUNCTION trellis_jobs_finish(p_id uuid, p_worker text, p_outcome text, p_result jsonb, p_error text,
                                    p_retry_in double precision)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE jobs j SET
        state = CASE
            WHEN p_outcome = 'completed' THEN 'completed'
            WHEN p_outcome = 'cancelled' THEN 'cancelled'
            WHEN j.cancel_requested THEN 'cancelled'
            WHEN j.attempts >= j.max_attempts THEN 'dead'
            ELSE 'retryable' END,
        result = CASE WHEN p_outcome = 'completed' THEN p_result ELSE j.result END,
        progress = CASE WHEN p_outcome = 'completed' THEN 1 ELSE j.progress END,
        errors = CASE WHEN p_error IS NULL THEN j.errors
            ELSE j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempts, 'at', now(), 'error', left(p_error, 2000)))
            END,
        run_at = CASE WHEN p_outcome = 'failed' AND NOT j.cancel_requested AND j.attempts < j.max_attempts
            THEN now() + make_interval(secs => greatest(p_retry_in, 0)) ELSE j.run_at END,
        finished_at = CASE WHEN p_outcome = 'failed' AND NOT j.cancel_requested AND j.attempts < j.max_attempts
            THEN NULL ELSE now() END,
        worker = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker;
    RETURN FOUND;
END
$$;

-- Gives back jobs a worker took and did not run to an end (graceful shutdown): available
-- again at once, the attempt not counted.
CREATE FUNCTION trellis_jobs_release(p_worker text, p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE released integer;
BEGIN
    UPDATE jobs j SET state = 'available', attempts = greatest(j.attempts - 1, 0), worker = NULL,
        lease_expires_at = NULL, updated_at = now()
    WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.worker = p_worker;
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
END
$$;

-- Jobs whose worker stopped renewing its lease (it died): the attempt counts, and the job is
-- retried at once or, with no attempts left, dead. Returns how many.
CREATE FUNCTION trellis_jobs_rescue(p_limit integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE rescued integer;
BEGIN
    UPDATE jobs j SET
        state = CASE WHEN j.cancel_requested THEN 'cancelled' WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'available' END,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempts, 'at', now(), 'error', 'the worker stopped renewing its lease (worker lost)')),
        finished_at = CASE WHEN j.cancel_requested OR j.attempts >= j.max_attempts THEN now() ELSE NULL END,
        run_at = now(), worker = NULL, lease_expires_at = NULL, updated_at = now()
    FROM (SELECT l.id FROM jobs l WHERE l.state = 'running' AND l.lease_expires_at < now()
          ORDER BY l.lease_expires_at LIMIT least(greatest(p_limit, 1), 10000) FOR UPDATE SKIP LOCKED) lost
    WHERE j.id = lost.id;
    GET DIAGNOSTICS rescued = ROW_COUNT;
    RETURN rescued;
END
$$;

-- Deletes finished jobs (completed, cancelled, dead) older than the retention, in a batch.
CREATE FUNCTION trellis_jobs_prune(p_older_than_seconds integer, p_limit integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE pruned integer;
BEGIN
    DELETE FROM jobs j USING (
        SELECT f.id FROM jobs f WHERE f.finished_at < now() - make_interval(secs => p_older_than_seconds)
            AND f.state IN ('completed', 'cancelled', 'dead')
        ORDER BY f.finished_at LIMIT least(greatest(p_limit, 1), 10000) FOR UPDATE SKIP LOCKED) old
    WHERE j.id = old.id;
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END
$$;

-- The age of the oldest available job, for /health/ready (reads only the fetch index).
CREATE FUNCTION trellis_jobs_oldest_available_age()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(extract(epoch FROM now() - min(j.run_at)), 0)::double precision FROM jobs j WHERE j.state = 'available'
$$;

-- Jobs by queue and state, and the age of each queue's oldest available job, for /metrics
-- and /health/ready.
CREATE FUNCTION trellis_jobs_depth()
RETURNS TABLE (queue text, state text, jobs bigint, oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT j.queue, j.state, count(*),
        coalesce(extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.state = 'available')), 0)::double precision
    FROM jobs j WHERE j.state IN ('scheduled', 'available', 'running', 'retryable', 'dead')
    GROUP BY j.queue, j.state
$$;

-- migrate:down
DROP FUNCTION trellis_jobs_depth();
DROP FUNCTION trellis_jobs_oldest_available_age();
DROP FUNCTION trellis_jobs_prune(integer, integer);
DROP FUNCTION trellis_jobs_rescue(integer);
DROP FUNCTION trellis_jobs_release(text, uuid[]);
DROP FUNCTION trellis_jobs_finish(uuid, text, text, jsonb, text, double precision);
DROP FUNCTION trellis_jobs_progress(uuid, text, double precision, text);
DROP FUNCTION trellis_jobs_heartbeat(text, uuid[], integer);
DROP FUNCTION trellis_jobs_claim(text, integer, text, integer);
DROP FUNCTION trellis_jobs_stage(integer);
DROP TABLE jobs;
