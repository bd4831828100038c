-- The jobs API's indexes, made to fit its query and to cost the worker less (issue 11, the
-- jobs benchmark). The list pages by id, newest first (UUIDv7 ids are in creation order), but
-- the indexes of 0012 were ordered by created_at, so a page was read through neither of them;
-- and every state change of a job (a claim, a completion: never HOT updates, since `state`
-- is in the fetch index's predicate) inserted an entry into both, half the index writes of a
-- job's life. Now:
-- - jobs_workspace_id_idx (workspace_id, id DESC): every page, unfiltered or filtered by a
--   common state (available, running, completed), newest first, stopping at the page's end;
-- - jobs_workspace_rare_state_idx: pages of the states a job seldom enters (scheduled,
--   retryable, cancelled, dead: the dead-letter queue), which a busy workspace's newest jobs
--   would otherwise have to be read past; a claim or a completion never writes to it.
-- migrate:up
CREATE INDEX jobs_workspace_id_idx ON jobs (workspace_id, id DESC);
CREATE INDEX jobs_workspace_rare_state_idx ON jobs (workspace_id, state, id DESC)
    WHERE state IN ('scheduled', 'retryable', 'cancelled', 'dead');
DROP INDEX jobs_workspace_idx;
DROP INDEX jobs_workspace_state_idx;

-- migrate:down
CREATE INDEX jobs_workspace_idx ON jobs (workspace_id, created_at DESC, id DESC);
CREATE INDEX jobs_workspace_state_idx ON jobs (workspace_id, state, created_at DESC, id DESC);
DROP INDEX jobs_workspace_rare_state_idx;
DROP INDEX jobs_workspace_id_idx;
