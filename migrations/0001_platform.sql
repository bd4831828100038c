-- Platform tables: workspaces own every tenant row.
-- migrate:up
CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name text NOT NULL CONSTRAINT workspaces_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE workspaces;
