-- A row's `version` is its `get` ETag (DESIGN.md §5) and its `If-Match` precondition, so it
-- must move whenever the row changes. The service's UPDATE bumps it, but an update that no
-- handler writes left it as it was: a foreign key's `ON DELETE SET NULL` (agents.swarm_id,
-- messages.agent_id) cleared the column and kept the version, and a client holding the old
-- ETag got `304 Not Modified` for a row that had changed. Every resource table now has a
-- BEFORE UPDATE row trigger that bumps `version` and `updated_at` when the update left
-- `version` unchanged and changed a field the API shows. The WHEN clause keeps it off the
-- service's own updates, which bump the version already, and off rewrites of rows as they
-- are (the messages.reindex job's `SET content = content`, which only recomputes the stored
-- search vector). `trellis migrate plan` writes the trigger for new resource tables.
-- migrate:up
CREATE FUNCTION trellis_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER swarms_version_bump BEFORE UPDATE ON swarms FOR EACH ROW WHEN (NEW.version = OLD.version AND (NEW.name, NEW.description, NEW.goal, NEW.config, NEW.max_agents) IS DISTINCT FROM (OLD.name, OLD.description, OLD.goal, OLD.config, OLD.max_agents)) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER agents_version_bump BEFORE UPDATE ON agents FOR EACH ROW WHEN (NEW.version = OLD.version AND (NEW.name, NEW.role, NEW.system_prompt, NEW.model, NEW.temperature, NEW.is_active, NEW.swarm_id, NEW.tags, NEW.config, NEW.owner_email) IS DISTINCT FROM (OLD.name, OLD.role, OLD.system_prompt, OLD.model, OLD.temperature, OLD.is_active, OLD.swarm_id, OLD.tags, OLD.config, OLD.owner_email)) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER messages_version_bump BEFORE UPDATE ON messages FOR EACH ROW WHEN (NEW.version = OLD.version AND (NEW.swarm_id, NEW.agent_id, NEW.role, NEW.content, NEW.tokens) IS DISTINCT FROM (OLD.swarm_id, OLD.agent_id, OLD.role, OLD.content, OLD.tokens)) EXECUTE FUNCTION trellis_bump_version();

CREATE TRIGGER tools_version_bump BEFORE UPDATE ON tools FOR EACH ROW WHEN (NEW.version = OLD.version AND (NEW.name, NEW.description, NEW.input_schema, NEW.enabled) IS DISTINCT FROM (OLD.name, OLD.description, OLD.input_schema, OLD.enabled)) EXECUTE FUNCTION trellis_bump_version();

-- migrate:down
DROP TRIGGER IF EXISTS tools_version_bump ON tools;
DROP TRIGGER IF EXISTS messages_version_bump ON messages;
DROP TRIGGER IF EXISTS agents_version_bump ON agents;
DROP TRIGGER IF EXISTS swarms_version_bump ON swarms;
DROP FUNCTION IF EXISTS trellis_bump_version();
