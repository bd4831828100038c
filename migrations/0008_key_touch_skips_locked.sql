-- The last-use flush no longer waits for a key's row lock.
--
-- Each instance's refresher writes `last_used_at` for the keys used since its last flush
-- (`trellis_api_keys_touch`), in the same loop that polls for revocations. A key whose
-- revocation, rotation or scope change was still open held its row lock, so the UPDATE
-- waited for that transaction (up to lock_timeout), and no poll ran meanwhile: another
-- key revoked in those seconds reached this instance late. Locked rows are now skipped
-- and returned, and the refresher writes their last use at its next flush.
-- migrate:up
DROP FUNCTION trellis_api_keys_touch(uuid[], timestamptz);

CREATE FUNCTION trellis_api_keys_touch(p_ids uuid[], p_at timestamptz)
RETURNS SETOF uuid -- the keys skipped because another transaction held their row
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH free AS (
        SELECT id, last_used_at FROM api_keys WHERE id = ANY (p_ids) FOR UPDATE SKIP LOCKED
    ), touched AS (
        UPDATE api_keys k SET last_used_at = p_at FROM free
        WHERE k.id = free.id AND (free.last_used_at IS NULL OR free.last_used_at < p_at)
    )
    SELECT id FROM api_keys WHERE id = ANY (p_ids) AND id NOT IN (SELECT id FROM free)
$$;

-- migrate:down
DROP FUNCTION trellis_api_keys_touch(uuid[], timestamptz);

CREATE FUNCTION trellis_api_keys_touch(p_ids uuid[], p_at timestamptz)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE api_keys SET last_used_at = p_at
    WHERE id = ANY (p_ids) AND (last_used_at IS NULL OR last_used_at < p_at)
$$;
