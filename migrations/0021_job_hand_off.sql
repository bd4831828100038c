-- A job enqueued while a worker waits is handed to that worker in the enqueuing transaction
-- (issue 11: enqueue->start with an idle worker). Before, an idle worker learned of a new job
-- by NOTIFY and then claimed it, and the claim's commit waited for its own WAL flush: most of
-- the 2 ms from an enqueue's commit to its handler's start. Now a worker whose claim finds its
-- queue empty offers a few slots in job_waiters (in the same statement as the claim); an
-- enqueue that finds an offer takes it, marks the job running under that worker with its
-- lease and attempt counted, exactly as a claim would, and notifies the worker's own channel.
-- The assignment is durable with the enqueue's own commit, so the worker reads the job (a
-- read, no commit to wait for) and starts it.
--
-- What stays as it was: a job is never run by two workers at once (an offer is taken by one
-- transaction, FOR UPDATE SKIP LOCKED, and becomes the job's worker and lease); a worker that
-- dies holding handed jobs loses them to the rescuer when their leases expire, the attempt
-- counted, as for claimed ones; an offer is void after p_wait_seconds (the worker renews it
-- with every claim while idle), and a stopping worker withdraws its offers.
-- migrate:up
-- Workers with offers out: how to reach each, its lease, and until when its offers stand (a
-- claim renews this row alone, so an enqueue never finds the offers themselves locked by a
-- renewal).
CREATE TABLE job_waiting_workers (
    worker text PRIMARY KEY,
    -- The channel the worker LISTENs on for its hand-offs (payload: job id, a space, the queue).
    channel text NOT NULL CONSTRAINT job_waiting_workers_channel_check CHECK (channel ~ '^[a-z0-9_]{1,63}$'),
    lease_seconds integer NOT NULL CONSTRAINT job_waiting_workers_lease_check CHECK (lease_seconds BETWEEN 1 AND 86400),
    expires_at timestamptz NOT NULL
);
-- One row per slot offered: an enqueue takes (deletes) one.
CREATE TABLE job_waiters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    worker text NOT NULL REFERENCES job_waiting_workers (worker) ON DELETE CASCADE
);
CREATE INDEX job_waiters_queue_idx ON job_waiters (queue, id);
CREATE INDEX job_waiters_worker_idx ON job_waiters (worker, queue);

-- Platform tables: tenants never see them (no policy grants a row, no privilege either); the
-- functions below and the owner role do.
ALTER TABLE job_waiting_workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_waiters ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON job_waiting_workers, job_waiters FROM PUBLIC;
REVOKE ALL ON job_waiting_workers, job_waiters FROM trellis_app;

-- The worker's claim: records completions and claims as trellis_jobs_complete_and_claim does.
-- Then, when it claimed fewer than p_limit (the queue is empty), this worker's offers on the
-- queue become min(p_wait_slots, p_limit - claimed), standing for p_wait_seconds; when it
-- claimed p_limit, it withdraws them. Offers are added or removed only when their number
-- changes (removal skips offers an enqueue is taking right now). Workers whose offers lapsed
-- over a minute ago are forgotten on the way.
CREATE FUNCTION trellis_jobs_claim_and_wait(p_worker text, p_channel text, p_ids uuid[], p_results text[], p_queue text,
                                            p_limit integer, p_lease_seconds integer, p_wait_slots integer, p_wait_seconds integer)
RETURNS TABLE (id uuid, workspace_id uuid, type text, payload text, attempts integer, max_attempts integer,
               timeout_seconds integer, backoff_base_seconds integer, backoff_cap_seconds integer, scopes text[],
               waited double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    claimed integer;
    wanted integer;
    offered integer;
BEGIN
    RETURN QUERY SELECT * FROM trellis_jobs_complete_and_claim(p_worker, p_ids, p_results, p_queue, p_limit, p_lease_seconds);
    GET DIAGNOSTICS claimed = ROW_COUNT;
    wanted := CASE WHEN claimed < p_limit THEN greatest(least(p_wait_slots, p_limit - claimed, 100), 0) ELSE 0 END;
    SELECT count(*) INTO offered FROM job_waiters w WHERE w.worker = p_worker AND w.queue = p_queue;
    IF wanted > 0 THEN
        INSERT INTO job_waiting_workers AS l (worker, channel, lease_seconds, expires_at)
        VALUES (p_worker, p_channel, p_lease_seconds, now() + make_interval(secs => greatest(p_wait_seconds, 1)))
        ON CONFLICT (worker) DO UPDATE SET channel = excluded.channel, lease_seconds = excluded.lease_seconds,
            expires_at = excluded.expires_at;
        DELETE FROM job_waiting_workers l WHERE l.worker IN (
            SELECT o.worker FROM job_waiting_workers o WHERE o.expires_at < now() - interval '1 minute' LIMIT 100 FOR UPDATE SKIP LOCKED);
    END IF;
    IF offered < wanted THEN
        INSERT INTO job_waiters (queue, worker) SELECT p_queue, p_worker FROM generate_series(1, wanted - offered);
    ELSIF offered > wanted THEN
        DELETE FROM job_waiters w WHERE w.id IN (
            SELECT x.id FROM job_waiters x WHERE x.worker = p_worker AND x.queue = p_queue
            LIMIT offered - wanted FOR UPDATE SKIP LOCKED);
    END IF;
END
$$;

-- Called by the enqueue, in its transaction, for the job it just inserted as available: hands
-- it to a waiting worker if one has an offer on the queue (then true), else notifies the
-- queue's channel as before (false). Only a job of the caller's own workspace, still
-- available, can be handed; offers another enqueue is taking are skipped, never waited for.
CREATE FUNCTION trellis_jobs_hand_off(p_id uuid, p_queue text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    offer record;
BEGIN
    PERFORM FROM jobs j WHERE j.id = p_id AND j.state = 'available' AND j.queue = p_queue
        AND j.workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid;
    IF FOUND THEN
        DELETE FROM job_waiters w USING job_waiting_workers l
        WHERE w.id = (
            SELECT x.id FROM job_waiters x JOIN job_waiting_workers y ON y.worker = x.worker
            WHERE x.queue = p_queue AND y.expires_at > now()
            ORDER BY x.id LIMIT 1 FOR UPDATE OF x SKIP LOCKED)
          AND l.worker = w.worker
        RETURNING w.worker, l.channel, l.lease_seconds INTO offer;
        IF FOUND THEN
            -- The lease runs from now, not from the transaction's start (now()); the worker
            -- refuses a job whose transaction committed with less than half of it left.
            UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, worker = offer.worker,
                lease_expires_at = clock_timestamp() + make_interval(secs => offer.lease_seconds), attempted_at = now(),
                updated_at = now()
            WHERE j.id = p_id;
            PERFORM pg_notify(offer.channel, p_id::text || ' ' || p_queue);
            RETURN true;
        END IF;
    END IF;
    PERFORM pg_notify('trellis_jobs', p_queue);
    RETURN false;
END
$$;

-- The jobs handed to this worker, by id, as its claim returns them; a read (no commit to wait
-- for). Jobs it no longer holds (cancelled and finished, rescued) are not returned, nor those
-- with less than p_min_lease_seconds of their lease left: an enqueuing transaction that stayed
-- open long after its hand-off committed a lease that may run out before the worker's first
-- heartbeat, and the rescuer would give the job to another worker while this one ran it; such a
-- job is left to the rescuer. PL/pgSQL keeps the plan: a SQL function with SET clauses is
-- planned at every call (170 us here, against 20 us).
CREATE FUNCTION trellis_jobs_handed(p_worker text, p_ids uuid[], p_min_lease_seconds integer)
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

-- A stopping worker's offers, withdrawn (an enqueue taking one right now keeps it: that job's
-- lease then runs out and the rescuer gives it back). Returns how many.
CREATE FUNCTION trellis_jobs_withdraw(p_worker text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE withdrawn integer;
BEGIN
    DELETE FROM job_waiters w WHERE w.id IN (SELECT x.id FROM job_waiters x WHERE x.worker = p_worker FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS withdrawn = ROW_COUNT;
    UPDATE job_waiting_workers l SET expires_at = now() WHERE l.worker = p_worker;
    RETURN withdrawn;
END
$$;

-- migrate:down
DROP FUNCTION trellis_jobs_withdraw(text);
DROP FUNCTION trellis_jobs_handed(text, uuid[], integer);
DROP FUNCTION trellis_jobs_hand_off(uuid, text);
DROP FUNCTION trellis_jobs_claim_and_wait(text, text, uuid[], text[], text, integer, integer, integer, integer);
DROP TABLE job_waiters;
DROP TABLE job_waiting_workers;
