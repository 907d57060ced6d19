-- Login and sign-up throttle budgets shared by every instance (src/throttle.rs,
-- src/db/throttle.rs). One row per key with failures or attempts in flight:
-- bucket_key: kind prefix + SHA-256 of the normalized email, or the client's
--   IP budget key (an IPv6 /64).
-- full_at: the GCRA moment the bucket is full again.
-- pending / pending_until: reservations of logins in flight, forgotten after
--   pending_until so that a crashed instance's reservations expire.
-- version: compare-and-swap counter; every write is
--   UPDATE ... WHERE bucket_key = ? AND version = ?.
CREATE TABLE throttle_buckets (
    bucket_key TEXT NOT NULL PRIMARY KEY,
    full_at TIMESTAMP NOT NULL,
    pending INTEGER NOT NULL DEFAULT 0,
    pending_until TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
