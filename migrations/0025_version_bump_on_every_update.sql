-- A row's `version` is its `get` ETag (DESIGN.md §5) and its `If-Match` precondition, so it
-- must move whenever the row changes. The service's UPDATE bumps it, but an update that no
-- handler writes left it as it was: a foreign key's `ON DELETE SET NULL` (agents.swarm_id,
-- messages.agent_id) cleared the column and kept the version, and a client holding the old
-- ETag got `304 Not Modified` for a row that had changed.
--
-- Every resource table now has a BEFORE UPDATE row trigger that, when an update left
-- `version` as it was, bumps `version` and `updated_at` if any other column changed. The WHEN
-- clause keeps it off the service's own updates, which bump the version already. Rows are
-- compared whole (as jsonb, without version, updated_at and the generated search_vector), so
-- a rewrite of rows as they are (the messages.reindex job's `SET content = content`, which
-- only recomputes the search vector) moves nothing, and a column added to a resource later
-- is covered without changing the trigger. `trellis migrate plan` writes the trigger for new
-- resource tables.
-- migrate:up
CREATE FUNCTION trellis_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'version' - 'updated_at' - 'search_vector')
        IS DISTINCT FROM (to_jsonb(OLD) - 'version' - 'updated_at' - 'search_vector') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER swarms_version_bump BEFORE UPDATE ON swarms FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER agents_version_bump BEFORE UPDATE ON agents FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER messages_version_bump BEFORE UPDATE ON messages FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER tools_version_bump BEFORE UPDATE ON tools FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION trellis_bump_version();

-- migrate:down
DROP TRIGGER IF EXISTS tools_version_bump ON tools;
DROP TRIGGER IF EXISTS messages_version_bump ON messages;
DROP TRIGGER IF EXISTS agents_version_bump ON agents;
DROP TRIGGER IF EXISTS swarms_version_bump ON swarms;
DROP FUNCTION IF EXISTS trellis_bump_version();
