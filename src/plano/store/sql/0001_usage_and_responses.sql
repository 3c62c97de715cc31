-- Usage records (the ledger) and, on PostgreSQL, Responses API state.
-- One file per migration: ``NNNN_name.sql`` with a section per dialect. Never edit a file once
-- released: add the next one (``plano db status`` flags an applied migration that changed).

-- dialect: sqlite
CREATE TABLE IF NOT EXISTS usage_records (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    shape TEXT NOT NULL DEFAULT '',
    model_requested TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    stream INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    usage_estimated INTEGER,
    -- The exact decimal string, as recorded.
    cost_usd TEXT,
    -- The same cost in 1e-12 USD: SQLite has no decimal type, and integers sum exactly.
    cost_pico INTEGER,
    total_ms REAL NOT NULL DEFAULT 0,
    overhead_ms REAL NOT NULL DEFAULT 0,
    ttft_ms REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    error TEXT,
    principal TEXT,
    session TEXT,
    -- JSON object of a record's fields that have no column (yet).
    extra TEXT
);
-- Each filter's index ends with (ts, request_id): a filtered page is read in order, newest
-- first from the cursor on, instead of sorting every matching record.
CREATE INDEX IF NOT EXISTS usage_records_time ON usage_records (ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_provider ON usage_records (provider, ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_model ON usage_records (model, ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_principal ON usage_records (principal, ts, request_id)
    WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_session ON usage_records (session, ts, request_id)
    WHERE session IS NOT NULL;
-- The table SQLiteResponseStore has always created (files made before migrations keep theirs).
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);

-- dialect: postgres
CREATE TABLE IF NOT EXISTS usage_records (
    request_id text PRIMARY KEY,
    ts double precision NOT NULL,
    shape text NOT NULL DEFAULT '',
    model_requested text NOT NULL DEFAULT '',
    provider text NOT NULL DEFAULT '',
    model text NOT NULL DEFAULT '',
    status integer NOT NULL,
    stream boolean NOT NULL DEFAULT false,
    input_tokens bigint,
    output_tokens bigint,
    cache_read_tokens bigint,
    cache_write_tokens bigint,
    reasoning_tokens bigint,
    usage_estimated boolean,
    cost_usd numeric,
    total_ms double precision NOT NULL DEFAULT 0,
    overhead_ms double precision NOT NULL DEFAULT 0,
    ttft_ms double precision,
    attempts integer NOT NULL DEFAULT 1,
    error text,
    principal text,
    session text,
    extra jsonb
);
-- Each filter's index ends with (ts, request_id): a filtered page is read in order, newest
-- first from the cursor on, instead of sorting every matching record.
CREATE INDEX IF NOT EXISTS usage_records_time ON usage_records (ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_provider ON usage_records (provider, ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_model ON usage_records (model, ts, request_id);
CREATE INDEX IF NOT EXISTS usage_records_principal ON usage_records (principal, ts, request_id)
    WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_session ON usage_records (session, ts, request_id)
    WHERE session IS NOT NULL;
CREATE TABLE IF NOT EXISTS responses (
    id text PRIMARY KEY,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    previous_id text,
    record bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
