-- Identity and accountability: workspace isolation for the platform tables, API keys,
-- idempotency keys and the append-only, hash-chained audit log (DESIGN.md §5, §6, §8).
--
-- Platform tables ENABLE row-level security without FORCE: the server's role sees only the
-- request's workspace, while the owner role (migrations, `trellis keys`, `trellis admin`,
-- `trellis audit verify`) and the narrow SECURITY DEFINER functions below see every row.
-- migrate:up
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;

CREATE POLICY workspaces_isolation ON workspaces
    USING (id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid
           OR current_setting('trellis.platform_admin', true) = 'on')
    WITH CHECK (id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid
           OR current_setting('trellis.platform_admin', true) = 'on');

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name text CONSTRAINT api_keys_name_check CHECK (char_length(name) <= 200),
    -- SHA-256 of the secret part of trk_<id>_<secret>; the secret itself is never stored.
    secret_hash bytea NOT NULL CONSTRAINT api_keys_secret_hash_check CHECK (octet_length(secret_hash) = 32),
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Bumped (with clock_timestamp()) by every change that must reach other instances' caches.
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz,
    revoked_at timestamptz,
    -- Written in batches by each instance, never on the request path.
    last_used_at timestamptz,
    rotated_from uuid,
    created_by text NOT NULL
);

CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, created_at DESC, id DESC);

CREATE INDEX api_keys_updated_at_idx ON api_keys (updated_at);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY api_keys_workspace_isolation ON api_keys
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- Authentication happens before the workspace is known: this returns one key's verifier
-- by id, and nothing else, to the server's role.
CREATE FUNCTION trellis_api_key_verifier(p_id uuid)
RETURNS TABLE (workspace_id uuid, secret_hash bytea, scopes text[], expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.workspace_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at FROM api_keys k WHERE k.id = p_id
$$;

-- Keys changed (revoked, rotated) recently, so every instance can drop them from its cache.
CREATE FUNCTION trellis_api_keys_changed_since(p_since timestamptz)
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id FROM api_keys k WHERE k.updated_at > p_since
$$;

-- Batched last-use stamps; does not bump updated_at (that would churn every cache).
CREATE FUNCTION trellis_api_keys_touch(p_ids uuid[], p_at timestamptz)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE api_keys SET last_used_at = p_at
    WHERE id = ANY (p_ids) AND (last_used_at IS NULL OR last_used_at < p_at)
$$;

CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key text NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: the same key with another request is a 422.
    fingerprint bytea NOT NULL,
    status integer,
    location text,
    response_body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (workspace_id, key)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- Forgets responses older than their 24 hours, in every workspace; each instance calls it
-- now and then. Expired rows are already ignored when a key is claimed.
CREATE FUNCTION trellis_idempotency_keys_prune()
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH gone AS (DELETE FROM idempotency_keys WHERE expires_at < now() RETURNING 1) SELECT count(*) FROM gone
$$;

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY idempotency_keys_workspace_isolation ON idempotency_keys
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- The audit log. No foreign key to workspaces: the record outlives what it describes.
-- Failed authentications that name no known key go to the all-zero workspace's chain.
CREATE TABLE audit_log (
    workspace_id uuid NOT NULL,
    seq bigint NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    credential_id text,
    action text NOT NULL,
    resource text,
    resource_id text,
    before jsonb,
    after jsonb,
    ip text,
    user_agent text,
    request_id text,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT audit_log_pkey PRIMARY KEY (workspace_id, seq)
);

CREATE INDEX audit_log_resource_idx ON audit_log (workspace_id, resource, resource_id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY audit_log_workspace_isolation ON audit_log
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- Each workspace's chain head; only the chain trigger (running as the owner) touches it.
CREATE TABLE audit_chain_heads (
    workspace_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash bytea NOT NULL
);

-- The exact bytes each link hashes: a JSON array of every field, so no field's content can
-- be moved into its neighbour. Used by the chain trigger and by `trellis audit verify`.
CREATE FUNCTION trellis_audit_payload(a audit_log)
RETURNS bytea
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT convert_to(jsonb_build_array(
        a.workspace_id::text, a.seq, a.id::text,
        to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        a.actor, a.credential_id, a.action, a.resource, a.resource_id, a.before, a.after,
        a.ip, a.user_agent, a.request_id)::text, 'UTF8')
$$;

-- Appends a row to its workspace's chain: hash = SHA-256(prev_hash || payload). The head
-- row lock orders concurrent writers of one workspace; other workspaces never wait.
CREATE FUNCTION trellis_audit_chain()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    head record;
BEGIN
    INSERT INTO audit_chain_heads (workspace_id, seq, hash)
    VALUES (NEW.workspace_id, 0, decode(repeat('00', 32), 'hex'))
    ON CONFLICT (workspace_id) DO NOTHING;
    SELECT h.seq, h.hash INTO head FROM audit_chain_heads h WHERE h.workspace_id = NEW.workspace_id FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.hash;
    NEW.hash := sha256(NEW.prev_hash || trellis_audit_payload(NEW));
    UPDATE audit_chain_heads SET seq = NEW.seq, hash = NEW.hash WHERE workspace_id = NEW.workspace_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION trellis_audit_chain();

CREATE FUNCTION trellis_audit_append_only()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION trellis_audit_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_audit_append_only();

-- A failed authentication, recorded before any workspace is known.
CREATE FUNCTION trellis_audit_failed_auth(
    p_workspace uuid, p_credential text, p_reason text, p_ip text, p_user_agent text, p_request_id text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO audit_log (workspace_id, actor, credential_id, action, after, ip, user_agent, request_id)
    VALUES (coalesce(p_workspace, '00000000-0000-0000-0000-000000000000'), 'anonymous', p_credential,
            'auth.failed', jsonb_build_object('reason', p_reason), p_ip, p_user_agent, p_request_id)
$$;

-- Whatever default privileges granted, no role but the owner may rewrite history or
-- touch the chain heads.
REVOKE ALL ON audit_chain_heads FROM PUBLIC;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

DO $$
DECLARE
    grantee_role text;
BEGIN
    FOR grantee_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name IN ('audit_log', 'audit_chain_heads')
          AND g.grantee NOT IN (current_user, 'PUBLIC')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', grantee_role);
        EXECUTE format('REVOKE ALL ON audit_chain_heads FROM %I', grantee_role);
    END LOOP;
END
$$;

-- migrate:down
DROP FUNCTION trellis_audit_failed_auth(uuid, text, text, text, text, text);
DROP FUNCTION trellis_audit_payload(audit_log) CASCADE;
DROP TABLE audit_log;
DROP TABLE audit_chain_heads;
DROP FUNCTION trellis_audit_append_only();
DROP FUNCTION trellis_audit_chain();
DROP FUNCTION trellis_idempotency_keys_prune();
DROP TABLE idempotency_keys;
DROP FUNCTION trellis_api_keys_touch(uuid[], timestamptz);
DROP FUNCTION trellis_api_keys_changed_since(timestamptz);
DROP FUNCTION trellis_api_key_verifier(uuid);
DROP TABLE api_keys;
DROP POLICY workspaces_isolation ON workspaces;
ALTER TABLE workspaces DISABLE ROW LEVEL SECURITY;
