-- Platform-admin keys belong to no tenant workspace (DESIGN.md §6, issue 7 item 1).
--
-- They live in the platform workspace, the all-zero id that already holds the audit
-- chain of failed authentications naming no key. No tenant credential can ever act in
-- it: API keys carry their own workspace, JWTs naming it are refused, and UUIDv7 ids
-- never collide with it. A key is in the platform workspace exactly when its scopes are
-- `{admin}`: the database refuses any other mix, so no tenant key can hold `admin`.
--
-- Existing keys holding `admin` move to the platform workspace with `{admin}` only: a
-- key that mixed tenant scopes with `admin` loses the tenant scopes (make a tenant key
-- for those). Their move is recorded in the platform audit chain.
-- migrate:up
INSERT INTO workspaces (id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'Platform')
    ON CONFLICT (id) DO NOTHING;

INSERT INTO audit_log (workspace_id, actor, credential_id, action, resource, resource_id, before, after)
SELECT '00000000-0000-0000-0000-000000000000', 'migration:0004', NULL, 'api_key.moved_to_platform', 'api-keys',
       k.id::text, jsonb_build_object('workspace_id', k.workspace_id, 'scopes', k.scopes),
       jsonb_build_object('workspace_id', '00000000-0000-0000-0000-000000000000', 'scopes', ARRAY['admin'])
FROM api_keys k
WHERE 'admin' = ANY (k.scopes) AND (k.workspace_id <> '00000000-0000-0000-0000-000000000000' OR k.scopes <> ARRAY['admin']);

UPDATE api_keys SET workspace_id = '00000000-0000-0000-0000-000000000000', scopes = ARRAY['admin'],
    updated_at = clock_timestamp()
WHERE 'admin' = ANY (scopes) AND (workspace_id <> '00000000-0000-0000-0000-000000000000' OR scopes <> ARRAY['admin']);

-- Tenant keys that somehow sit in the platform workspace lose their power.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp()), updated_at = clock_timestamp()
WHERE workspace_id = '00000000-0000-0000-0000-000000000000' AND scopes <> ARRAY['admin'];
UPDATE api_keys SET scopes = ARRAY['admin']
WHERE workspace_id = '00000000-0000-0000-0000-000000000000' AND scopes <> ARRAY['admin'];

ALTER TABLE api_keys ADD CONSTRAINT api_keys_platform_admin_check
    CHECK (CASE WHEN workspace_id = '00000000-0000-0000-0000-000000000000' THEN scopes = ARRAY['admin']::text[]
                ELSE NOT ('admin' = ANY (scopes)) END);

-- migrate:down
ALTER TABLE api_keys DROP CONSTRAINT api_keys_platform_admin_check;
