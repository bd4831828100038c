-- A key may carry its own rate limit, replacing the schema's and api.yaml's limits for every
-- bucket it calls (each bucket is still counted on its own). Set at creation; kept by rotation.
-- Both columns are set or neither; the bounds are those the limiter computes exactly with.
-- migrate:up
ALTER TABLE api_keys
    ADD COLUMN rate_limit_per_minute integer,
    ADD COLUMN rate_limit_burst integer,
    ADD CONSTRAINT api_keys_rate_limit_check CHECK (
        (rate_limit_per_minute IS NULL) = (rate_limit_burst IS NULL)
        AND coalesce(rate_limit_per_minute, 1) BETWEEN 1 AND 60000000
        AND coalesce(rate_limit_burst, 1) BETWEEN 1 AND 1000000);

DROP FUNCTION trellis_api_key_verifier(uuid);

-- As in 0003, plus the key's rate limit.
CREATE FUNCTION trellis_api_key_verifier(p_id uuid)
RETURNS TABLE (workspace_id uuid, secret_hash bytea, scopes text[], expires_at timestamptz, revoked_at timestamptz,
               rate_limit_per_minute integer, rate_limit_burst integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.workspace_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, k.rate_limit_per_minute, k.rate_limit_burst
    FROM api_keys k WHERE k.id = p_id
$$;

-- migrate:down
DROP FUNCTION trellis_api_key_verifier(uuid);

CREATE FUNCTION trellis_api_key_verifier(p_id uuid)
RETURNS TABLE (workspace_id uuid, secret_hash bytea, scopes text[], expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.workspace_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at FROM api_keys k WHERE k.id = p_id
$$;

ALTER TABLE api_keys DROP CONSTRAINT api_keys_rate_limit_check,
    DROP COLUMN rate_limit_per_minute, DROP COLUMN rate_limit_burst;
