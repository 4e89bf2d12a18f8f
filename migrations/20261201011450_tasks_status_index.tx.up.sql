-- tasks_workspace_status_idx (workspace_id, status) served no query: under row-level security an
-- enum comparison is not leakproof, so status can never be its index condition, and what is left
-- (workspace_id) leads the primary key too. A status is read through its partial index
-- (tasks_<status>_id_idx), whose predicate the query implies. Every task start and completion
-- wrote an entry into it (a status change is never a HOT update); now they do not.
DROP INDEX tasks_workspace_status_idx;
