-- The migrations ledger belongs to the role that runs `trellis migrate`. The owner's default
-- privileges gave the server role INSERT, UPDATE and DELETE on it along with every other
-- table, so a compromised server could forge, edit or erase the record of applied
-- migrations. Only the owner writes it now; reading it stays allowed.
-- migrate:up
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON trellis_migrations FROM PUBLIC;

DO $$
DECLARE
    grantee_role text;
BEGIN
    FOR grantee_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name = 'trellis_migrations'
          AND g.grantee NOT IN (current_user, 'PUBLIC')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON trellis_migrations FROM %I', grantee_role);
    END LOOP;
END
$$;

-- migrate:down
-- What the default privileges granted before: write access for every role that can read it.
DO $$
DECLARE
    grantee_role text;
BEGIN
    FOR grantee_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name = 'trellis_migrations'
          AND g.privilege_type = 'SELECT' AND g.grantee NOT IN (current_user, 'PUBLIC')
    LOOP
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON trellis_migrations TO %I', grantee_role);
    END LOOP;
END
$$;
