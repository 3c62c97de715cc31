-- The audit trail: one row per decision made about a request (auth, policies, budgets,
-- limits, guards) and one per admin action (a key created or revoked, a config reloaded).
-- Never secrets: keys appear by id only, guards record kinds, not values.

-- dialect: sqlite
CREATE TABLE IF NOT EXISTS audit_events (
    -- "<request id>/<n>" for a request's n-th decision; admin events have their own ids.
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    -- "request" or "admin".
    kind TEXT NOT NULL,
    request_id TEXT,
    trace_id TEXT,
    listener TEXT,
    principal TEXT,
    principal_kind TEXT,
    user_name TEXT,
    team TEXT,
    tenant TEXT,
    model_requested TEXT,
    -- The answering model, provider/model_id.
    model TEXT,
    status INTEGER,
    -- Who decided (auth, policy:<name>, budget, admin...) and what (allow, deny, key.create...).
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    rule TEXT,
    reason TEXT,
    -- What an admin action acted on (a key id).
    target TEXT,
    -- JSON object of anything else (never secrets).
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (ts, id);
CREATE INDEX IF NOT EXISTS audit_events_principal ON audit_events (principal, ts, id)
    WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events (action, ts, id);
CREATE INDEX IF NOT EXISTS audit_events_request ON audit_events (request_id)
    WHERE request_id IS NOT NULL;

-- dialect: postgres
CREATE TABLE IF NOT EXISTS audit_events (
    id text PRIMARY KEY,
    ts double precision NOT NULL,
    kind text NOT NULL,
    request_id text,
    trace_id text,
    listener text,
    principal text,
    principal_kind text,
    user_name text,
    team text,
    tenant text,
    model_requested text,
    model text,
    status integer,
    source text NOT NULL,
    action text NOT NULL,
    rule text,
    reason text,
    target text,
    detail jsonb
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (ts, id);
CREATE INDEX IF NOT EXISTS audit_events_principal ON audit_events (principal, ts, id)
    WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events (action, ts, id);
CREATE INDEX IF NOT EXISTS audit_events_request ON audit_events (request_id)
    WHERE request_id IS NOT NULL;
