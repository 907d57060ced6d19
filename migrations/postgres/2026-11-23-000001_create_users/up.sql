-- Timestamps are TIMESTAMP holding UTC (not TIMESTAMPTZ) so the same schema
-- maps onto SQLite (migrations/sqlite) through Diesel's MultiConnection.
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- SHA-256 (hex) of the current opaque refresh token; the token itself is never stored.
    refresh_token_hash TEXT UNIQUE,
    refresh_token_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    CHECK ((refresh_token_hash IS NULL) = (refresh_token_expires_at IS NULL))
);
