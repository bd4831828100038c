-- migrate:up
ALTER TABLE swarms ENABLE ROW LEVEL SECURITY;

ALTER TABLE swarms FORCE ROW LEVEL SECURITY;

CREATE POLICY swarms_workspace_isolation ON swarms USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;

ALTER TABLE agents FORCE ROW LEVEL SECURITY;

CREATE POLICY agents_workspace_isolation ON agents USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;

ALTER TABLE messages FORCE ROW LEVEL SECURITY;

CREATE POLICY messages_workspace_isolation ON messages USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

ALTER TABLE tools ENABLE ROW LEVEL SECURITY;

ALTER TABLE tools FORCE ROW LEVEL SECURITY;

CREATE POLICY tools_workspace_isolation ON tools USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- migrate:down
DROP POLICY IF EXISTS tools_workspace_isolation ON tools;
ALTER TABLE tools NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tools DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS messages_workspace_isolation ON messages;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE messages DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS agents_workspace_isolation ON agents;
ALTER TABLE agents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE agents DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS swarms_workspace_isolation ON swarms;
ALTER TABLE swarms NO FORCE ROW LEVEL SECURITY;
ALTER TABLE swarms DISABLE ROW LEVEL SECURITY;
