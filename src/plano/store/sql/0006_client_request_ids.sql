-- The client's x-request-id beside the gateway's own request id, on usage records and audit
-- events. ``request_id`` (the usage log's key, ON CONFLICT DO NOTHING; the audit ids'
-- prefix) is always the gateway's unique id: a client repeating its id, or an agent's model
-- calls in one turn sharing the turn's id, no longer lose records.
-- ``/plano/v1/requests/{id}`` and ``/plano/v1/audit?request_id=`` find by either.
-- Rows written before this migration have NULL here (their request_id was the client's).

-- dialect: sqlite
ALTER TABLE usage_records ADD COLUMN client_request_id TEXT;
CREATE INDEX IF NOT EXISTS usage_records_client_request ON usage_records
    (client_request_id, ts) WHERE client_request_id IS NOT NULL;
ALTER TABLE audit_events ADD COLUMN client_request_id TEXT;
CREATE INDEX IF NOT EXISTS audit_events_client_request ON audit_events (client_request_id)
    WHERE client_request_id IS NOT NULL;

-- dialect: postgres
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS client_request_id text;
CREATE INDEX IF NOT EXISTS usage_records_client_request ON usage_records
    (client_request_id, ts) WHERE client_request_id IS NOT NULL;
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS client_request_id text;
CREATE INDEX IF NOT EXISTS audit_events_client_request ON audit_events (client_request_id)
    WHERE client_request_id IS NOT NULL;
