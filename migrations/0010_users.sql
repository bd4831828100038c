-- People who log in (issue 10 item 4): a user belongs to one tenant workspace and holds
-- scopes like an API key; `POST /v1/auth/login` trades an email and password for a
-- session (`trs_…`, kept in Redis). Only a scrypt hash of the password is stored, as a
-- PHC string that carries its own salt and cost parameters, so the cost can rise later
-- without invalidating older hashes.
--
-- An email names at most one user across all workspaces (compared case-insensitively,
-- stored lower-cased), because login happens before the workspace is known.
-- migrate:up
CREATE TABLE users (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email text NOT NULL CONSTRAINT users_email_check CHECK (
        char_length(email) BETWEEN 3 AND 254 AND email = lower(email) AND email LIKE '%_@_%'),
    name text CONSTRAINT users_name_check CHECK (char_length(name) <= 200),
    password_hash text NOT NULL CONSTRAINT users_password_hash_check CHECK (password_hash LIKE '$scrypt$%'),
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    disabled_at timestamptz
);

CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE INDEX users_workspace_idx ON users (workspace_id, created_at DESC, id DESC);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;

CREATE POLICY users_workspace_isolation ON users
    USING (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid)
    WITH CHECK (workspace_id = (nullif(current_setting('trellis.workspace_id', true), ''))::uuid);

-- Login happens before the workspace is known: this returns one user's verifier by email,
-- and nothing else, to the server's role.
CREATE FUNCTION trellis_user_verifier(p_email text)
RETURNS TABLE (id uuid, workspace_id uuid, password_hash text, scopes text[], disabled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.workspace_id, u.password_hash, u.scopes, u.disabled_at FROM users u WHERE u.email = lower(p_email)
$$;

-- migrate:down
DROP FUNCTION trellis_user_verifier(text);
DROP TABLE users;
