-- A key scope for pulling the audit log (GET /api/v1/audit) and nothing else. Only owners and
-- admins give a key this scope (models.CreateKey checks it).
ALTER TYPE key_scope ADD VALUE 'audit:read';

-- The API's audit export reads a workspace's chain in seq order: audit_events_seq_key
-- (workspace_id, seq) serves it.
