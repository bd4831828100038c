-- Cron schedules of jobs.yaml (issue 11 item 3). Each tick of a schedule is one row here,
-- keyed by (schedule, tick): the first worker to insert it fires the tick, every other worker's
-- insert does nothing, so a tick fires exactly once however many workers run. Firing enqueues
-- the schedule's job once per tenant workspace, in the same transaction as the row. The rows
-- are the run history (`GET /v1/admin/schedules`).
-- migrate:up
CREATE TABLE job_schedule_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule text NOT NULL CONSTRAINT job_schedule_runs_schedule_check CHECK (char_length(schedule) BETWEEN 1 AND 100),
    -- The cron time this run is for (a manual run: the time it was asked for).
    tick timestamptz NOT NULL,
    -- 'cron' or 'manual'.
    trigger text NOT NULL CONSTRAINT job_schedule_runs_trigger_check CHECK (trigger IN ('cron', 'manual')),
    -- 'fired', or 'skipped' (the previous run's jobs were still to run and the schedule skips).
    outcome text NOT NULL CONSTRAINT job_schedule_runs_outcome_check CHECK (outcome IN ('fired', 'skipped')),
    jobs integer NOT NULL DEFAULT 0,
    fired_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_schedule_runs_tick_key UNIQUE (schedule, tick)
);

CREATE INDEX job_schedule_runs_recent_idx ON job_schedule_runs (schedule, fired_at DESC);

-- Platform table: tenants never see it (no policy grants a row); the functions below and the
-- owner role do.
ALTER TABLE job_schedule_runs ENABLE ROW LEVEL SECURITY;

ALTER TABLE jobs ADD COLUMN schedule_run bigint REFERENCES job_schedule_runs (id) ON DELETE SET NULL;

CREATE INDEX jobs_schedule_run_idx ON jobs (schedule_run) WHERE schedule_run IS NOT NULL;

-- A UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, variant 10, random bits), like the
-- ids the server makes, so jobs made here sort by creation among the others.
CREATE FUNCTION trellis_uuid_v7()
RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
        52, 1), 53, 1), 'hex')::uuid
$$;

-- Fires one tick: records it (or finds another worker did: null), and unless the schedule
-- skips while its previous run's jobs are still to run, enqueues the job in every tenant
-- workspace with the given options, acting as `schedule:<name>` with every workspace scope.
-- Returns the run's id, outcome and job count.
CREATE FUNCTION trellis_jobs_fire_schedule(
    p_schedule text, p_tick timestamptz, p_trigger text, p_skip_overlap boolean,
    p_type text, p_queue text, p_priority integer, p_payload jsonb, p_max_attempts integer, p_timeout_seconds integer,
    p_backoff_base_seconds integer, p_backoff_cap_seconds integer)
RETURNS TABLE (run bigint, outcome text, jobs integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_run bigint;
    v_previous bigint;
    v_jobs integer := 0;
BEGIN
    SELECT r.id INTO v_previous FROM job_schedule_runs r
    WHERE r.schedule = p_schedule AND r.outcome = 'fired' ORDER BY r.fired_at DESC LIMIT 1;
    INSERT INTO job_schedule_runs (schedule, tick, trigger, outcome)
    VALUES (p_schedule, p_tick, p_trigger, 'fired')
    ON CONFLICT (schedule, tick) DO NOTHING
    RETURNING id INTO v_run;
    IF v_run IS NULL THEN
        RETURN;
    END IF;
    IF p_skip_overlap AND v_previous IS NOT NULL AND EXISTS (
        SELECT 1 FROM jobs j WHERE j.schedule_run = v_previous AND j.state IN ('scheduled', 'available', 'running', 'retryable')
    ) THEN
        UPDATE job_schedule_runs SET outcome = 'skipped' WHERE id = v_run;
        RETURN QUERY SELECT v_run, 'skipped'::text, 0;
        RETURN;
    END IF;
    INSERT INTO jobs (id, workspace_id, type, queue, state, priority, payload, max_attempts, timeout_seconds,
                      backoff_base_seconds, backoff_cap_seconds, scopes, created_by, schedule_run)
    SELECT trellis_uuid_v7(), w.id, p_type, p_queue, 'available', p_priority, p_payload, p_max_attempts, p_timeout_seconds,
           p_backoff_base_seconds, p_backoff_cap_seconds, ARRAY['*'], 'schedule:' || p_schedule, v_run
    FROM workspaces w WHERE w.id <> '00000000-0000-0000-0000-000000000000';
    GET DIAGNOSTICS v_jobs = ROW_COUNT;
    UPDATE job_schedule_runs SET jobs = v_jobs WHERE id = v_run;
    IF v_jobs > 0 THEN
        PERFORM pg_notify('trellis_jobs', p_queue);
    END IF;
    RETURN QUERY SELECT v_run, 'fired'::text, v_jobs;
END
$$;

-- A schedule's most recent runs, newest first, with how many of each run's jobs are in each
-- state (for the run history).
CREATE FUNCTION trellis_jobs_schedule_runs(p_schedule text, p_limit integer)
RETURNS TABLE (id bigint, tick timestamptz, trigger text, outcome text, jobs integer, fired_at timestamptz,
               pending bigint, completed bigint, failed bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT r.id, r.tick, r.trigger, r.outcome, r.jobs, r.fired_at,
        (SELECT count(*) FROM jobs j WHERE j.schedule_run = r.id AND j.state IN ('scheduled', 'available', 'running', 'retryable')),
        (SELECT count(*) FROM jobs j WHERE j.schedule_run = r.id AND j.state = 'completed'),
        (SELECT count(*) FROM jobs j WHERE j.schedule_run = r.id AND j.state IN ('dead', 'cancelled'))
    FROM job_schedule_runs r WHERE r.schedule = p_schedule
    ORDER BY r.fired_at DESC LIMIT least(greatest(p_limit, 1), 100)
$$;

-- migrate:down
DROP FUNCTION trellis_jobs_schedule_runs(text, integer);
DROP FUNCTION trellis_jobs_fire_schedule(text, timestamptz, text, boolean, text, text, integer, jsonb, integer, integer, integer, integer);
DROP FUNCTION trellis_uuid_v7();
DROP INDEX jobs_schedule_run_idx;
ALTER TABLE jobs DROP COLUMN schedule_run;
DROP TABLE job_schedule_runs;
