-- The audit hash chain moves off the write path (issue 7 item 2).
--
-- Until now each insert took its workspace's chain-head row lock, so one busy workspace's
-- audited writes committed one at a time while holding pool connections. Now an insert
-- only appends an unsealed entry (`seq`, `prev_hash` and `hash` null, `entry_no` from a
-- sequence). A sealer — `trellis_audit_seal`, called by every server instance a few times
-- a second — links unsealed entries into each workspace's chain in `entry_no` order,
-- holding that workspace's head lock only for the sealing itself (other sealers skip a
-- locked workspace). An entry whose transaction commits late is sealed after entries that
-- committed earlier: the chain's order is the sealing order, recorded by `seq`.
-- `trellis audit verify` checks the sealed chain and reports entries left unsealed too long.
-- migrate:up
CREATE SEQUENCE audit_log_entry_no_seq;

ALTER TABLE audit_log ADD COLUMN entry_no bigint NOT NULL DEFAULT nextval('audit_log_entry_no_seq');

ALTER SEQUENCE audit_log_entry_no_seq OWNED BY audit_log.entry_no;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;

ALTER TABLE audit_log ALTER COLUMN seq DROP NOT NULL, ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL;

ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

CREATE UNIQUE INDEX audit_log_chain_idx ON audit_log (workspace_id, seq);

CREATE INDEX audit_log_unsealed_idx ON audit_log (workspace_id, entry_no) WHERE seq IS NULL;

DROP TRIGGER audit_log_chain ON audit_log;

DROP FUNCTION trellis_audit_chain();

-- Append-only, except that the sealer fills in an unsealed entry's chain fields, once.
CREATE OR REPLACE FUNCTION trellis_audit_append_only()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND OLD.hash IS NULL
       AND current_setting('trellis.audit_sealing', true) = 'on'
       AND (NEW.workspace_id, NEW.id, NEW.entry_no, NEW.occurred_at, NEW.actor, NEW.credential_id, NEW.action,
            NEW.resource, NEW.resource_id, NEW.before, NEW.after, NEW.ip, NEW.user_agent, NEW.request_id)
           IS NOT DISTINCT FROM
           (OLD.workspace_id, OLD.id, OLD.entry_no, OLD.occurred_at, OLD.actor, OLD.credential_id, OLD.action,
            OLD.resource, OLD.resource_id, OLD.before, OLD.after, OLD.ip, OLD.user_agent, OLD.request_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;

-- Seals up to p_limit entries per workspace, for at most 100 workspaces with unsealed
-- entries; returns how many it sealed. hash = SHA-256(prev_hash || payload), as before.
CREATE FUNCTION trellis_audit_seal(p_limit integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ws uuid;
    head_seq bigint;
    head_hash bytea;
    entry audit_log;
    sealed integer := 0;
BEGIN
    PERFORM set_config('trellis.audit_sealing', 'on', true);
    -- Workspaces in one order for every sealer, so two sealers never wait on each other in a cycle.
    FOR ws IN SELECT DISTINCT a.workspace_id FROM audit_log a WHERE a.seq IS NULL ORDER BY 1 LIMIT 100 LOOP
        INSERT INTO audit_chain_heads (workspace_id, seq, hash)
        VALUES (ws, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (workspace_id) DO NOTHING;
        SELECT h.seq, h.hash INTO head_seq, head_hash
        FROM audit_chain_heads h WHERE h.workspace_id = ws FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;  -- another sealer has this workspace
        FOR entry IN
            SELECT * FROM audit_log a WHERE a.workspace_id = ws AND a.seq IS NULL ORDER BY a.entry_no LIMIT p_limit
        LOOP
            entry.seq := head_seq + 1;
            entry.prev_hash := head_hash;
            entry.hash := sha256(head_hash || trellis_audit_payload(entry));
            UPDATE audit_log SET seq = entry.seq, prev_hash = entry.prev_hash, hash = entry.hash WHERE id = entry.id;
            head_seq := entry.seq;
            head_hash := entry.hash;
            sealed := sealed + 1;
        END LOOP;
        UPDATE audit_chain_heads SET seq = head_seq, hash = head_hash WHERE workspace_id = ws;
    END LOOP;
    PERFORM set_config('trellis.audit_sealing', '', true);
    RETURN sealed;
END
$$;

-- migrate:down
SELECT trellis_audit_seal(2147483647);
DROP FUNCTION trellis_audit_seal(integer);
CREATE OR REPLACE FUNCTION trellis_audit_append_only()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
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
DROP INDEX audit_log_unsealed_idx;
DROP INDEX audit_log_chain_idx;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (workspace_id, seq);
ALTER TABLE audit_log DROP COLUMN entry_no;
