-- Revocation must reach every instance within a second, however slowly the revoking
-- transaction commits (issue 7 item 2). Each instance polls for keys whose `updated_at`
-- is past its last poll's database time (less an overlap); a change stamped at its first
-- statement but committed seconds later would fall behind that mark and be missed. This
-- deferred trigger stamps `updated_at` again as the transaction commits, so the stamp
-- a poll sees is never older than the moment the change became visible, give or take
-- the commit itself.
--
-- It also adds the counted form of the failed-authentication audit entry: a flood of bad
-- credentials writes at most one row per source per window, each saying how many
-- attempts it stands for (`FailedAuthenticationLog`).
-- migrate:up
CREATE FUNCTION trellis_audit_failed_auth_counted(
    p_key uuid, p_reason text, p_attempts bigint, p_ip text, p_user_agent text, p_request_id text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO audit_log (workspace_id, actor, credential_id, action, after, ip, user_agent, request_id)
    VALUES (coalesce((SELECT k.workspace_id FROM api_keys k WHERE k.id = p_key), '00000000-0000-0000-0000-000000000000'),
            'anonymous', 'api_key:' || p_key::text,
            'auth.failed', jsonb_build_object('reason', p_reason, 'attempts', greatest(p_attempts, 1)),
            left(p_ip, 100), left(p_user_agent, 500), left(p_request_id, 128))
$$;

CREATE FUNCTION trellis_api_keys_stamp_at_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE api_keys SET updated_at = clock_timestamp() WHERE id = NEW.id;
    RETURN NULL;
END
$$;

-- Only changes that matter to a cache (not the stamp itself, nor last-use batches).
CREATE CONSTRAINT TRIGGER api_keys_stamp_at_commit
    AFTER UPDATE ON api_keys DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.workspace_id IS DISTINCT FROM NEW.workspace_id
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash)
    EXECUTE FUNCTION trellis_api_keys_stamp_at_commit();

-- migrate:down
DROP FUNCTION trellis_audit_failed_auth_counted(uuid, text, bigint, text, text, text);
DROP TRIGGER api_keys_stamp_at_commit ON api_keys;
DROP FUNCTION trellis_api_keys_stamp_at_commit();
