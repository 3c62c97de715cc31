-- Cost attribution: who and what each usage record is for (plano cost, /plano/v1/usage
-- group_by key/user/team/tenant/agent/route): the virtual key's id and its principal's user,
-- team and tenant, the agent, the routing rule or route, and the trace. ``principal`` (0001)
-- stays: any principal's id, keys or not. Records written before this migration have NULLs.
-- Each index is partial (only records that carry the value) and ends with (ts, request_id),
-- as 0001's: a filtered page is read in order, a group's sums read one range.

-- dialect: sqlite
ALTER TABLE usage_records ADD COLUMN key_id TEXT;
ALTER TABLE usage_records ADD COLUMN user_id TEXT;
ALTER TABLE usage_records ADD COLUMN team TEXT;
ALTER TABLE usage_records ADD COLUMN tenant TEXT;
ALTER TABLE usage_records ADD COLUMN agent TEXT;
ALTER TABLE usage_records ADD COLUMN route TEXT;
ALTER TABLE usage_records ADD COLUMN trace_id TEXT;
CREATE INDEX IF NOT EXISTS usage_records_key ON usage_records (key_id, ts, request_id)
    WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_user ON usage_records (user_id, ts, request_id)
    WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_team ON usage_records (team, ts, request_id)
    WHERE team IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_tenant ON usage_records (tenant, ts, request_id)
    WHERE tenant IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_agent ON usage_records (agent, ts, request_id)
    WHERE agent IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_trace ON usage_records (trace_id)
    WHERE trace_id IS NOT NULL;

-- dialect: postgres
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS key_id text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS user_id text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS team text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS agent text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS route text;
ALTER TABLE usage_records ADD COLUMN IF NOT EXISTS trace_id text;
CREATE INDEX IF NOT EXISTS usage_records_key ON usage_records (key_id, ts, request_id)
    WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_user ON usage_records (user_id, ts, request_id)
    WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_team ON usage_records (team, ts, request_id)
    WHERE team IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_tenant ON usage_records (tenant, ts, request_id)
    WHERE tenant IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_agent ON usage_records (agent, ts, request_id)
    WHERE agent IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_trace ON usage_records (trace_id)
    WHERE trace_id IS NOT NULL;
