-- migrate:up
-- What /metrics reports for the on-call alerts beyond requests and the queue (issue 12): how
-- many webhook endpoints have an open circuit, and whether every workspace's audit chain still
-- verifies. The server role sees neither across workspaces (row-level security), so each is a
-- SECURITY DEFINER function that returns counts and nothing of any row.

-- Enabled endpoints whose circuit is open (opened within the cooldown: no calls are made) or
-- half-open (the cooldown passed: the next delivery probes it).
CREATE FUNCTION trellis_webhook_circuits(p_cooldown_seconds integer)
RETURNS TABLE (open bigint, half_open bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*) FILTER (WHERE e.circuit_opened_at > now() - make_interval(secs => p_cooldown_seconds)),
           count(*) FILTER (WHERE e.circuit_opened_at <= now() - make_interval(secs => p_cooldown_seconds))
    FROM webhook_endpoints e WHERE e.enabled AND e.circuit_opened_at IS NOT NULL
$$;

-- Workspaces with an audit chain, and those whose sealed chain does not verify: an entry
-- altered (its hash is not sha256(prev_hash || payload)), unlinked (prev_hash is not the
-- previous entry's hash, or the genesis hash first), missing (a gap in seq) or cut short (fewer
-- entries than the chain head's seq). The checks of `trellis audit verify`, which also names
-- the first broken link of each workspace.
CREATE FUNCTION trellis_audit_broken_chains()
RETURNS TABLE (workspaces bigint, broken bigint, entries bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH links AS (
        SELECT a.workspace_id,
               a.hash = sha256(a.prev_hash || trellis_audit_payload(a))
               AND a.prev_hash = coalesce(lag(a.hash) OVER w, decode(repeat('00', 32), 'hex'))
               AND a.seq = coalesce(lag(a.seq) OVER w, 0) + 1 AS intact
        FROM audit_log a WHERE a.seq IS NOT NULL
        WINDOW w AS (PARTITION BY a.workspace_id ORDER BY a.seq)
    ), chains AS (
        SELECT l.workspace_id, bool_and(l.intact) AS intact, count(*) AS entries FROM links l GROUP BY l.workspace_id
    )
    SELECT count(*),
           count(*) FILTER (WHERE NOT coalesce(c.intact, true) OR coalesce(c.entries, 0) < coalesce(h.seq, 0)),
           coalesce(sum(c.entries), 0)::bigint
    FROM audit_chain_heads h FULL JOIN chains c ON c.workspace_id = h.workspace_id
$$;

-- migrate:down
DROP FUNCTION trellis_audit_broken_chains();
DROP FUNCTION trellis_webhook_circuits(integer);
