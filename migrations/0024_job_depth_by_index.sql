-- The queue's depth (`/metrics`, every JobQueueMonitor interval in every server and worker
-- process) and the oldest available job's age (`/health/ready`) read only the jobs that are
-- not finished, through the partial indexes of their states, however many finished jobs
-- retention keeps (issue 11).
--
-- `trellis_jobs_depth` filtered with `state IN (five states)`, which no partial index's
-- predicate implies, so it read the whole table: with a million completed jobs kept, a
-- sequential scan of all of them every 10 s per process. Now each state is its own branch,
-- each implied by one partial index (`jobs_fetch_idx`, `jobs_lease_idx`, `jobs_due_idx`,
-- `jobs_workspace_rare_state_idx`), and both functions forbid sequential scans, as the
-- worker's functions do (JobQueueTests checks both plans with EXPLAIN).
-- migrate:up
CREATE OR REPLACE FUNCTION trellis_jobs_depth()
RETURNS TABLE (queue text, state text, jobs bigint, oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
    SELECT j.queue, 'available'::text, count(*), coalesce(extract(epoch FROM now() - min(j.run_at)), 0)::double precision
    FROM jobs j WHERE j.state = 'available' GROUP BY j.queue
    UNION ALL
    SELECT j.queue, 'running', count(*), 0 FROM jobs j WHERE j.state = 'running' GROUP BY j.queue
    UNION ALL
    SELECT j.queue, j.state, count(*), 0 FROM jobs j WHERE j.state IN ('scheduled', 'retryable') GROUP BY j.queue, j.state
    UNION ALL
    SELECT j.queue, 'dead', count(*), 0 FROM jobs j WHERE j.state = 'dead' GROUP BY j.queue
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_oldest_available_age()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
    SELECT coalesce(extract(epoch FROM now() - min(j.run_at)), 0)::double precision FROM jobs j WHERE j.state = 'available'
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION trellis_jobs_depth()
RETURNS TABLE (queue text, state text, jobs bigint, oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT j.queue, j.state, count(*),
        coalesce(extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.state = 'available')), 0)::double precision
    FROM jobs j WHERE j.state IN ('scheduled', 'available', 'running', 'retryable', 'dead')
    GROUP BY j.queue, j.state
$$;

CREATE OR REPLACE FUNCTION trellis_jobs_oldest_available_age()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(extract(epoch FROM now() - min(j.run_at)), 0)::double precision FROM jobs j WHERE j.state = 'available'
$$;
