-- migrate:up
-- Where `retention: { archive_after: … }` moves a resource's old rows (issue 12): each row as
-- the JSON of its columns, by workspace and resource, under the same workspace isolation as
-- the tables it came from. Restore one with SQL, e.g.
--   INSERT INTO messages SELECT * FROM jsonb_populate_record(NULL::messages, (SELECT data FROM archived_rows WHERE …));
CREATE TABLE archived_rows (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    resource text NOT NULL CONSTRAINT archived_rows_resource_check CHECK (char_length(resource) BETWEEN 1 AND 100),
    id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    data jsonb NOT NULL,
    PRIMARY KEY (workspace_id, resource, id)
);
CREATE INDEX archived_rows_archived_at_idx ON archived_rows (workspace_id, resource, archived_at);

ALTER TABLE archived_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE archived_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY archived_rows_workspace_isolation ON archived_rows
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- migrate:down
DROP TABLE archived_rows;
