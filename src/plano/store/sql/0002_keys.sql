-- Virtual keys made through the admin API (static keys live in the config, never here).
-- Only a SHA-256 digest of each key is stored: keys are 256-bit random tokens, so a fast
-- hash cannot be searched; the plaintext is shown once, at creation.

-- dialect: sqlite
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    -- Hex SHA-256 of the whole key ("pk-...").
    key_hash TEXT NOT NULL UNIQUE,
    -- The key's last characters, to tell keys apart in listings.
    hint TEXT NOT NULL,
    name TEXT,
    user_name TEXT,
    team TEXT,
    tenant TEXT,
    -- JSON object: tags, models, agents, budgets, rate_limits.
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_name, created_at, id)
    WHERE user_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_keys_team ON api_keys (team, created_at, id)
    WHERE team IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_keys_created ON api_keys (created_at, id);

-- dialect: postgres
CREATE TABLE IF NOT EXISTS api_keys (
    id text PRIMARY KEY,
    key_hash text NOT NULL UNIQUE,
    hint text NOT NULL,
    name text,
    user_name text,
    team text,
    tenant text,
    spec jsonb NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    revoked_at double precision
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_name, created_at, id)
    WHERE user_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_keys_team ON api_keys (team, created_at, id)
    WHERE team IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_keys_created ON api_keys (created_at, id);
