-- Recent traces the gateway keeps itself (plano trace, /plano/v1/traces): one row per part
-- of a trace one process recorded (a request and the hops it made); a trace continued by
-- another request (an agent calling back in) is another part of the same trace_id. Bounded
-- by count and age (tracing.recent). Spans are one JSON array per part: a trace is read
-- whole, never span by span. Never secrets: attributes are what tracing put there.

-- dialect: sqlite
CREATE TABLE IF NOT EXISTS trace_parts (
    trace_id TEXT NOT NULL,
    -- The part's top span (the request's own span).
    part_id TEXT NOT NULL,
    parent_id TEXT,
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    root_name TEXT NOT NULL,
    service TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    request_id TEXT,
    principal TEXT,
    route TEXT,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost TEXT,
    errors INTEGER NOT NULL DEFAULT 0,
    span_count INTEGER NOT NULL,
    spans TEXT NOT NULL,
    PRIMARY KEY (trace_id, part_id)
);
CREATE INDEX IF NOT EXISTS trace_parts_time ON trace_parts (started_at);

-- dialect: postgres
CREATE TABLE IF NOT EXISTS trace_parts (
    trace_id text NOT NULL,
    part_id text NOT NULL,
    parent_id text,
    started_at double precision NOT NULL,
    duration_ms double precision NOT NULL,
    root_name text NOT NULL,
    service text NOT NULL,
    status text NOT NULL,
    model text,
    request_id text,
    principal text,
    route text,
    tokens bigint NOT NULL DEFAULT 0,
    cost text,
    errors integer NOT NULL DEFAULT 0,
    span_count integer NOT NULL,
    spans text NOT NULL,
    PRIMARY KEY (trace_id, part_id)
);
CREATE INDEX IF NOT EXISTS trace_parts_time ON trace_parts (started_at);
