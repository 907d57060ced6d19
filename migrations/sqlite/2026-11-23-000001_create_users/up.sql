-- Same version and meaning as migrations/postgres. Timestamps are TEXT in
-- Diesel's `YYYY-MM-DD HH:MM:SS.ffffff` UTC form, so they compare correctly
-- as text. AUTOINCREMENT: ids are never reused, as with SERIAL.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- SHA-256 (hex) of the current opaque refresh token; the token itself is never stored.
    refresh_token_hash TEXT UNIQUE,
    refresh_token_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CHECK ((refresh_token_hash IS NULL) = (refresh_token_expires_at IS NULL))
);
