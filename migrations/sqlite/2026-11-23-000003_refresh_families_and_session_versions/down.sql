DROP INDEX users_refresh_family;
ALTER TABLE users DROP COLUMN session_version;
ALTER TABLE users DROP COLUMN refresh_token_rotated_at;
ALTER TABLE users DROP COLUMN previous_refresh_token_hash;
ALTER TABLE users DROP COLUMN refresh_family;
