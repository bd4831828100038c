-- Completed attempts recorded in batches (issue 11, the jobs benchmark): a busy worker records
-- the jobs that completed while its previous batch was being written in one statement, instead
-- of one trellis_jobs_finish round trip each. Same effect as trellis_jobs_finish(…, 'completed'):
-- a job this worker no longer holds is left alone. An empty result text stands for none.
-- migrate:up
CREATE FUNCTION trellis_jobs_complete(p_worker text, p_ids uuid[], p_results text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- migrate:down
DROP FUNCTION trellis_jobs_complete(text, uuid[], text[]);
