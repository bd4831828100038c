-- A job is handed only to a worker that can hear it (issue 11; hand-offs are on by default from
-- here on). Before, a worker that ended without a graceful shutdown (kill -9, a crash, a task
-- cancelled in a test) left its offers standing for up to their lifetime (2-3 s), and a job
-- handed to it in that time waited for its lease (30 s) and the rescuer, its attempt counted.
--
-- Now each worker's LISTEN connection holds a session advisory lock on a random 64-bit key of
-- its own for as long as it listens, and the worker's claims record that key beside its
-- offers. An enqueue takes an offer only while the key is held: `pg_try_advisory_xact_lock_shared`
-- fails against the listener's exclusive hold, and succeeds once the listener's backend is gone
-- (the process died and the kernel closed its socket; the connection was lost) or the worker let
-- go of the key (it stopped listening, for any reason). Such offers are passed over, never
-- waited for, and lapse on their own; the job goes to a live offer or to the queue's NOTIFY.
--
-- What is left is the window every lease has: a worker that dies after the check (between the
-- hand-off and the enqueue's commit, or before it reads the job) holds the job until its lease
-- runs out, as a worker that dies right after a claim does.
-- migrate:up
-- The key the worker's listener holds (NULL: not known, never handed to).
ALTER TABLE job_waiting_workers ADD COLUMN listener_key bigint;

DROP FUNCTION trellis_jobs_claim_and_wait(text, text, uuid[], text[], text, integer, integer, integer, integer);

-- As in migration 0021, with the worker's listener key recorded beside its offers.
CREATE FUNCTION trellis_jobs_claim_and_wait(p_worker text, p_channel text, p_listener_key bigint, p_ids uuid[], p_results text[],
                                            p_queue text, p_limit integer, p_lease_seconds integer, p_wait_slots integer,
                                            p_wait_seconds integer)
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
    wanted := CASE WHEN claimed < p_limit AND p_listener_key IS NOT NULL
        THEN greatest(least(p_wait_slots, p_limit - claimed, 100), 0) ELSE 0 END;
    SELECT count(*) INTO offered FROM job_waiters w WHERE w.worker = p_worker AND w.queue = p_queue;
    IF wanted > 0 THEN
        INSERT INTO job_waiting_workers AS l (worker, channel, lease_seconds, expires_at, listener_key)
        VALUES (p_worker, p_channel, p_lease_seconds, now() + make_interval(secs => greatest(p_wait_seconds, 1)), p_listener_key)
        ON CONFLICT (worker) DO UPDATE SET channel = excluded.channel, lease_seconds = excluded.lease_seconds,
            expires_at = excluded.expires_at, listener_key = excluded.listener_key;
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

-- As in migration 0021, passing over offers whose worker no longer holds its listener key.
CREATE OR REPLACE FUNCTION trellis_jobs_hand_off(p_id uuid, p_queue text)
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
              -- Held (exclusively, by the worker's listener): the worker hears its channel.
              AND NOT pg_try_advisory_xact_lock_shared(y.listener_key)
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

-- migrate:down
DROP FUNCTION trellis_jobs_claim_and_wait(text, text, bigint, uuid[], text[], text, integer, integer, integer, integer);
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
CREATE OR REPLACE FUNCTION trellis_jobs_hand_off(p_id uuid, p_queue text)
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
ALTER TABLE job_waiting_workers DROP COLUMN listener_key;
