-- The statements that act on a worker's own jobs by id (completion, heartbeat, release, the
-- read of handed jobs) find their rows through the primary key, whatever the statistics say
-- (issue 11).
--
-- Their `state = 'running'` matched the predicate of the partial index `jobs_lease_idx`, and
-- after an ANALYZE of a queue table while it held few running jobs, the generic plan these
-- functions keep walked that index (every running job of every worker) and filtered by id.
-- For the completion it was worse: the walk was the outer side of a nested loop whose inner
-- side re-ran `unnest(p_ids, p_results)` for each running job, so a batch of 100 completions
-- with 400 jobs running cost 40,000 comparisons, and with 10,000 running a second per batch.
-- Measured on the 2-core machine (Benchmarks/README.md, `jobs`): Postgres's CPU per drained job
-- fell from 92-163 us to 80-84 us, the same as the bare drain beside it.
--
-- The state is now compared with `(SELECT 'running'::text)`, an initplan whose value the
-- planner cannot use to prove a partial index's predicate, so the only index that fits is the
-- primary key on the ids (JobQueueTests checks each plan with EXPLAIN).
-- migrate:up
CREATE OR REPLACE FUNCTION trellis_jobs_complete(p_worker text, p_ids uuid[], p_results text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE completed integer;
BEGIN
    UPDATE jobs j SET state = 'completed', result = nullif(r.result, '')::jsonb, progress = 1, finished_at = now(),
        worker = NULL, lease_expires_at = NULL, updated_at = now()
    FROM unnest(p_ids, p_results) AS r (id, result)
    WHERE j.id = r.id AND j.state = (SELECT 'running'::text) AND j.worker = p_worker;
    GET DIAGNOSTICS completed = ROW_COUNT;
    RETURN completed;
END
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_heartbeat(p_worker text, p_ids uuid[], p_lease_seconds integer)
RETURNS TABLE (id uuid, cancel_requested boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
    UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    WHERE j.id = ANY (p_ids) AND j.state = (SELECT 'running'::text) AND j.worker = p_worker
    RETURNING j.id, j.cancel_requested
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_release(p_worker text, p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE released integer;
BEGIN
    UPDATE jobs j SET state = 'available', attempts = greatest(j.attempts - 1, 0), worker = NULL,
        lease_expires_at = NULL, updated_at = now()
    WHERE j.id = ANY (p_ids) AND j.state = (SELECT 'running'::text) AND j.worker = p_worker;
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
END
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_handed(p_worker text, p_ids uuid[], p_min_lease_seconds integer)
RETURNS TABLE (id uuid, workspace_id uuid, type text, payload text, attempts integer, max_attempts integer,
               timeout_seconds integer, backoff_base_seconds integer, backoff_cap_seconds integer, scopes text[],
               waited double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT j.id, j.workspace_id, j.type, j.payload::text, j.attempts, j.max_attempts, j.timeout_seconds,
           j.backoff_base_seconds, j.backoff_cap_seconds, j.scopes, extract(epoch FROM now() - j.run_at)::double precision
    FROM jobs j WHERE j.id = ANY (p_ids) AND j.state = (SELECT 'running'::text) AND j.worker = p_worker
        AND j.lease_expires_at > clock_timestamp() + make_interval(secs => p_min_lease_seconds);
END
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION trellis_jobs_complete(p_worker text, p_ids uuid[], p_results text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE completed integer;
BEGIN
    UPDATE jobs j SET state = 'completed', result = nullif(r.result, '')::jsonb, progress = 1, finished_at = now(),
        worker = NULL, lease_expires_at = NULL, updated_at = now()
    FROM unnest(p_ids, p_results) AS r (id, result)
    WHERE j.id = r.id AND j.state = 'running' AND j.worker = p_worker;
    GET DIAGNOSTICS completed = ROW_COUNT;
    RETURN completed;
END
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_heartbeat(p_worker text, p_ids uuid[], p_lease_seconds integer)
RETURNS TABLE (id uuid, cancel_requested boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
    UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.worker = p_worker
    RETURNING j.id, j.cancel_requested
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_release(p_worker text, p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE released integer;
BEGIN
    UPDATE jobs j SET state = 'available', attempts = greatest(j.attempts - 1, 0), worker = NULL,
        lease_expires_at = NULL, updated_at = now()
    WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.worker = p_worker;
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
END
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_handed(p_worker text, p_ids uuid[], p_min_lease_seconds integer)
RETURNS TABLE (id uuid, workspace_id uuid, type text, payload text, attempts integer, max_attempts integer,
               timeout_seconds integer, backoff_base_seconds integer, backoff_cap_seconds integer, scopes text[],
               waited double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT j.id, j.workspace_id, j.type, j.payload::text, j.attempts, j.max_attempts, j.timeout_seconds,
           j.backoff_base_seconds, j.backoff_cap_seconds, j.scopes, extract(epoch FROM now() - j.run_at)::double precision
    FROM jobs j WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.worker = p_worker
        AND j.lease_expires_at > clock_timestamp() + make_interval(secs => p_min_lease_seconds);
END
$$;
