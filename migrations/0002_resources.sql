-- migrate:up
CREATE TABLE swarms (
    id uuid NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1,
    name text NOT NULL CONSTRAINT swarms_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    description text CONSTRAINT swarms_description_check CHECK (char_length(description) <= 2000),
    goal text CONSTRAINT swarms_goal_check CHECK (char_length(goal) <= 20000),
    config jsonb,
    max_agents bigint NOT NULL DEFAULT 10 CONSTRAINT swarms_max_agents_check CHECK (max_agents >= 1 AND max_agents <= 100),
    search_vector tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(goal, '')), 'B')) STORED,
    CONSTRAINT swarms_pkey PRIMARY KEY (id),
    CONSTRAINT swarms_workspace_id_id_key UNIQUE (workspace_id, id)
);

CREATE INDEX swarms_search_vector_idx ON swarms USING gin (search_vector);

CREATE INDEX swarms_created_at_sort_idx ON swarms (workspace_id, created_at DESC, id DESC);

CREATE INDEX swarms_name_sort_idx ON swarms (workspace_id, name DESC, id DESC);

ALTER TABLE swarms ENABLE ROW LEVEL SECURITY;

ALTER TABLE swarms FORCE ROW LEVEL SECURITY;

CREATE POLICY swarms_workspace_isolation ON swarms USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

CREATE TABLE agents (
    id uuid NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1,
    name text NOT NULL CONSTRAINT agents_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    role text CONSTRAINT agents_role_check CHECK (char_length(role) <= 100),
    system_prompt text CONSTRAINT agents_system_prompt_check CHECK (char_length(system_prompt) <= 20000),
    model text NOT NULL DEFAULT 'claude' CONSTRAINT agents_model_check CHECK (model IN ('claude', 'gpt', 'gemini')),
    temperature double precision NOT NULL DEFAULT 0.7 CONSTRAINT agents_temperature_check CHECK (temperature >= 0 AND temperature <= 2),
    is_active boolean NOT NULL DEFAULT true,
    swarm_id uuid,
    tags text[] CONSTRAINT agents_tags_check CHECK (cardinality(tags) <= 20),
    config jsonb,
    owner_email text,
    search_vector tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(role, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(system_prompt, '')), 'C')) STORED,
    CONSTRAINT agents_pkey PRIMARY KEY (id),
    CONSTRAINT agents_workspace_id_id_key UNIQUE (workspace_id, id)
);

CREATE INDEX agents_swarm_id_fkey_idx ON agents (workspace_id, swarm_id);

CREATE INDEX agents_search_vector_idx ON agents USING gin (search_vector);

CREATE INDEX agents_created_at_sort_idx ON agents (workspace_id, created_at DESC, id DESC);

CREATE INDEX agents_name_sort_idx ON agents (workspace_id, name DESC, id DESC);

CREATE INDEX agents_is_active_created_at_idx ON agents (workspace_id, is_active, created_at DESC) WHERE is_active;

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;

ALTER TABLE agents FORCE ROW LEVEL SECURITY;

CREATE POLICY agents_workspace_isolation ON agents USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

CREATE TABLE messages (
    id uuid NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1,
    swarm_id uuid NOT NULL,
    agent_id uuid,
    role text NOT NULL CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content text NOT NULL CONSTRAINT messages_content_check CHECK (char_length(content) <= 100000),
    tokens bigint NOT NULL DEFAULT 0 CONSTRAINT messages_tokens_check CHECK (tokens >= 0),
    search_vector tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'A')) STORED,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_workspace_id_id_key UNIQUE (workspace_id, id)
);

CREATE INDEX messages_swarm_id_fkey_idx ON messages (workspace_id, swarm_id);

CREATE INDEX messages_agent_id_fkey_idx ON messages (workspace_id, agent_id);

CREATE INDEX messages_search_vector_idx ON messages USING gin (search_vector);

CREATE INDEX messages_created_at_sort_idx ON messages (workspace_id, created_at DESC, id DESC);

CREATE INDEX messages_swarm_id_created_at_idx ON messages (workspace_id, swarm_id, created_at DESC);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;

ALTER TABLE messages FORCE ROW LEVEL SECURITY;

CREATE POLICY messages_workspace_isolation ON messages USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

CREATE TABLE tools (
    id uuid NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 1,
    name text NOT NULL CONSTRAINT tools_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
    description text CONSTRAINT tools_description_check CHECK (char_length(description) <= 10000),
    input_schema jsonb,
    enabled boolean NOT NULL DEFAULT true,
    CONSTRAINT tools_pkey PRIMARY KEY (id),
    CONSTRAINT tools_workspace_id_id_key UNIQUE (workspace_id, id),
    CONSTRAINT tools_name_key UNIQUE (workspace_id, name)
);

CREATE INDEX tools_created_at_sort_idx ON tools (workspace_id, created_at DESC, id DESC);

CREATE INDEX tools_name_sort_idx ON tools (workspace_id, name DESC, id DESC);

ALTER TABLE tools ENABLE ROW LEVEL SECURITY;

ALTER TABLE tools FORCE ROW LEVEL SECURITY;

CREATE POLICY tools_workspace_isolation ON tools USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid) WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

ALTER TABLE agents ADD CONSTRAINT agents_swarm_id_fkey FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE SET NULL (swarm_id);

ALTER TABLE messages ADD CONSTRAINT messages_swarm_id_fkey FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE CASCADE;

ALTER TABLE messages ADD CONSTRAINT messages_agent_id_fkey FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE SET NULL (agent_id);

-- migrate:down
DROP TABLE IF EXISTS tools CASCADE;
DROP TABLE IF EXISTS messages CASCADE;
DROP TABLE IF EXISTS agents CASCADE;
DROP TABLE IF EXISTS swarms CASCADE;
