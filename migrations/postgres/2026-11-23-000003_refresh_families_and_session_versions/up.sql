-- Refresh-token reuse detection (RFC 9700 §4.14.2) and immediate revocation.
-- refresh_family: random id shared by every token of one login session; a
--   token of the family that is neither current nor the previous one within
--   the retry window is a stolen copy, and the family is revoked.
-- previous_refresh_token_hash / refresh_token_rotated_at: recognise the
--   immediately previous token during the retry window.
-- session_version: carried in access tokens and checked per request; bumped
--   by logout and theft detection so older access tokens stop at once.
ALTER TABLE users ADD COLUMN refresh_family TEXT;
ALTER TABLE users ADD COLUMN previous_refresh_token_hash TEXT;
ALTER TABLE users ADD COLUMN refresh_token_rotated_at TIMESTAMP;
ALTER TABLE users ADD COLUMN session_version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX users_refresh_family ON users (refresh_family);
-- Sessions from before this migration have no family: end them.
UPDATE users SET refresh_token_hash = NULL, refresh_token_expires_at = NULL;
