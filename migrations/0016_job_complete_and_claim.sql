-- A worker's completions ride on its next claim (issue 11, the jobs benchmark): the jobs that
-- completed since the worker's last round trip are recorded, and the next batch claimed, in one
-- statement and one transaction, so a busy queue costs one round trip and one commit per batch
-- instead of one for the claim and one or more for the completions. Either part may be empty:
-- no completions (a plain claim) or a limit of 0 (completions alone, when there is no room to
-- claim). The parts are the existing functions, unchanged.
-- migrate:up
CREATE FUNCTION trellis_jobs_complete_and_claim(p_worker text, p_ids uuid[], p_results text[], p_queue text, p_limit integer,
                                                p_lease_seconds integer)
RETURNS TABLE (id uuid, workspace_id uuid, type text, payload text, attempts integer, max_attempts integer,
               timeout_seconds integer, backoff_base_seconds integer, backoff_cap_seconds integer, scopes text[],
               waited double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF cardinality(p_ids) > 0 THEN
        PERFORM trellis_jobs_complete(p_worker, p_ids, p_results);
    END IF;
    IF p_limit > 0 THEN
        RETURN QUERY
            SELECT c.id, c.workspace_id, c.type, c.payload::text, c.attempts, c.max_attempts, c.timeout_seconds,
                   c.backoff_base_seconds, c.backoff_cap_seconds, c.scopes, extract(epoch FROM now() - c.run_at)::double precision
            FROM trellis_jobs_claim(p_queue, p_limit, p_worker, p_lease_seconds) c;
    END IF;
END
$$;

-- migrate:down
DROP FUNCTION trellis_jobs_complete_and_claim(text, uuid[], text[], text, integer, integer);
